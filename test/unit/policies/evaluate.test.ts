import { describe, expect, it } from "vitest";
import { DEFAULT_TERMS, compileTerms, describeDuties, evaluate, explain } from "../../../policies/index.js";
import type { AcceptedDuties, Decision, DecisionCode, NeedsRequest, Outcome, Purpose, Rule, Vendor, VendorRequest } from "../../../policies/index.js";

const SHOP: Vendor = { id: "0b6f7c1e-4a53-4d8e-9a43-5c2f0f0d2a11", homepage: "https://www.shop.example/welcome" };
const OTHER: Vendor = { id: "5d1c9a70-2f4e-4b7e-8a39-0c6a1f3b9e22", homepage: "https://other.example" };

const permit = (id: string, fields: string[], extra: Partial<Rule> = {}): Rule => ({ id, effect: "permit", fields, ...extra });
const deny = (id: string, fields: string[], extra: Partial<Rule> = {}): Rule => ({ id, effect: "deny", fields, ...extra });

type FieldRow = [path: string, purpose: Purpose | string, required?: boolean, retentionDays?: number];
type Expected = [decision: Decision, rule: string | null, code: DecisionCode];

interface Row {
  rules: Rule[];
  fields: FieldRow[];
  accepts?: AcceptedDuties;
  vendor?: Vendor;
  needs?: NeedsRequest;
  expect: Expected[];
  needsExpect?: Expected[];
  outcome: Outcome;
}

const P: Expected[0] = "permit";
const A: Expected[0] = "ask";
const D: Expected[0] = "deny";

