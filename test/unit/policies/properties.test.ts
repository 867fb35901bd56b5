import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  compileTerms,
  evaluate,
  grantedCategories,
  grantedPaths,
  leafPaths,
  narrowCategories,
  narrowGrant,
  parsePath,
  pathCovers,
  pathMatches,
  redact,
} from "../../../policies/index.js";
import type { Decision, Evaluation, Rule, TermsInput, Vendor, VendorRequest } from "../../../policies/index.js";
import { anyAccepted, anyCategory, anyPath, anyProfile, anyRequest, anyTerms, anyVendor, ruleWithId } from "./arbitraries.js";

const RUNS = { numRuns: 400 };
const RANK: Record<Decision, number> = { deny: 0, ask: 1, permit: 2 };

// ---------------------------------------------------------------------------
// A naive model of the semantics, written from the README and nothing else:
// overlap by brute force over concrete witnesses, rules in document order.

const FIELD_WITNESSES = (() => {
  const levels = [
    ["name", "emails", "addresses", "preferences", "birthDate", "zz"],
    ["given", "family", "home", "work", "personal", "sizes", "zz"],
    ["country", "locality", "lines", "shoe", "zz"],
  ];
  const out: string[] = [];
  for (const a of levels[0] ?? []) for (const b of levels[1] ?? []) for (const c of levels[2] ?? []) out.push(`${a}.${b}.${c}`);
  return out.map((p) => parsePath(p));
})();

const CATEGORY_WITNESSES = (() => {
  const names = ["home", "furniture", "sports", "cycling", "zz"];
  return names.flatMap((a) => names.map((b) => [a, b]));
})();

const catMatches = (pattern: readonly string[], concrete: readonly string[]) =>
  pattern.length <= concrete.length && pattern.every((s, i) => s === "*" || s === concrete[i]);

function fieldOverlap(a: string, b: string): boolean {
  const pa = parsePath(a);
  const pb = parsePath(b);
  return FIELD_WITNESSES.some((w) => pathMatches(pa, w) && pathMatches(pb, w));
}

function categoryOverlap(a: string, b: string): boolean {
  return CATEGORY_WITNESSES.some((w) => catMatches(a.split("/"), w) && catMatches(b.split("/"), w));
}

function hostOf(homepage: string): string | null {
  try {
    const url = new URL(homepage);
    return url.protocol.startsWith("http") ? url.hostname.replace(/\.$/, "") : null;
  } catch {
    return null;
  }
}

function speaksTo(rule: Rule, vendor: Vendor, purpose: string): boolean {
  if (rule.purposes !== undefined && !rule.purposes.includes(purpose as never)) return false;
  const v = rule.vendors;
  if (v === undefined || "any" in v) return true;
  if ("ids" in v) return v.ids.includes(vendor.id);
  const host = hostOf(vendor.homepage);
  return host !== null && v.domains.some((d) => host === d || host.endsWith(`.${d}`));
}

function modelItem(
  rules: readonly Rule[],
  vendor: Vendor,
  request: VendorRequest,
  item: string,
  purpose: string,
  retentionDays: number,
  kind: "field" | "category",
): [Decision, string | null] {
  const patterns = (rule: Rule) => (kind === "field" ? (rule.fields ?? []) : (rule.needs?.categories ?? []));
  const overlap = kind === "field" ? fieldOverlap : categoryOverlap;
  const covers =
    kind === "field" ? (a: string, b: string) => pathCovers(parsePath(a), parsePath(b)) : (a: string, b: string) => catMatches(a.split("/"), b.split("/"));
  const live = rules.filter((r) => speaksTo(r, vendor, purpose));
  const denying = live.find((r) => r.effect === "deny" && patterns(r).some((p) => overlap(p, item)));
  if (denying) return ["deny", denying.id];
  const accepted = request.accepts?.duties ?? {};
  const covering = live.filter((r) => r.effect === "permit" && patterns(r).some((p) => covers(p, item)));
  const fits = (r: Rule) => {
    const d = r.duties ?? {};
    return (
      retentionDays <= (d.maxRetentionDays ?? Infinity) &&
      (!d.noThirdPartySharing || accepted.noThirdPartySharing === true) &&
      (!d.noProfiling || accepted.noProfiling === true) &&
      (!d.deleteOnRevoke || accepted.deleteOnRevoke === true)
    );
  };
  const auto = covering.find((r) => fits(r) && r.approval !== "ask");
  if (auto) return ["permit", auto.id];
  const ask = covering.find((r) => fits(r));
  if (ask) return ["ask", ask.id];
  return ["deny", covering[0]?.id ?? null];
}

