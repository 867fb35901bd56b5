import { describe, expect, it } from "vitest";
import { TermsError, checkTerms, compileTerms, loadTemplate } from "../../../policies/index.js";
import type { TermsProblem } from "../../../policies/index.js";

const ok = { id: "ok", effect: "permit", fields: ["name"] };
const check = (document: unknown) => checkTerms(document as never);

/** [what is wrong, the rule as written (placed second, after a good one), expected problem]. */
const badRules: [string, Record<string, unknown>, Omit<Partial<TermsProblem>, "message"> & { message: RegExp }][] = [
  ["unknown purpose", { id: "spy", effect: "permit", fields: ["name"], purposes: ["fulfillment", "spying"] }, { rule: "spy", pointer: "/rules/1/purposes/1", message: /unknown purpose "spying"/ }],
  ["purpose listed twice", { id: "twice", effect: "permit", fields: ["name"], purposes: ["support", "support"] }, { rule: "twice", pointer: "/rules/1/purposes/1", message: /listed twice/ }],
  ["no purposes at all", { id: "none", effect: "permit", fields: ["name"], purposes: [] }, { rule: "none", pointer: "/rules/1/purposes", message: /list of 1 to 12 purposes/ }],
  ["malformed path", { id: "dots", effect: "permit", fields: ["name", "addresses..home"] }, { rule: "dots", pointer: "/rules/1/fields/1", message: /malformed field path.*empty segment/ }],
  ["reserved path name", { id: "proto", effect: "deny", fields: ["custom.constructor"] }, { rule: "proto", pointer: "/rules/1/fields/0", message: /reserved name/ }],
  ["path into an array", { id: "lines", effect: "permit", fields: ["addresses.home.lines.0"] }, { rule: "lines", pointer: "/rules/1/fields/0", message: /must start with a letter/ }],
  ["double wildcard", { id: "deep", effect: "permit", fields: ["preferences.**"] }, { rule: "deep", pointer: "/rules/1/fields/0", message: /'\*\*' is not supported/ }],
  ["path not a string", { id: "num", effect: "permit", fields: [7] }, { rule: "num", pointer: "/rules/1/fields/0", message: /expected a string/ }],
  ["path listed twice", { id: "dup", effect: "permit", fields: ["name", "name"] }, { rule: "dup", pointer: "/rules/1/fields/1", message: /listed twice/ }],
  ["fields not a list", { id: "str", effect: "permit", fields: "name" }, { rule: "str", pointer: "/rules/1/fields", message: /list of 1 to 64 field paths/ }],
  ["too many fields", { id: "many", effect: "permit", fields: Array.from({ length: 65 }, (_, i) => `custom.f${i}`) }, { rule: "many", pointer: "/rules/1/fields", message: /1 to 64/ }],
  ["malformed category", { id: "cat", effect: "permit", needs: { categories: ["Home/Furniture"] } }, { rule: "cat", pointer: "/rules/1/needs/categories/0", message: /malformed need category/ }],
  ["category too deep", { id: "deepcat", effect: "permit", needs: { categories: ["a/b/c/d/e"] } }, { rule: "deepcat", pointer: "/rules/1/needs/categories/0", message: /malformed need category/ }],
  ["needs not an object", { id: "needs", effect: "permit", needs: ["home"] }, { rule: "needs", pointer: "/rules/1/needs", message: /needs must be an object/ }],
  ["needs with an unknown key", { id: "needs2", effect: "permit", needs: { categories: ["home"], budget: 10 } }, { rule: "needs2", pointer: "/rules/1/needs/budget", message: /unknown property "budget"/ }],
  ["empty rule", { id: "empty", effect: "permit", purposes: ["support"] }, { rule: "empty", pointer: "/rules/1", message: /must name fields, needs or both/ }],
  ["negative retention", { id: "neg", effect: "permit", fields: ["name"], duties: { maxRetentionDays: -1 } }, { rule: "neg", pointer: "/rules/1/duties/maxRetentionDays", message: /from 0 to 3650, not -1/ }],
  ["retention beyond ten years", { id: "long", effect: "permit", fields: ["name"], duties: { maxRetentionDays: 3651 } }, { rule: "long", pointer: "/rules/1/duties/maxRetentionDays", message: /from 0 to 3650/ }],
  ["fractional retention", { id: "frac", effect: "permit", fields: ["name"], duties: { maxRetentionDays: 1.5 } }, { rule: "frac", pointer: "/rules/1/duties/maxRetentionDays", message: /whole number/ }],
  ["retention as text", { id: "text", effect: "permit", fields: ["name"], duties: { maxRetentionDays: "30" } }, { rule: "text", pointer: "/rules/1/duties/maxRetentionDays", message: /whole number/ }],
  ["grant that expires at once", { id: "zero", effect: "permit", fields: ["name"], duties: { grantExpiryDays: 0 } }, { rule: "zero", pointer: "/rules/1/duties/grantExpiryDays", message: /from 1 to 3650, not 0/ }],
  ["no reads allowed", { id: "reads", effect: "permit", fields: ["name"], duties: { maxReadsPerDay: 0 } }, { rule: "reads", pointer: "/rules/1/duties/maxReadsPerDay", message: /from 1 to 1000000/ }],
  ["too many reads", { id: "reads2", effect: "permit", fields: ["name"], duties: { maxReadsPerDay: 1_000_001 } }, { rule: "reads2", pointer: "/rules/1/duties/maxReadsPerDay", message: /from 1 to 1000000/ }],
  ["boolean duty as text", { id: "bool", effect: "permit", fields: ["name"], duties: { noProfiling: "yes" } }, { rule: "bool", pointer: "/rules/1/duties/noProfiling", message: /true or false/ }],
  ["unknown duty", { id: "duty", effect: "permit", fields: ["name"], duties: { payMe: true } }, { rule: "duty", pointer: "/rules/1/duties/payMe", message: /unknown duty "payMe"/ }],
  ["duties not an object", { id: "duties", effect: "permit", fields: ["name"], duties: [] }, { rule: "duties", pointer: "/rules/1/duties", message: /duties must be an object/ }],
  ["duties on a deny rule", { id: "deny-duty", effect: "deny", fields: ["name"], duties: { maxRetentionDays: 3 } }, { rule: "deny-duty", pointer: "/rules/1/duties", message: /deny rule has no duties/ }],
  ["a deny rule that asks", { id: "deny-ask", effect: "deny", fields: ["name"], approval: "ask" }, { rule: "deny-ask", pointer: "/rules/1/approval", message: /cannot ask/ }],
  ["unknown approval", { id: "maybe", effect: "permit", fields: ["name"], approval: "maybe" }, { rule: "maybe", pointer: "/rules/1/approval", message: /"auto" or "ask"/ }],
  ["unknown effect", { id: "allow", effect: "allow", fields: ["name"] }, { rule: "allow", pointer: "/rules/1/effect", message: /"permit" or "deny"/ }],
  ["duplicate id", { id: "ok", effect: "deny", fields: ["emails"] }, { rule: "ok", pointer: "/rules/1/id", message: /already used by rule 0/ }],
  ["id with capitals", { id: "Ship", effect: "permit", fields: ["name"] }, { rule: "Ship", pointer: "/rules/1/id", message: /lower-case/ }],
  ["id too long", { id: `a${"b".repeat(64)}`, effect: "permit", fields: ["name"] }, { pointer: "/rules/1/id", message: /1 to 64/ }],
  ["unknown rule property", { id: "extra", effect: "permit", fields: ["name"], until: "2027" }, { rule: "extra", pointer: "/rules/1/until", message: /unknown property "until"/ }],
  ["long description", { id: "essay", effect: "permit", fields: ["name"], description: "x".repeat(501) }, { rule: "essay", pointer: "/rules/1/description", message: /at most 500/ }],
  ["vendors any false", { id: "anyf", effect: "permit", fields: ["name"], vendors: { any: false } }, { rule: "anyf", pointer: "/rules/1/vendors/any", message: /any must be true/ }],
  ["two vendor selectors", { id: "two", effect: "permit", fields: ["name"], vendors: { any: true, ids: [] } }, { rule: "two", pointer: "/rules/1/vendors", message: /exactly one of/ }],
  ["vendors not an object", { id: "vstr", effect: "permit", fields: ["name"], vendors: "acme" }, { rule: "vstr", pointer: "/rules/1/vendors", message: /exactly one of/ }],
  ["unknown vendor selector", { id: "vname", effect: "permit", fields: ["name"], vendors: { names: ["acme"] } }, { rule: "vname", pointer: "/rules/1/vendors/names", message: /unknown property "names"/ }],
  ["vendor id not a uuid", { id: "vid", effect: "permit", fields: ["name"], vendors: { ids: ["acme"] } }, { rule: "vid", pointer: "/rules/1/vendors/ids/0", message: /UUID/ }],
  ["no vendor ids", { id: "vids", effect: "permit", fields: ["name"], vendors: { ids: [] } }, { rule: "vids", pointer: "/rules/1/vendors/ids", message: /1 to 100 vendor ids/ }],
  ["single-label domain", { id: "local", effect: "permit", fields: ["name"], vendors: { domains: ["localhost"] } }, { rule: "local", pointer: "/rules/1/vendors/domains/0", message: /host name/ }],
  ["domain with a scheme", { id: "url", effect: "permit", fields: ["name"], vendors: { domains: ["https://shop.example"] } }, { rule: "url", pointer: "/rules/1/vendors/domains/0", message: /host name/ }],
  ["upper-case domain", { id: "caps", effect: "permit", fields: ["name"], vendors: { domains: ["Shop.Example"] } }, { rule: "caps", pointer: "/rules/1/vendors/domains/0", message: /lower-case/ }],
];

