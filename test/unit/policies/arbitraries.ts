/**
 * fast-check generators for the terms engine's tests: terms, requests,
 * vendors and profiles drawn from a small universe of names, so that rules
 * and requests collide often (overlaps, covers, wildcards).
 */
import fc from "fast-check";
import { PURPOSE_TOKENS } from "../../../policies/index.js";
import type { Duties, NeedsRequest, Purpose, RequestedField, Rule, TermsInput, Vendor, VendorRequest, VendorSelector } from "../../../policies/index.js";

const LEVELS = [
  ["name", "emails", "addresses", "preferences", "birthDate"],
  ["given", "family", "home", "work", "personal", "sizes"],
  ["country", "locality", "lines", "shoe"],
] as const;

export const VENDOR_IDS = ["0b6f7c1e-4a53-4d8e-9a43-5c2f0f0d2a11", "5d1c9a70-2f4e-4b7e-8a39-0c6a1f3b9e22"] as const;
export const DOMAINS = ["shop.example", "velo.example"] as const;

export const anyPurpose: fc.Arbitrary<Purpose> = fc.constantFrom(...PURPOSE_TOKENS.slice(0, 5));

export const anyPath: fc.Arbitrary<string> = fc
  .constantFrom(1, 1, 2, 2, 3)
  .chain((length) =>
    fc.tuple(...LEVELS.slice(0, length).map((names) => fc.constantFrom("*", ...names))),
  )
  .map((segments) => segments.join("."));

export const anyCategory: fc.Arbitrary<string> = fc
  .array(fc.constantFrom("*", "home", "furniture", "sports", "cycling"), { minLength: 1, maxLength: 2 })
  .map((segments) => segments.join("/"));

const anySelector: fc.Arbitrary<VendorSelector | undefined> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constant({ any: true as const }) },
  { weight: 2, arbitrary: fc.subarray([...VENDOR_IDS], { minLength: 1 }).map((ids) => ({ ids })) },
  { weight: 2, arbitrary: fc.subarray([...DOMAINS], { minLength: 1 }).map((domains) => ({ domains })) },
);

export const anyDuties: fc.Arbitrary<Duties> = fc.record(
  {
    maxRetentionDays: fc.constantFrom(0, 30, 90, 365),
    noThirdPartySharing: fc.boolean(),
    noProfiling: fc.boolean(),
    deleteOnRevoke: fc.boolean(),
    grantExpiryDays: fc.constantFrom(1, 30, 365),
    maxReadsPerDay: fc.constantFrom(1, 100, 10000),
  },
  { requiredKeys: [] },
);

const anyRuleBody = fc.record(
  {
    effect: fc.constantFrom("permit" as const, "permit" as const, "permit" as const, "deny" as const),
    fields: fc.uniqueArray(fc.oneof({ weight: 1, arbitrary: fc.constant("*") }, { weight: 4, arbitrary: anyPath }), { minLength: 1, maxLength: 3 }),
    needs: fc.uniqueArray(anyCategory, { minLength: 1, maxLength: 2 }).map((categories) => ({ categories })),
    vendors: anySelector,
    purposes: fc.subarray([...PURPOSE_TOKENS.slice(0, 5)], { minLength: 1 }),
    duties: anyDuties,
    approval: fc.constantFrom("auto" as const, "ask" as const),
  },
  { requiredKeys: ["effect"] },
);

/** One rule with the given id; never an empty rule, never duties or `ask` on a deny. */
export function ruleWithId(id: string): fc.Arbitrary<Rule> {
  return anyRuleBody.map((body) => {
    const rule: Rule = { id, effect: body.effect };
    if (body.fields !== undefined) rule.fields = body.fields;
    if (body.needs !== undefined || body.fields === undefined) rule.needs = body.needs ?? { categories: ["*"] };
    if (body.vendors !== undefined) rule.vendors = body.vendors;
    if (body.purposes !== undefined) rule.purposes = body.purposes;
    if (body.effect === "permit") {
      if (body.duties !== undefined) rule.duties = body.duties;
      if (body.approval !== undefined) rule.approval = body.approval;
    }
    return rule;
  });
}

export const anyRules: fc.Arbitrary<Rule[]> = fc
  .integer({ min: 0, max: 8 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => ruleWithId(`r${i}`))))
  .map((rules) => [...rules]);

export const anyTerms: fc.Arbitrary<TermsInput> = anyRules.map((rules) => ({ rules }));

export const anyField: fc.Arbitrary<RequestedField> = fc.record({
  path: anyPath,
  purpose: anyPurpose,
  required: fc.constantFrom(true, false, false),
  retentionDays: fc.constantFrom(0, 10, 30, 60, 90, 365, 400),
});

const anyNeeds: fc.Arbitrary<NeedsRequest> = fc.record(
  {
    categories: fc.uniqueArray(anyCategory, { minLength: 1, maxLength: 3 }),
    purpose: anyPurpose,
    retentionDays: fc.constantFrom(0, 30, 400),
    required: fc.constantFrom(true, false, false),
  },
  { requiredKeys: ["categories", "purpose", "retentionDays", "required"] },
);

export const anyAccepted = fc.record(
  { noThirdPartySharing: fc.constant(true as const), noProfiling: fc.constant(true as const), deleteOnRevoke: fc.constant(true as const) },
  { requiredKeys: [] },
);

export const anyRequest: fc.Arbitrary<VendorRequest> = fc
  .record(
    {
      fields: fc.array(anyField, { minLength: 1, maxLength: 6 }),
      needs: anyNeeds,
      accepts: fc.record({ termsVersion: fc.integer({ min: 1, max: 5 }), duties: anyAccepted }, { requiredKeys: ["duties"] }),
    },
    { requiredKeys: ["fields"] },
  )
  .map((request) => {
    const out: VendorRequest = { fields: request.fields };
    if (request.needs !== undefined) out.needs = request.needs;
    if (request.accepts !== undefined) out.accepts = request.accepts;
    return out;
  });

export const anyVendor: fc.Arbitrary<Vendor> = fc.record({
  id: fc.constantFrom(...VENDOR_IDS, "9f0e8d7c-6b5a-4321-8fed-cba987654321"),
  homepage: fc.constantFrom("https://shop.example", "https://www.shop.example/", "http://velo.example", "https://other.example", "https://evilshop.example", "not a url"),
});

/** A profile over the same names: objects down to three levels, string and array leaves. */
export const anyProfile: fc.Arbitrary<Record<string, unknown>> = fc.letrec<{ level0: Record<string, unknown>; level1: unknown; level2: unknown }>((tie) => ({
  level0: fc.dictionary(fc.constantFrom(...LEVELS[0]), tie("level1"), { maxKeys: 5 }),
  level1: fc.oneof(fc.string({ maxLength: 3 }), fc.dictionary(fc.constantFrom(...LEVELS[1]), tie("level2"), { maxKeys: 4 })),
  level2: fc.oneof(
    fc.string({ maxLength: 3 }),
    fc.array(fc.string({ maxLength: 2 }), { maxLength: 2 }),
    fc.dictionary(fc.constantFrom(...LEVELS[2]), fc.string({ maxLength: 3 }), { maxKeys: 3 }),
  ),
})).level0;