function model(terms: TermsInput, request: VendorRequest, vendor: Vendor) {
  const fields = request.fields.map((f) => modelItem(terms.rules, vendor, request, f.path, f.purpose, f.retentionDays, "field"));
  const needs = (request.needs?.categories ?? []).map((c) =>
    modelItem(terms.rules, vendor, request, c, request.needs?.purpose as string, request.needs?.retentionDays as number, "category"),
  );
  const items = [
    ...fields.map(([d], i) => ({ d, required: request.fields[i]?.required })),
    ...needs.map(([d]) => ({ d, required: request.needs?.required !== false })),
  ];
  const outcome =
    items.some((i) => i.d === "deny" && i.required) || items.every((i) => i.d === "deny")
      ? "rejected"
      : items.some((i) => i.d === "ask")
        ? "pending"
        : "active";
  return { fields, needs, outcome };
}

const decisions = (evaluation: Evaluation) => evaluation.fields.map((f) => f.decision);

// ---------------------------------------------------------------------------

describe("evaluation agrees with a naive model of the semantics", () => {
  it("for every item: decision, deciding rule; and the outcome", () => {
    fc.assert(
      fc.property(anyTerms, anyRequest, anyVendor, (terms, request, vendor) => {
        const evaluation = evaluate(compileTerms(terms, 1), request, vendor);
        const expected = model(terms, request, vendor);
        expect(evaluation.fields.map((f) => [f.decision, f.rule])).toEqual(expected.fields);
        expect(evaluation.needs?.categories.map((c) => [c.decision, c.rule]) ?? []).toEqual(expected.needs);
        expect(evaluation.outcome).toBe(expected.outcome);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("redaction", () => {
  it("never returns a field that evaluation did not permit", () => {
    fc.assert(
      fc.property(anyTerms, anyRequest, anyVendor, anyProfile, fc.boolean(), (terms, request, vendor, profile, includeAsk) => {
        const evaluation = evaluate(compileTerms(terms, 1), request, vendor);
        const allowed = evaluation.fields
          .filter((f) => evaluation.outcome !== "rejected" && (f.decision === "permit" || (includeAsk && f.decision === "ask")))
          .map((f) => parsePath(f.path));
        const redacted = redact(profile, grantedPaths(evaluation, { includeAsk }));
        for (const leaf of leafPaths(redacted)) {
          expect(allowed.some((p) => pathMatches(p, parsePath(leaf))), leaf).toBe(true);
        }
        // And it is exactly the profile's data under the granted paths.
        const expected = leafPaths(profile).filter((leaf) => allowed.some((p) => pathMatches(p, parsePath(leaf))));
        expect(leafPaths(redacted)).toEqual(expected);
      }),
      RUNS,
    );
  });
});

describe("monotonicity", () => {
  it("adding a deny never widens a grant", () => {
    fc.assert(
      fc.property(
        anyTerms,
        ruleWithId("added").map((r) => ({ ...r, effect: "deny" as const, duties: undefined, approval: undefined })),
        fc.nat(),
        anyRequest,
        anyVendor,
        (terms, denyRule, at, request, vendor) => {
          const rules = terms.rules.slice();
          rules.splice(at % (rules.length + 1), 0, JSON.parse(JSON.stringify(denyRule)) as Rule);
          const before = evaluate(compileTerms(terms, 1), request, vendor);
          const after = evaluate(compileTerms({ rules }, 2), request, vendor);
          after.fields.forEach((f, i) => expect(RANK[f.decision]).toBeLessThanOrEqual(RANK[before.fields[i]?.decision as Decision]));
          for (const includeAsk of [false, true]) {
            const wider = new Set(grantedPaths(before, { includeAsk }));
            for (const path of grantedPaths(after, { includeAsk })) expect(wider.has(path)).toBe(true);
            const widerCategories = new Set(grantedCategories(before, { includeAsk }));
            for (const category of grantedCategories(after, { includeAsk })) expect(widerCategories.has(category)).toBe(true);
          }
          if (before.outcome === "rejected") expect(after.outcome).toBe("rejected");
        },
      ),
      RUNS,
    );
  });

  it("a narrower request (some of the fields) never receives more than the wider one", () => {
    fc.assert(
      fc.property(anyTerms, anyRequest, anyVendor, fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }), (terms, request, vendor, keep) => {
        const compiled = compileTerms(terms, 1);
        const kept = request.fields.filter((_, i) => keep[i]);
        fc.pre(kept.length > 0);
        const narrower: VendorRequest = { ...request, fields: kept };
        const wide = evaluate(compiled, request, vendor);
        const narrow = evaluate(compiled, narrower, vendor);
        // Each field is decided on its own: the same decision either way.
        const wideByIndex = request.fields.map((_, i) => wide.fields[i]).filter((_, i) => keep[i]);
        expect(narrow.fields).toEqual(wideByIndex);
        if (wide.outcome !== "rejected") {
          for (const includeAsk of [false, true]) {
            const wider = new Set(grantedPaths(wide, { includeAsk }));
            for (const path of grantedPaths(narrow, { includeAsk })) expect(wider.has(path)).toBe(true);
          }
        }
      }),
      RUNS,
    );
  });

  it("a request that promises less (longer retention, fewer duties) never receives more", () => {
    fc.assert(
      fc.property(anyTerms, anyRequest, anyVendor, fc.nat({ max: 400 }), anyAccepted, (terms, request, vendor, extra, accepted) => {
        const compiled = compileTerms(terms, 1);
        const promised = request.accepts?.duties ?? {};
        const less: VendorRequest = {
          ...request,
          fields: request.fields.map((f) => ({ ...f, retentionDays: f.retentionDays + extra })),
          accepts: {
            duties: Object.fromEntries(Object.entries(promised).filter(([key]) => key in accepted)),
          },
        };
        const more = evaluate(compiled, request, vendor);
        const fewer = evaluate(compiled, less, vendor);
        fewer.fields.forEach((f, i) => expect(RANK[f.decision]).toBeLessThanOrEqual(RANK[more.fields[i]?.decision as Decision]));
      }),
      RUNS,
    );
  });
});

describe("determinism", () => {
  it("the same terms and request always give the same evaluation", () => {
    fc.assert(
      fc.property(anyTerms, anyRequest, anyVendor, (terms, request, vendor) => {
        const compiled = compileTerms(terms, 4);
        const first = evaluate(compiled, request, vendor);
        expect(evaluate(compiled, request, vendor)).toEqual(first);
        expect(evaluate(compileTerms(JSON.parse(JSON.stringify(terms)) as TermsInput, 4), JSON.parse(JSON.stringify(request)) as VendorRequest, { ...vendor })).toEqual(first);
        expect(JSON.parse(JSON.stringify(first))).toEqual(first);
      }),
      RUNS,
    );
  });

  it("the order of the requested fields only orders the decisions", () => {
    fc.assert(
      fc.property(anyTerms, anyRequest, anyVendor, (terms, request, vendor) => {
        const compiled = compileTerms(terms, 1);
        const reversed = evaluate(compiled, { ...request, fields: request.fields.slice().reverse() }, vendor);
        const forward = evaluate(compiled, request, vendor);
        expect(reversed.fields.slice().reverse()).toEqual(forward.fields);
        expect(reversed.outcome).toBe(forward.outcome);
        expect(reversed.duties).toEqual(forward.duties);
        expect(decisions(forward)).toHaveLength(request.fields.length);
      }),
      RUNS,
    );
  });
});

describe("narrowing a live grant", () => {
  const concrete = (paths: readonly string[], w: (typeof FIELD_WITNESSES)[number]) => paths.some((p) => pathMatches(parsePath(p), w));

  it("is exactly the intersection of the old grant and what the new terms grant", () => {
    fc.assert(
      fc.property(fc.array(anyPath, { maxLength: 4 }), anyTerms, anyRequest, anyVendor, (previous, terms, request, vendor) => {
        const next = evaluate(compileTerms(terms, 2), request, vendor);
        const narrowed = narrowGrant(previous, next);
        const now = grantedPaths(next, { includeAsk: true });
        for (const w of FIELD_WITNESSES) {
          expect(concrete(narrowed, w), w.text).toBe(concrete(previous, w) && concrete(now, w));
        }
        // Never wider than before, path by path; nothing listed twice or covered by another.
        for (const path of narrowed) expect(previous.some((p) => pathCovers(parsePath(p), parsePath(path)))).toBe(true);
        narrowed.forEach((a, i) => narrowed.forEach((b, j) => i !== j && expect(pathCovers(parsePath(a), parsePath(b))).toBe(false)));
      }),
      RUNS,
    );
  });

  it("does the same for need categories", () => {
    fc.assert(
      fc.property(fc.array(anyCategory, { maxLength: 3 }), anyTerms, anyRequest, anyVendor, (previous, terms, request, vendor) => {
        const next = evaluate(compileTerms(terms, 2), request, vendor);
        const narrowed = narrowCategories(previous, next);
        const now = grantedCategories(next, { includeAsk: true });
        for (const w of CATEGORY_WITNESSES) {
          const inBoth = previous.some((p) => catMatches(p.split("/"), w)) && now.some((p) => catMatches(p.split("/"), w));
          expect(narrowed.some((p) => catMatches(p.split("/"), w))).toBe(inBoth);
        }
      }),
      RUNS,
    );
  });
});