/** Terms × request → decision per item, one row per rule of the semantics. */
const rows: Record<string, Row> = {
  // Default deny
  "no rules: every field is denied, no rule decides": {
    rules: [],
    fields: [["name", "fulfillment"]],
    expect: [[D, null, "no_matching_rule"]],
    outcome: "rejected",
  },
  "a rule about other fields does not permit": {
    rules: [permit("names", ["name"])],
    fields: [["emails", "fulfillment"]],
    expect: [[D, null, "no_matching_rule"]],
    outcome: "rejected",
  },

  // A permit must cover the whole requested path
  "permit of the same path": {
    rules: [permit("addr", ["addresses.home"])],
    fields: [["addresses.home", "delivery"]],
    expect: [[P, "addr", "permitted"]],
    outcome: "active",
  },
  "permit of a subtree covers a path below it": {
    rules: [permit("addr", ["addresses"])],
    fields: [["addresses.home.country", "delivery"]],
    expect: [[P, "addr", "permitted"]],
    outcome: "active",
  },
  "permit of a narrower path does not cover a wider request": {
    rules: [permit("home", ["addresses.home"])],
    fields: [["addresses", "delivery"]],
    expect: [[D, null, "no_matching_rule"]],
    outcome: "rejected",
  },
  "a wildcard rule covers each matching path, not its parent": {
    rules: [permit("countries", ["addresses.*.country"])],
    fields: [["addresses.work.country", "delivery"], ["addresses.home", "delivery", false]],
    expect: [[P, "countries", "permitted"], [D, null, "no_matching_rule"]],
    outcome: "active",
  },
  "a wildcard request needs a rule that covers every path it matches": {
    rules: [permit("home-country", ["addresses.home.country"]), permit("all-addresses", ["addresses"], { purposes: ["delivery"] })],
    fields: [["addresses.*.country", "delivery"], ["addresses.*.country", "support", false]],
    expect: [[P, "all-addresses", "permitted"], [D, null, "no_matching_rule"]],
    outcome: "active",
  },
  "'*' covers every field": {
    rules: [permit("everything", ["*"])],
    fields: [["name.given", "support"], ["*", "support"]],
    expect: [[P, "everything", "permitted"], [P, "everything", "permitted"]],
    outcome: "active",
  },

  // Deny overrides permit
  "deny of the same path overrides a permit listed first": {
    rules: [permit("all", ["*"]), deny("no-birthday", ["birthDate"])],
    fields: [["birthDate", "account"]],
    expect: [[D, "no-birthday", "denied_by_rule"]],
    outcome: "rejected",
  },
  "deny of a wider path covers the request": {
    rules: [deny("no-addresses", ["addresses"]), permit("all", ["*"])],
    fields: [["addresses.home.country", "delivery"]],
    expect: [[D, "no-addresses", "denied_by_rule"]],
    outcome: "rejected",
  },
  "deny of a narrower path denies the whole wider request": {
    rules: [permit("addresses", ["addresses"]), deny("not-work", ["addresses.work"])],
    fields: [["addresses", "delivery", false], ["addresses.home", "delivery"]],
    expect: [[D, "not-work", "denied_by_rule"], [P, "addresses", "permitted"]],
    outcome: "active",
  },
  "deny and request that overlap without either covering the other": {
    rules: [permit("all", ["*"]), deny("no-home", ["*.home"])],
    fields: [["addresses.*.country", "delivery"], ["addresses.work.country", "delivery"]],
    expect: [[D, "no-home", "denied_by_rule"], [P, "all", "permitted"]],
    outcome: "rejected",
  },
  "a deny for another purpose does not apply": {
    rules: [deny("no-marketing", ["*"], { purposes: ["marketing"] }), permit("all", ["*"])],
    fields: [["emails", "support"], ["emails", "marketing", false]],
    expect: [[P, "all", "permitted"], [D, "no-marketing", "denied_by_rule"]],
    outcome: "active",
  },
  "a deny for another vendor does not apply": {
    rules: [deny("not-other", ["*"], { vendors: { ids: [OTHER.id] } }), permit("all", ["*"])],
    fields: [["emails", "support"]],
    expect: [[P, "all", "permitted"]],
    outcome: "active",
  },
  "a deny for this vendor applies": {
    rules: [deny("not-shop", ["*"], { vendors: { domains: ["shop.example"] } }), permit("all", ["*"])],
    fields: [["emails", "support"]],
    expect: [[D, "not-shop", "denied_by_rule"]],
    outcome: "rejected",
  },

  // Purposes
  "a rule limited to purposes does not permit another purpose": {
    rules: [permit("ship", ["addresses"], { purposes: ["delivery", "fulfillment"] })],
    fields: [["addresses.home", "delivery"], ["addresses.home", "marketing", false]],
    expect: [[P, "ship", "permitted"], [D, null, "no_matching_rule"]],
    outcome: "active",
  },
  "a rule without purposes speaks to every purpose": {
    rules: [permit("any-purpose", ["emails"])],
    fields: [["emails", "research"], ["emails", "legal-compliance"]],
    expect: [[P, "any-purpose", "permitted"], [P, "any-purpose", "permitted"]],
    outcome: "active",
  },

  // Approval
  "among permits, auto beats ask whatever the order": {
    rules: [permit("ask-first", ["*"], { approval: "ask" }), permit("auto-second", ["emails"], { approval: "auto" })],
    fields: [["emails.work", "support"]],
    expect: [[P, "auto-second", "permitted"]],
    outcome: "active",
  },
  "the first of several auto rules decides": {
    rules: [permit("first", ["emails"]), permit("second", ["emails"])],
    fields: [["emails", "support"]],
    expect: [[P, "first", "permitted"]],
    outcome: "active",
  },
  "ask only: the field waits for the person": {
    rules: [permit("ask", ["*"], { approval: "ask" })],
    fields: [["name", "account"], ["emails", "account", false]],
    expect: [[A, "ask", "approval_required"], [A, "ask", "approval_required"]],
    outcome: "pending",
  },
  "one asking field makes the whole request pending": {
    rules: [permit("name", ["name"]), permit("ask", ["phones"], { approval: "ask" })],
    fields: [["name", "account"], ["phones", "account", false]],
    expect: [[P, "name", "permitted"], [A, "ask", "approval_required"]],
    outcome: "pending",
  },

  // Retention
  "a longer retention than the rule allows: not permitted by that rule": {
    rules: [permit("short", ["emails"], { duties: { maxRetentionDays: 30 } })],
    fields: [["emails", "support", true, 31]],
    expect: [[D, "short", "retention_too_long"]],
    outcome: "rejected",
  },
  "a retention exactly at the limit is permitted": {
    rules: [permit("short", ["emails"], { duties: { maxRetentionDays: 30 } })],
    fields: [["emails", "support", true, 30]],
    expect: [[P, "short", "permitted"]],
    outcome: "active",
  },
  "use and forget: retention 0 under a limit of 0": {
    rules: [permit("forget", ["addresses"], { duties: { maxRetentionDays: 0 } })],
    fields: [["addresses.home", "delivery", true, 0], ["addresses.work", "delivery", false, 1]],
    expect: [[P, "forget", "permitted"], [D, "forget", "retention_too_long"]],
    outcome: "active",
  },
  "a rule that refuses the retention leaves the next rule to decide": {
    rules: [permit("short", ["emails"], { duties: { maxRetentionDays: 30 } }), permit("long", ["emails"], { duties: { maxRetentionDays: 365 } })],
    fields: [["emails", "support", true, 90]],
    expect: [[P, "long", "permitted"]],
    outcome: "active",
  },
  "a failing auto rule and a fitting ask rule: ask": {
    rules: [permit("short", ["emails"], { duties: { maxRetentionDays: 30 } }), permit("ask", ["*"], { approval: "ask" })],
    fields: [["emails", "support", true, 90]],
    expect: [[A, "ask", "approval_required"]],
    outcome: "pending",
  },

  // Duties
  "a boolean duty the request does not accept: not permitted": {
    rules: [permit("private", ["emails"], { duties: { noThirdPartySharing: true } })],
    fields: [["emails", "support"]],
    expect: [[D, "private", "duty_refused"]],
    outcome: "rejected",
  },
  "a boolean duty the request accepts: permitted": {
    rules: [permit("private", ["emails"], { duties: { noThirdPartySharing: true, noProfiling: true, deleteOnRevoke: true } })],
    fields: [["emails", "support"]],
    accepts: { noThirdPartySharing: true, noProfiling: true, deleteOnRevoke: true },
    expect: [[P, "private", "permitted"]],
    outcome: "active",
  },
  "accepting some duties is not accepting all": {
    rules: [permit("private", ["emails"], { duties: { noThirdPartySharing: true, deleteOnRevoke: true } })],
    fields: [["emails", "support"]],
    accepts: { noThirdPartySharing: true },
    expect: [[D, "private", "duty_refused"]],
    outcome: "rejected",
  },
  "a duty that is false asks nothing of the request": {
    rules: [permit("lax", ["emails"], { duties: { noThirdPartySharing: false } })],
    fields: [["emails", "support"]],
    expect: [[P, "lax", "permitted"]],
    outcome: "active",
  },
  "retention and duty both refused: the retention is the code": {
    rules: [permit("strict", ["emails"], { duties: { maxRetentionDays: 7, noProfiling: true } })],
    fields: [["emails", "support", true, 30]],
    expect: [[D, "strict", "retention_too_long"]],
    outcome: "rejected",
  },
  "grant expiry and reads per day bound the grant, they refuse no request": {
    rules: [permit("bounded", ["emails"], { duties: { grantExpiryDays: 30, maxReadsPerDay: 10 } })],
    fields: [["emails", "support", true, 3650]],
    expect: [[P, "bounded", "permitted"]],
    outcome: "active",
  },

  // Vendor selectors
  "vendor ids: the listed vendor (any case)": {
    rules: [permit("shop", ["emails"], { vendors: { ids: [SHOP.id.toUpperCase()] } })],
    fields: [["emails", "support"]],
    expect: [[P, "shop", "permitted"]],
    outcome: "active",
  },
  "vendor ids: another vendor": {
    rules: [permit("shop", ["emails"], { vendors: { ids: [SHOP.id] } })],
    fields: [["emails", "support"]],
    vendor: OTHER,
    expect: [[D, null, "no_matching_rule"]],
    outcome: "rejected",
  },
  "vendor domains: a subdomain of the domain": {
    rules: [permit("shop", ["emails"], { vendors: { domains: ["velo.example", "shop.example"] } })],
    fields: [["emails", "support"]],
    expect: [[P, "shop", "permitted"]],
    outcome: "active",
  },
  "vendor domains: the domain itself, with a trailing dot and capitals": {
    rules: [permit("shop", ["emails"], { vendors: { domains: ["shop.example"] } })],
    fields: [["emails", "support"]],
    vendor: { id: OTHER.id, homepage: "HTTP://Shop.Example./" },
    expect: [[P, "shop", "permitted"]],
    outcome: "active",
  },
  "vendor domains: a look-alike domain does not match": {
    rules: [permit("shop", ["emails"], { vendors: { domains: ["shop.example"] } })],
    fields: [["emails", "support"]],
    vendor: { id: OTHER.id, homepage: "https://evilshop.example" },
    expect: [[D, null, "no_matching_rule"]],
    outcome: "rejected",
  },
  "vendor domains: the domain inside a longer one does not match": {
    rules: [permit("shop", ["emails"], { vendors: { domains: ["shop.example"] } })],
    fields: [["emails", "support"]],
    vendor: { id: OTHER.id, homepage: "https://shop.example.attacker.test" },
    expect: [[D, null, "no_matching_rule"]],
    outcome: "rejected",
  },
  "vendor domains: a homepage that is not an http(s) URL matches no domain": {
    rules: [permit("shop", ["emails"], { vendors: { domains: ["shop.example"] } }), permit("anyone", ["name"], { vendors: { any: true } })],
    fields: [["emails", "support", false], ["name", "support"]],
    vendor: { id: OTHER.id, homepage: "ftp://shop.example" },
    expect: [[D, null, "no_matching_rule"], [P, "anyone", "permitted"]],
    outcome: "active",
  },
  "vendor domains: a homepage that does not parse matches no domain": {
    rules: [permit("shop", ["emails"], { vendors: { domains: ["shop.example"] } })],
    fields: [["emails", "support"]],
    vendor: { id: OTHER.id, homepage: "shop.example" },
    expect: [[D, null, "no_matching_rule"]],
    outcome: "rejected",
  },

  // Required and optional
  "a denied required field rejects the request": {
    rules: [permit("name", ["name"])],
    fields: [["name", "account"], ["birthDate", "account", true]],
    expect: [[P, "name", "permitted"], [D, null, "no_matching_rule"]],
    outcome: "rejected",
  },
  "a denied optional field is left out": {
    rules: [permit("name", ["name"])],
    fields: [["name", "account"], ["birthDate", "account", false]],
    expect: [[P, "name", "permitted"], [D, null, "no_matching_rule"]],
    outcome: "active",
  },
  "only optional fields, all denied: nothing to share, rejected": {
    rules: [],
    fields: [["name", "account", false]],
    expect: [[D, null, "no_matching_rule"]],
    outcome: "rejected",
  },

  // Needs, by category
  "needs: a category covers its refinements": {
    rules: [{ id: "home", effect: "permit", needs: { categories: ["home"] } }],
    fields: [["name", "offers", false]],
    needs: { categories: ["home/furniture", "home"], purpose: "offers", retentionDays: 30 },
    expect: [[D, null, "no_matching_rule"]],
    needsExpect: [[P, "home", "permitted"], [P, "home", "permitted"]],
    outcome: "active",
  },
  "needs: a refinement does not cover its parent; '*' covers all": {
    rules: [
      { id: "furniture", effect: "permit", needs: { categories: ["home/furniture"] } },
      { id: "ask-all", effect: "permit", needs: { categories: ["*"] }, approval: "ask" },
    ],
    fields: [["name", "offers", false]],
    needs: { categories: ["home", "home/furniture", "*"], purpose: "offers", retentionDays: 30, required: false },
    expect: [[D, null, "no_matching_rule"]],
    needsExpect: [[A, "ask-all", "approval_required"], [P, "furniture", "permitted"], [A, "ask-all", "approval_required"]],
    outcome: "pending",
  },
  "needs: a deny overlaps a wider request and wildcard patterns": {
    rules: [{ id: "all", effect: "permit", needs: { categories: ["*"] } }, { id: "no-furniture", effect: "deny", needs: { categories: ["*/furniture"] } }],
    fields: [["name", "offers", false]],
    needs: { categories: ["home", "home/garden", "*"], purpose: "offers", retentionDays: 30, required: false },
    expect: [[D, null, "no_matching_rule"]],
    needsExpect: [[D, "no-furniture", "denied_by_rule"], [P, "all", "permitted"], [D, "no-furniture", "denied_by_rule"]],
    outcome: "active",
  },
  "needs: required by default, so a denied category rejects": {
    rules: [permit("name", ["name"])],
    fields: [["name", "offers"]],
    needs: { categories: ["books"], purpose: "offers", retentionDays: 30 },
    expect: [[P, "name", "permitted"]],
    needsExpect: [[D, null, "no_matching_rule"]],
    outcome: "rejected",
  },
  "needs: optional categories that are denied are left out": {
    rules: [permit("name", ["name"])],
    fields: [["name", "offers"]],
    needs: { categories: ["books"], purpose: "offers", retentionDays: 30, required: false },
    expect: [[P, "name", "permitted"]],
    needsExpect: [[D, null, "no_matching_rule"]],
    outcome: "active",
  },
  "needs: purpose, vendor, retention and duties as for fields": {
    rules: [
      { id: "books", effect: "permit", needs: { categories: ["books"] }, purposes: ["offers"], vendors: { domains: ["shop.example"] }, duties: { maxRetentionDays: 30, noProfiling: true } },
    ],
    fields: [["name", "offers", false]],
    accepts: { noProfiling: true },
    needs: { categories: ["books/novels"], purpose: "offers", retentionDays: 60, required: false },
    expect: [[D, null, "no_matching_rule"]],
    needsExpect: [[D, "books", "retention_too_long"]],
    outcome: "rejected",
  },
  "needs: a rule with both fields and needs serves both": {
    rules: [{ id: "both", effect: "permit", fields: ["name"], needs: { categories: ["books"] }, duties: { noProfiling: true } }],
    fields: [["name", "offers"]],
    needs: { categories: ["books"], purpose: "offers", retentionDays: 30 },
    expect: [[D, "both", "duty_refused"]],
    needsExpect: [[D, "both", "duty_refused"]],
    outcome: "rejected",
  },

  // Input the engine cannot read fails closed
  "an invalid path, an unknown purpose: denied, no rule": {
    rules: [permit("all", ["*"])],
    fields: [["addresses..home", "delivery", false], ["name", "spying", false], ["name", "support"]],
    expect: [[D, null, "invalid_path"], [D, null, "unknown_purpose"], [P, "all", "permitted"]],
    outcome: "active",
  },
  "an invalid category, an unknown needs purpose: denied": {
    rules: [{ id: "all", effect: "permit", fields: ["*"], needs: { categories: ["*"] } }],
    fields: [["name", "support"]],
    needs: { categories: ["Home"], purpose: "support", retentionDays: 1, required: false },
    expect: [[P, "all", "permitted"]],
    needsExpect: [[D, null, "invalid_category"]],
    outcome: "active",
  },
};

