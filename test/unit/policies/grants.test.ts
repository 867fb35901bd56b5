import { describe, expect, it } from "vitest";
import {
  PathSyntaxError,
  compileTerms,
  evaluate,
  grantedCategories,
  grantedPaths,
  narrowCategories,
  narrowGrant,
  redact,
} from "../../../policies/index.js";
import type { Evaluation, Rule, VendorRequest } from "../../../policies/index.js";

const vendor = { id: "0b6f7c1e-4a53-4d8e-9a43-5c2f0f0d2a11", homepage: "https://shop.example" };
const profile = {
  name: { given: "Ada", family: "Lovelace" },
  emails: { personal: "ada@example.org", work: "ada@analytical.example" },
  addresses: {
    home: { lines: ["12 St James's Square"], locality: "London", country: "GB" },
    work: { lines: ["Analytical Engine Works"], locality: "London", country: "GB" },
  },
  birthDate: "1815-12-10",
};

const rules: Rule[] = [
  { id: "names", effect: "permit", fields: ["name"] },
  { id: "addresses", effect: "permit", fields: ["addresses.*.country", "addresses.home"] },
  { id: "ask-emails", effect: "permit", fields: ["emails"], approval: "ask" },
  { id: "books", effect: "permit", needs: { categories: ["books"] } },
  { id: "ask-home", effect: "permit", needs: { categories: ["home"] }, approval: "ask" },
];
const request: VendorRequest = {
  fields: [
    { path: "name", purpose: "account", required: true, retentionDays: 30 },
    { path: "addresses.*.country", purpose: "delivery", required: true, retentionDays: 30 },
    { path: "emails.work", purpose: "support", required: false, retentionDays: 30 },
    { path: "birthDate", purpose: "account", required: false, retentionDays: 30 },
    { path: "name", purpose: "support", required: false, retentionDays: 30 },
  ],
  needs: { categories: ["books/novels", "home", "sports"], purpose: "offers", retentionDays: 30, required: false },
};
const evaluation = evaluate(compileTerms({ rules }, 1), request, vendor);

describe("grantedPaths and grantedCategories", () => {
  it("list the permitted items once, in request order; asking ones on request", () => {
    expect(evaluation.outcome).toBe("pending");
    expect(grantedPaths(evaluation, { includeAsk: false })).toEqual(["name", "addresses.*.country"]);
    expect(grantedPaths(evaluation, { includeAsk: true })).toEqual(["name", "addresses.*.country", "emails.work"]);
    expect(grantedCategories(evaluation, { includeAsk: false })).toEqual(["books/novels"]);
    expect(grantedCategories(evaluation, { includeAsk: true })).toEqual(["books/novels", "home"]);
  });

  it("grant nothing for a rejected evaluation, and no categories without needs", () => {
    const rejected = evaluate(compileTerms({ rules }, 1), { ...request, fields: [...request.fields, { path: "phones", purpose: "support", required: true, retentionDays: 1 }] }, vendor);
    expect(rejected.outcome).toBe("rejected");
    expect(grantedPaths(rejected, { includeAsk: true })).toEqual([]);
    expect(grantedCategories(rejected, { includeAsk: true })).toEqual([]);
    const fieldsOnly = evaluate(compileTerms({ rules }, 1), { fields: request.fields }, vendor);
    expect(grantedCategories(fieldsOnly, { includeAsk: true })).toEqual([]);
  });
});

describe("redact", () => {
  it("returns exactly the granted fields of a profile", () => {
    expect(redact(profile, grantedPaths(evaluation, { includeAsk: false }))).toEqual({
      name: { given: "Ada", family: "Lovelace" },
      addresses: { home: { country: "GB" }, work: { country: "GB" } },
    });
    expect(redact(profile, grantedPaths(evaluation, { includeAsk: true }))).toEqual({
      name: { given: "Ada", family: "Lovelace" },
      addresses: { home: { country: "GB" }, work: { country: "GB" } },
      emails: { work: "ada@analytical.example" },
    });
  });

  it("shares nothing with the profile it copies, and gives {} for no paths or no profile", () => {
    const out = redact(profile, ["addresses.home"]);
    (out.addresses as { home: { lines: string[] } }).home.lines.push("mutated");
    expect(profile.addresses.home.lines).toEqual(["12 St James's Square"]);
    expect(redact(profile, [])).toEqual({});
    expect(redact(null, ["name"])).toEqual({});
  });

  it("reuses compiled selectors, and refuses a path that does not parse", () => {
    for (let i = 0; i < 1100; i++) expect(redact(profile, [`custom.k${i}`])).toEqual({});
    expect(redact(profile, ["birthDate"])).toEqual({ birthDate: "1815-12-10" });
    expect(redact(profile, ["birthDate"])).toEqual({ birthDate: "1815-12-10" });
    expect(() => redact(profile, ["addresses..home"])).toThrow(PathSyntaxError);
  });
});

describe("narrowGrant", () => {
  const fields = (...paths: string[]): Evaluation => ({
    termsVersion: 2,
    outcome: "active",
    fields: paths.map((path) => ({ path, purpose: "support", required: false, decision: "permit", rule: "r", reason: "", code: "permitted" })),
    duties: {},
    explanation: [],
  });

  it("keeps what the new terms still grant, asking included", () => {
    expect(narrowGrant(["name", "emails.work", "birthDate"], evaluation)).toEqual(["name", "emails.work"]);
    expect(narrowGrant(["emails"], evaluation)).toEqual(["emails.work"]);
  });

  it("never widens: the part of each old path that a new path covers", () => {
    expect(narrowGrant(["addresses"], fields("addresses.home", "emails"))).toEqual(["addresses.home"]);
    expect(narrowGrant(["addresses.home"], fields("addresses"))).toEqual(["addresses.home"]);
    expect(narrowGrant(["addresses.*.country"], fields("*.home"))).toEqual(["addresses.home.country"]);
    expect(narrowGrant(["name"], fields("emails"))).toEqual([]);
    expect(narrowGrant([], fields("*"))).toEqual([]);
  });

  it("lists each part once, leaving out parts that others cover", () => {
    expect(narrowGrant(["addresses", "addresses.home"], fields("addresses"))).toEqual(["addresses"]);
    expect(narrowGrant(["addresses.home", "addresses.home"], fields("*"))).toEqual(["addresses.home"]);
    expect(narrowGrant(["addresses.home"], fields("addresses", "addresses.home", "*"))).toEqual(["addresses.home"]);
  });

  it("drops everything when the new evaluation is rejected", () => {
    expect(narrowGrant(["name"], { ...fields("name"), outcome: "rejected" })).toEqual([]);
  });

  it("narrows need categories the same way", () => {
    expect(narrowCategories(["books", "home/garden", "sports"], evaluation)).toEqual(["books/novels", "home/garden"]);
    expect(() => narrowCategories(["Books"], evaluation)).toThrow(/Invalid need category "Books"/);
  });
});
