import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ODRL_PROFILE, PURPOSES, TEMPLATES, dpvPurpose, publicTerms, toOdrl } from "../../../policies/index.js";
import type { TermsInput } from "../../../policies/index.js";
import { anyTerms } from "./arbitraries.js";

const secret = "do not tell anyone: I owe them money";
const terms: TermsInput = {
  title: "My private title",
  rules: [
    { id: "never-marketing", description: secret, effect: "deny", fields: ["*"], needs: { categories: ["*"] }, purposes: ["marketing", "analytics"], approval: "auto" },
    {
      id: "ship",
      description: secret,
      effect: "permit",
      fields: ["name", "addresses.*"],
      purposes: ["delivery", "fulfillment"],
      duties: { maxRetentionDays: 30, noThirdPartySharing: true, noProfiling: true, deleteOnRevoke: true, grantExpiryDays: 90, maxReadsPerDay: 24 },
    },
    { id: "acme-only", effect: "permit", fields: ["*"], vendors: { ids: ["0b6f7c1e-4a53-4d8e-9a43-5c2f0f0d2a11"] } },
    { id: "velo-only", effect: "deny", fields: ["phones"], vendors: { domains: ["velo.example"] } },
    { id: "anyone", effect: "permit", needs: { categories: ["books"] }, vendors: { any: true }, approval: "ask", duties: {} },
  ],
};
const uid = "https://proffer.example/v1/people/ada/terms?format=odrl";
const assigner = "https://proffer.example/v1/people/ada";

describe("publicTerms", () => {
  const view = publicTerms(terms, 4);

  it("shows the rules for any vendor as offers and refusals, by id", () => {
    expect(view).toEqual({
      version: 4,
      default: "deny",
      rules: [
        { id: "never-marketing", effect: "deny", fields: ["*"], needs: { categories: ["*"] }, purposes: ["marketing", "analytics"] },
        {
          id: "ship",
          effect: "permit",
          fields: ["name", "addresses.*"],
          purposes: ["delivery", "fulfillment"],
          duties: { maxRetentionDays: 30, noThirdPartySharing: true, noProfiling: true, deleteOnRevoke: true, grantExpiryDays: 90, maxReadsPerDay: 24 },
          approval: "auto",
        },
        { id: "anyone", effect: "permit", needs: { categories: ["books"] }, approval: "ask" },
      ],
    });
  });

  it("keeps private: rules naming vendors, descriptions, the title", () => {
    const text = JSON.stringify(view);
    for (const hidden of [secret, "My private title", "acme-only", "velo-only", "velo.example", "0b6f7c1e"]) expect(text).not.toContain(hidden);
  });

  it("copies, so changing the view never changes the terms", () => {
    const copy = publicTerms(terms, 4);
    copy.rules[1]?.fields?.push("birthDate");
    (copy.rules[1]?.duties as { maxRetentionDays: number }).maxRetentionDays = 9;
    expect(terms.rules[1]?.fields).toEqual(["name", "addresses.*"]);
    expect(terms.rules[1]?.duties?.maxRetentionDays).toBe(30);
  });
});

const ODRL_LEFT_OPERANDS = new Set(["purpose", "elapsedTime", "count", "event"]);
const ODRL_OPERATORS = new Set(["eq", "gt", "gteq", "lt", "lteq", "neq", "isA", "hasPart", "isPartOf", "isAllOf", "isAnyOf", "isNoneOf"]);
const ODRL_ACTIONS = new Set(["use", "distribute", "delete", "obtainConsent"]);

type Node = Record<string, unknown>;