function requestOf(row: Row): VendorRequest {
  const request: VendorRequest = {
    fields: row.fields.map(([path, purpose, required = true, retentionDays = 30]) => ({ path, purpose: purpose as Purpose, required, retentionDays })),
  };
  if (row.needs !== undefined) request.needs = row.needs;
  if (row.accepts !== undefined) request.accepts = { duties: row.accepts };
  return request;
}

describe("evaluate: terms × request → decision per item", () => {
  it.each(Object.entries(rows))("%s", (_name, row) => {
    const evaluation = evaluate(compileTerms({ rules: row.rules }, 7), requestOf(row), row.vendor ?? SHOP);
    expect(evaluation.fields.map((f) => [f.decision, f.rule, f.code])).toEqual(row.expect);
    expect(evaluation.needs?.categories.map((c) => [c.decision, c.rule, c.code])).toEqual(row.needsExpect);
    expect(evaluation.outcome).toBe(row.outcome);
    expect(evaluation.termsVersion).toBe(7);
    // Each field decision echoes its request.
    evaluation.fields.forEach((f, i) => expect([f.path, f.purpose, f.required]).toEqual([row.fields[i]?.[0], row.fields[i]?.[1], row.fields[i]?.[2] ?? true]));
  });

  it("a fail-closed reading of unvalidated input", () => {
    const compiled = compileTerms({ rules: [permit("short", ["*"], { duties: { maxRetentionDays: 30 } }), permit("any", ["name"])] }, 1);
    const evaluation = evaluate(
      compiled,
      {
        fields: [
          { path: "emails", purpose: "support", retentionDays: undefined, required: undefined } as never,
          { path: 12, purpose: 3, required: false, retentionDays: 1 } as never,
          { path: "name", purpose: "support", required: false, retentionDays: -1 },
        ],
      },
      { id: undefined, homepage: undefined } as never,
    );
    expect(evaluation.fields.map((f) => [f.decision, f.code, f.required])).toEqual([
      ["deny", "retention_too_long", true],
      ["deny", "invalid_path", false],
      ["permit", "permitted", false],
    ]);
    expect(evaluation.fields[0]?.reason).toContain("the request sets no limit");
    const vendorSpecific = compileTerms({ rules: [permit("shop", ["*"], { vendors: { ids: [SHOP.id] } }), permit("web", ["*"], { vendors: { domains: ["shop.example"] } })] }, 1);
    expect(evaluate(vendorSpecific, { fields: [{ path: "name", purpose: "support", required: true, retentionDays: 1 }] }, { id: undefined, homepage: 42 } as never).outcome).toBe(
      "rejected",
    );
  });
});