describe("checkTerms refuses bad terms, naming the offending rule", () => {
  it.each(badRules)("%s", (_what, rule, expected) => {
    const result = check({ rules: [ok, rule] });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const { message, ...rest } = expected;
    expect(result.errors).toContainEqual(expect.objectContaining({ ...rest, message: expect.stringMatching(message) }));
    // Only the bad rule is blamed.
    for (const error of result.errors) expect(error.pointer.startsWith("/rules/1")).toBe(true);
  });

  it("accepts good terms, and a title that is undefined", () => {
    expect(check({ rules: [ok] })).toEqual({ ok: true });
    expect(check({ rules: [] })).toEqual({ ok: true });
    expect(check({ title: undefined, rules: [ok, { id: "deny-auto", effect: "deny", fields: ["emails"], approval: "auto" }] })).toEqual({ ok: true });
  });

  it("reports every problem, not just the first", () => {
    const result = check({ rules: [{ id: "a", effect: "permit", fields: ["x..y"], purposes: ["spying"], duties: { maxRetentionDays: -3 } }] });
    expect(result.ok === false && result.errors.map((e) => e.pointer)).toEqual(["/rules/0/fields/0", "/rules/0/purposes/0", "/rules/0/duties/maxRetentionDays"]);
  });

  it.each([
    ["not an object", 42, "", /must be an object/],
    ["null", null, "", /must be an object/],
    ["no rules", {}, "/rules", /rules must be an array/],
    ["too many rules", { rules: Array.from({ length: 101 }, (_, i) => ({ id: `r${i}`, effect: "permit", fields: ["name"] })) }, "/rules", /at most 100/],
    ["unknown top-level key", { rules: [], version: 3 }, "/version", /unknown property "version"/],
    ["escaped pointer", { rules: [], "a/b~c": 1 }, "/a~1b~0c", /unknown property/],
    ["empty title", { title: "", rules: [] }, "/title", /title must be text/],
    ["a rule that is not an object", { rules: ["permit"] }, "/rules/0", /a rule must be an object/],
    ["a rule without an id", { rules: [{ effect: "permit", fields: ["name"] }] }, "/rules/0/id", /needs an id/],
  ])("refuses a document that is %s", (_what, document, pointer, message) => {
    const result = check(document);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors).toContainEqual({ rule: null, pointer, message: expect.stringMatching(message) });
  });
});