/** The ODRL 2.2 shape this module promises: every rule has a target IRI and an action; constraints are well-formed. */
function checkOdrlShape(policy: Node): void {
  expect(policy["@context"]).toBe("http://www.w3.org/ns/odrl.jsonld");
  expect(["Offer", "Set"]).toContain(policy["@type"]);
  expect(policy.profile).toBe(ODRL_PROFILE);
  expect(policy.conflict).toBe("prohibit");
  const rules = [...(policy.permission as Node[]), ...(policy.prohibition as Node[])];
  expect(rules.length).toBeGreaterThan(0);
  if (policy["@type"] === "Offer") expect(policy.assigner).toEqual(expect.stringMatching(/^https:\/\//));
  const constraintOk = (c: Node) => {
    expect(ODRL_LEFT_OPERANDS).toContain(c.leftOperand);
    expect(ODRL_OPERATORS).toContain(c.operator);
    expect(c.rightOperand).toBeDefined();
  };
  for (const rule of rules) {
    expect(rule.target).toEqual(expect.stringMatching(/^https:\/\//));
    expect(typeof rule.action === "string" && (ODRL_ACTIONS.has(rule.action) || rule.action.startsWith("https://w3id.org/dpv#"))).toBe(true);
    for (const c of (rule.constraint as Node[] | undefined) ?? []) constraintOk(c);
    for (const duty of (rule.duty as Node[] | undefined) ?? []) {
      expect(ODRL_ACTIONS).toContain(duty.action);
      for (const c of (duty.constraint as Node[] | undefined) ?? []) constraintOk(c);
    }
  }
  const uids = rules.map((r) => r.uid).filter((u) => u !== undefined);
  expect(new Set(uids).size).toBe(uids.length);
}

describe("toOdrl", () => {
  const policy = toOdrl(publicTerms(terms, 4), { uid, assigner }) as unknown as Node;

  it("is an ODRL 2.2 Offer from the person, deny-overrides", () => {
    checkOdrlShape(policy);
    expect(policy).toMatchObject({ "@type": "Offer", uid, assigner, conflict: "prohibit" });
  });

  it("turns a deny rule into prohibitions of use, one per target, with the purposes as DPV IRIs", () => {
    const prohibitions = policy.prohibition as Node[];
    expect(prohibitions.slice(0, 2)).toEqual([
      {
        uid: `${uid}#never-marketing-1`,
        target: `${assigner}/profile`,
        action: "use",
        constraint: [{ leftOperand: "purpose", operator: "isAnyOf", rightOperand: [{ "@id": "https://w3id.org/dpv#Marketing" }, { "@id": "https://w3id.org/dpv#ServiceUsageAnalytics" }] }],
      },
      expect.objectContaining({ uid: `${uid}#never-marketing-2`, target: `${assigner}/needs` }),
    ]);
  });

  it("turns a permit rule into permissions with constraints for expiry and reads, and duties to delete", () => {
    const permissions = policy.permission as Node[];
    const day = (n: number) => ({ "@value": `P${n}D`, "@type": "http://www.w3.org/2001/XMLSchema#duration" });
    expect(permissions[1]).toEqual({
      uid: `${uid}#ship-2`,
      target: `${assigner}/profile#addresses.*`,
      action: "use",
      constraint: [
        { leftOperand: "purpose", operator: "isAnyOf", rightOperand: [{ "@id": dpvPurpose("fulfillment") }, { "@id": dpvPurpose("delivery") }] },
        { leftOperand: "elapsedTime", operator: "lteq", rightOperand: day(90) },
        { leftOperand: "count", operator: "lteq", rightOperand: 24, unit: "http://qudt.org/vocab/unit/PER-DAY" },
      ],
      duty: [
        { action: "delete", constraint: [{ leftOperand: "elapsedTime", operator: "lteq", rightOperand: day(30) }] },
        { action: "delete", constraint: [{ leftOperand: "event", operator: "gt", rightOperand: { "@id": "https://proffer.dev/ns/odrl#revocation" } }] },
      ],
    });
    expect(policy.prohibition).toEqual(
      expect.arrayContaining([
        { target: `${assigner}/profile#addresses.*`, action: "distribute" },
        { target: `${assigner}/profile#addresses.*`, action: "https://w3id.org/dpv#Profiling" },
        { target: `${assigner}/profile#addresses.*`, action: "https://w3id.org/dpv#Tracking" },
      ]),
    );
  });

  it("turns approval `ask` into a duty to obtain the person's consent", () => {
    expect((policy.permission as Node[]).at(-1)).toEqual({
      uid: `${uid}#anyone-1`,
      target: `${assigner}/needs#books`,
      action: "use",
      duty: [{ action: "obtainConsent", consentingParty: assigner }],
    });
  });

  it("with nothing public, is a Set that prohibits use of profile and needs", () => {
    const empty = toOdrl(publicTerms({ rules: [terms.rules[2] as never] }, 1), { uid, assigner, profile: "https://p.example/ada", needs: "https://p.example/ada/intents" });
    expect(empty).toMatchObject({
      "@type": "Set",
      permission: [],
      prohibition: [
        { target: "https://p.example/ada", action: "use" },
        { target: "https://p.example/ada/intents", action: "use" },
      ],
    });
    const denyOnly = toOdrl(publicTerms({ rules: [terms.rules[0] as never] }, 1), { uid, assigner });
    expect(denyOnly["@type"]).toBe("Set");
  });

  it("every template, and any terms, give a well-formed policy", () => {
    for (const template of TEMPLATES) checkOdrlShape(toOdrl(publicTerms(template.terms, 1), { uid, assigner }) as unknown as Node);
    fc.assert(fc.property(anyTerms, (t) => checkOdrlShape(toOdrl(publicTerms(t, 1), { uid, assigner }) as unknown as Node)), { numRuns: 200 });
  });

  it("each purpose has a DPV class", () => {
    for (const p of PURPOSES) expect(p.dpv).toMatch(/^https:\/\/w3id\.org\/dpv#[A-Z][A-Za-z]+$/);
    expect(new Set(PURPOSES.map((p) => p.dpv)).size).toBe(PURPOSES.length);
  });
});