describe("caches stay bounded and never change an answer", () => {
  it("parses many distinct paths and homepages", () => {
    const compiled = compileTerms({ rules: [permit("web", ["custom"], { vendors: { domains: ["shop.example"] } })] }, 1);
    for (let i = 0; i < 4200; i++) {
      const evaluation = evaluate(
        compiled,
        { fields: [{ path: `custom.k${i}`, purpose: "support", required: true, retentionDays: 1 }] },
        { id: i % 3 === 0 ? OTHER.id : `vendor-${i}`, homepage: i % 2 === 0 ? `https://s${i}.shop.example` : `https://s${i}.other.example` },
      );
      expect(evaluation.outcome).toBe(i % 2 === 0 ? "active" : "rejected");
    }
  });

  it("a vendor whose homepage changed is matched anew", () => {
    const compiled = compileTerms({ rules: [permit("web", ["name"], { vendors: { domains: ["shop.example"] } })] }, 1);
    const request: VendorRequest = { fields: [{ path: "name", purpose: "support", required: true, retentionDays: 1 }] };
    expect(evaluate(compiled, request, { id: OTHER.id, homepage: "https://shop.example" }).outcome).toBe("active");
    expect(evaluate(compiled, request, { id: OTHER.id, homepage: "https://other.example" }).outcome).toBe("rejected");
    expect(evaluate(compiled, request, { id: OTHER.id, homepage: "https://shop.example" }).outcome).toBe("active");
  });

  it("refuses a purpose that is not a token, for fields and needs", () => {
    const compiled = compileTerms({ rules: [{ id: "all", effect: "permit", fields: ["*"], needs: { categories: ["*"] } }] }, 1);
    const evaluation = evaluate(
      compiled,
      { fields: [{ path: "name", purpose: 3, required: false, retentionDays: 1 } as never, { path: "name", purpose: "support", required: true, retentionDays: 1 }], needs: { categories: ["books"], purpose: "gossip" as never, retentionDays: 1, required: false } },
      SHOP,
    );
    expect(evaluation.fields[0]).toMatchObject({ decision: "deny", code: "unknown_purpose", rule: null });
    expect(evaluation.needs?.categories[0]).toMatchObject({ decision: "deny", code: "unknown_purpose", reason: '"gossip" is not a known purpose, so needs in books are not shared.' });
  });
});