describe("compileTerms and loadTemplate refuse what checkTerms refuses", () => {
  it("throws a TermsError carrying the problems", () => {
    let thrown: unknown;
    try {
      compileTerms({ rules: [{ id: "x", effect: "permit", fields: ["a..b"] }] }, 1);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TermsError);
    expect((thrown as TermsError).errors).toEqual([expect.objectContaining({ rule: "x", pointer: "/rules/0/fields/0" })]);
    expect((thrown as TermsError).message).toMatch(/^Invalid terms: \/rules\/0\/fields\/0: malformed field path/);
    expect(() => compileTerms(null as never, 1)).toThrow(/Invalid terms: \/: terms must be an object/);
  });

  it("throws a RangeError for a version that is not a whole number >= 0", () => {
    expect(() => compileTerms({ rules: [] }, -1)).toThrow(RangeError);
    expect(() => compileTerms({ rules: [] }, 1.5)).toThrow(RangeError);
    expect(compileTerms({ rules: [] }, 0).version).toBe(0);
  });

  it("loadTemplate checks id, title, description and terms", () => {
    const terms = { rules: [ok] };
    expect(loadTemplate({ id: "mine", title: "Mine", description: "My own.", terms }).id).toBe("mine");
    expect(Object.isFrozen(loadTemplate({ id: "mine", title: "Mine", description: "My own.", terms }).terms.rules[0])).toBe(true);
    expect(() => loadTemplate(null)).toThrow(/\/id: a template needs an id/);
    expect(() => loadTemplate({ id: "Bad id", title: "t", description: "d", terms })).toThrow(/a template needs an id/);
    expect(() => loadTemplate({ id: "mine", title: "", description: "d", terms })).toThrow(/\/title: a template needs a title/);
    expect(() => loadTemplate({ id: "mine", title: "t", terms })).toThrow(/\/description: a template needs a description/);
    expect(() => loadTemplate({ id: "mine", title: "t", description: "d", terms: { rules: [{ id: "x", effect: "permit" }] } })).toThrow(
      /\/terms\/rules\/0: a rule must name fields/,
    );
  });
});