describe("the grant's duties", () => {
  const rules: Rule[] = [
    permit("a", ["name"], { duties: { maxRetentionDays: 90, grantExpiryDays: 365, maxReadsPerDay: 100, noThirdPartySharing: true } }),
    permit("b", ["emails"], { duties: { maxRetentionDays: 30, grantExpiryDays: 400, maxReadsPerDay: 10, deleteOnRevoke: true } }),
    permit("c", ["phones"], { duties: { noProfiling: true, maxRetentionDays: 10 } }),
    permit("d", ["birthDate"], { approval: "ask", duties: { grantExpiryDays: 30 } }),
  ];
  const compiled = compileTerms({ rules }, 2);
  const accepts = { duties: { noThirdPartySharing: true, deleteOnRevoke: true, noProfiling: true } as const };
  const field = (path: string, required = true) => ({ path, purpose: "support" as const, required, retentionDays: 5 });

  it("combines the deciding rules: smallest limits, every boolean", () => {
    const evaluation = evaluate(compiled, { fields: [field("name"), field("emails")], accepts }, SHOP);
    expect(evaluation.duties).toEqual({ maxRetentionDays: 30, grantExpiryDays: 365, maxReadsPerDay: 10, noThirdPartySharing: true, deleteOnRevoke: true });
  });

  it("counts the rules of asking fields, not of denied ones", () => {
    const evaluation = evaluate(compiled, { fields: [field("name"), field("birthDate"), field("custom", false)], accepts }, SHOP);
    expect(evaluation.outcome).toBe("pending");
    expect(evaluation.duties).toEqual({ maxRetentionDays: 90, grantExpiryDays: 30, maxReadsPerDay: 100, noThirdPartySharing: true });
  });

  it("is empty when the request is rejected, or when no deciding rule has duties", () => {
    expect(evaluate(compiled, { fields: [field("name"), field("custom")], accepts }, SHOP).duties).toEqual({});
    expect(evaluate(compileTerms({ rules: [permit("x", ["*"])] }, 1), { fields: [field("name")] }, SHOP).duties).toEqual({});
  });

  it("are described in words", () => {
    expect(describeDuties({ maxRetentionDays: 3, noThirdPartySharing: true, noProfiling: true, deleteOnRevoke: true, grantExpiryDays: 9, maxReadsPerDay: 5 })).toEqual([
      "keep data at most 3 days",
      "no third-party sharing",
      "no profiling or tracking",
      "delete everything on revocation",
      "the grant expires after 9 days",
      "at most 5 reads a day",
    ]);
    expect(describeDuties({ noThirdPartySharing: false })).toEqual([]);
  });
});

describe("the explanation", () => {
  const compiled = compileTerms(
    {
      rules: [
        deny("never-marketing", ["*"], { purposes: ["marketing"] }),
        deny("no-work", ["addresses.work"]),
        permit("ship", ["addresses"], { purposes: ["delivery"], duties: { maxRetentionDays: 30, noThirdPartySharing: true } }),
        permit("ask", ["*"], { approval: "ask" }),
      ],
    },
    3,
  );
  const f = (path: string, purpose: Purpose, required: boolean, retentionDays = 30) => ({ path, purpose, required, retentionDays });

  it("names every item, its verdict, the rule and why; then the duties", () => {
    const evaluation = evaluate(
      compiled,
      {
        fields: [f("addresses.home", "delivery", true), f("emails", "marketing", false), f("addresses", "delivery", false), f("addresses.*.country", "delivery", false)],
        accepts: { duties: { noThirdPartySharing: true } },
      },
      SHOP,
    );
    expect(explain(evaluation)).toEqual([
      "Active under terms version 3: 1 of 4 requested items shared; 3 optional left out.",
      'Shared: Rule "ship" permits addresses.home for delivery.',
      'Left out (optional): Rule "never-marketing" denies every field for marketing, which includes emails.',
      'Left out (optional): Rule "no-work" denies addresses.work for delivery, which overlaps addresses: ask for less.',
      'Left out (optional): Rule "no-work" denies addresses.work for delivery, which overlaps addresses.*.country: ask for less.',
      "The vendor must keep to: keep data at most 30 days; no third-party sharing.",
    ]);
    expect(explain(evaluation)).not.toBe(evaluation.explanation);
  });

  it("says why a permit rule did not permit, and what is pending", () => {
    const evaluation = evaluate(compiled, { fields: [f("addresses.home", "delivery", true, 90)], accepts: { termsVersion: 2, duties: {} } }, SHOP);
    expect(evaluation.explanation).toEqual([
      "Pending under terms version 3: 1 of 1 requested item wait for the person's approval.",
      "The vendor read terms version 2; this is decided under version 3, by the duties the vendor accepts.",
      'Shared once the person approves: Rule "ask" permits addresses.home for delivery once the person approves.',
    ]);
    const strict = permit("ship", ["addresses"], { duties: { maxRetentionDays: 30, noThirdPartySharing: true, noProfiling: true } });
    const refused = evaluate(compileTerms({ rules: [strict] }, 1), { fields: [f("addresses.home", "delivery", true, 90)] }, SHOP);
    expect(refused.fields[0]?.reason).toBe(
      'Rule "ship" would permit addresses.home for delivery, but keeps data at most 30 days (the request says 90) and requires no third-party sharing, no profiling or tracking, which the request does not accept.',
    );
  });

  it("says which required items reject the request", () => {
    const evaluation = evaluate(
      compiled,
      { fields: [f("addresses.work", "delivery", true), f("emails", "marketing", true)], needs: { categories: ["books"], purpose: "marketing", retentionDays: 1 } },
      SHOP,
    );
    expect(evaluation.explanation[0]).toBe("Rejected under terms version 3: the required addresses.work, emails, needs in books are not shared.");
    expect(evaluation.explanation).toContain(
      "Not shared (required): No rule permits needs in books for marketing to this vendor; nothing is shared by default.",
    );
    const one = evaluate(compiled, { fields: [f("addresses.work", "delivery", true)] }, SHOP);
    expect(one.explanation[0]).toBe("Rejected under terms version 3: the required addresses.work is not shared.");
    const none = evaluate(compiled, { fields: [f("emails", "marketing", false)] }, SHOP);
    expect(none.explanation[0]).toBe("Rejected under terms version 3: none of 1 requested item would be shared.");
    expect(none.fields[0]?.reason).toBe('Rule "never-marketing" denies every field for marketing, which includes emails.');
  });

  it("words a deny of the very item, and a deny of every need category", () => {
    const terms = compileTerms({ rules: [deny("no-birthday", ["birthDate"]), { id: "no-needs", effect: "deny", needs: { categories: ["*"] } }, { id: "no-home", effect: "deny", needs: { categories: ["home"] } }] }, 1);
    const evaluation = evaluate(terms, { fields: [f("birthDate", "account", true)], needs: { categories: ["home"], purpose: "offers", retentionDays: 1 } }, SHOP);
    expect(evaluation.fields[0]?.reason).toBe('Rule "no-birthday" denies birthDate for account.');
    expect(evaluation.needs?.categories[0]?.reason).toBe('Rule "no-needs" denies needs in every category for offers, which includes needs in home.');
    const home = evaluate(compileTerms({ rules: [{ id: "no-home", effect: "deny", needs: { categories: ["home"] } }] }, 1), { fields: [f("name", "offers", false)], needs: { categories: ["home"], purpose: "offers", retentionDays: 1 } }, SHOP);
    expect(home.needs?.categories[0]?.reason).toBe('Rule "no-home" denies needs in home for offers.');
  });

  it("never quotes a rule's private description", () => {
    const secret = "my ex works at this shop";
    const evaluation = evaluate(compileTerms({ rules: [deny("x", ["*"], { description: secret })] }, 1), { fields: [f("name", "support", true)] }, SHOP);
    expect(JSON.stringify(evaluation)).not.toContain(secret);
  });
});

describe("the safe default", () => {
  it("asks about every field and every need, for any vendor and purpose", () => {
    const evaluation = evaluate(
      compileTerms(DEFAULT_TERMS, 1),
      { fields: [{ path: "*", purpose: "marketing", required: true, retentionDays: 3650 }], needs: { categories: ["*"], purpose: "research", retentionDays: 3650 } },
      OTHER,
    );
    expect(evaluation.outcome).toBe("pending");
    expect([...evaluation.fields, ...(evaluation.needs?.categories ?? [])].every((d) => d.decision === "ask")).toBe(true);
  });
});

describe("the worked examples of policies/README.md", () => {
  const rules: Rule[] = [
    { id: "never-marketing", effect: "deny", fields: ["*"], needs: { categories: ["*"] }, purposes: ["marketing"] },
    {
      id: "fulfil",
      effect: "permit",
      fields: ["name", "emails", "addresses.*"],
      purposes: ["fulfillment", "delivery", "support"],
      duties: { maxRetentionDays: 90, noThirdPartySharing: true, deleteOnRevoke: true },
    },
    { id: "ask-for-the-rest", effect: "permit", fields: ["*"], needs: { categories: ["*"] }, approval: "ask" },
  ];
  const request = (retentionDays: number, duties: AcceptedDuties): VendorRequest => ({
    fields: [
      { path: "addresses.home", purpose: "delivery", required: true, retentionDays },
      { path: "emails.personal", purpose: "marketing", required: false, retentionDays: 365 },
    ],
    needs: { categories: ["sports/cycling"], purpose: "offers", retentionDays: 30, required: false },
    accepts: { termsVersion: 3, duties },
  });
  const accepted: AcceptedDuties = { noThirdPartySharing: true, deleteOnRevoke: true };

  it("decides as the README says", () => {
    const evaluation = evaluate(compileTerms({ rules }, 3), request(30, accepted), OTHER);
    expect([...evaluation.fields, ...(evaluation.needs?.categories ?? [])].map((d) => [d.decision, d.rule, d.reason])).toEqual([
      ["permit", "fulfil", 'Rule "fulfil" permits addresses.home for delivery.'],
      ["deny", "never-marketing", 'Rule "never-marketing" denies every field for marketing, which includes emails.personal.'],
      ["ask", "ask-for-the-rest", 'Rule "ask-for-the-rest" permits needs in sports/cycling for offers once the person approves.'],
    ]);
    expect(evaluation.outcome).toBe("pending");
    expect(evaluation.explanation.at(-1)).toBe("The vendor must keep to: keep data at most 90 days; no third-party sharing; delete everything on revocation.");
  });

  it("a longer retention, or a refused duty", () => {
    expect(evaluate(compileTerms({ rules }, 3), request(120, accepted), OTHER).fields[0]).toMatchObject({ decision: "ask", code: "approval_required" });
    const strict = evaluate(compileTerms({ rules: rules.slice(0, 2) }, 3), request(120, accepted), OTHER);
    expect(strict.fields[0]).toMatchObject({
      decision: "deny",
      rule: "fulfil",
      code: "retention_too_long",
      reason: 'Rule "fulfil" would permit addresses.home for delivery, but keeps data at most 90 days (the request says 120).',
    });
    expect(strict.outcome).toBe("rejected");
    const refused = evaluate(compileTerms({ rules: rules.slice(0, 2) }, 3), request(30, { noThirdPartySharing: true }), OTHER);
    expect(refused.fields[0]?.reason).toBe("Rule \"fulfil\" would permit addresses.home for delivery, but requires deletion on revocation, which the request does not accept.");
  });

  it("a vendor-specific rule by domain", () => {
    const velo = compileTerms({ rules: [{ id: "velo", effect: "permit", needs: { categories: ["sports"] }, vendors: { domains: ["velo-lyon.example"] } }] }, 1);
    const ask: VendorRequest = { fields: [{ path: "name", purpose: "offers", required: false, retentionDays: 1 }], needs: { categories: ["sports/cycling"], purpose: "offers", retentionDays: 1 } };
    expect(evaluate(velo, ask, { id: OTHER.id, homepage: "https://www.velo-lyon.example/" }).needs?.categories[0]?.decision).toBe("permit");
    expect(evaluate(velo, ask, SHOP).needs?.categories[0]?.decision).toBe("deny");
  });
});
