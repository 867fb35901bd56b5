import { describe, expect, it } from "vitest";
import { DEFAULT_TERMS, TEMPLATES, checkTerms, compileTerms, evaluate } from "../../../policies/index.js";
import type { AcceptedDuties, Decision, DecisionCode, Outcome, Purpose, Template } from "../../../policies/index.js";

const vendor = { id: "0b6f7c1e-4a53-4d8e-9a43-5c2f0f0d2a11", homepage: "https://shop.example" };
const ALL_DUTIES: AcceptedDuties = { noThirdPartySharing: true, noProfiling: true, deleteOnRevoke: true };

function template(id: string): Template {
  const found = TEMPLATES.find((t) => t.id === id);
  if (!found) throw new Error(`no template ${id}`);
  return found;
}

/** [path or `needs:category`, purpose, retention days, accepted duties] → [decision, code]. */
type Row = [item: string, purpose: Purpose, retentionDays: number, accepts: AcceptedDuties, expected: [Decision, DecisionCode]];

function decide(t: Template, [item, purpose, retentionDays, accepts]: Row): [Decision, DecisionCode] {
  const compiled = compileTerms(t.terms, 1);
  const request = item.startsWith("needs:")
    ? { fields: [{ path: "name", purpose, required: false, retentionDays }], needs: { categories: [item.slice(6)], purpose, retentionDays }, accepts: { duties: accepts } }
    : { fields: [{ path: item, purpose, required: true, retentionDays }], accepts: { duties: accepts } };
  const evaluation = evaluate(compiled, request, vendor);
  const decided = item.startsWith("needs:") ? evaluation.needs?.categories[0] : evaluation.fields[0];
  return [decided?.decision as Decision, decided?.code as DecisionCode];
}

const behaviour: Record<string, Row[]> = {
  "ask-about-everything": [
    ["name", "fulfillment", 30, {}, ["ask", "approval_required"]],
    ["*", "marketing", 3650, {}, ["ask", "approval_required"]],
    ["needs:home/furniture", "offers", 30, {}, ["ask", "approval_required"]],
  ],
  "fulfillment-only": [
    ["addresses.home", "delivery", 30, ALL_DUTIES, ["permit", "permitted"]],
    ["name", "fulfillment", 365, ALL_DUTIES, ["permit", "permitted"]],
    ["name", "fulfillment", 366, ALL_DUTIES, ["deny", "retention_too_long"]],
    ["emails.personal", "support", 30, { noThirdPartySharing: true }, ["deny", "duty_refused"]],
    ["emails.personal", "marketing", 30, ALL_DUTIES, ["deny", "no_matching_rule"]],
    ["birthDate", "fulfillment", 30, ALL_DUTIES, ["deny", "no_matching_rule"]],
    ["needs:books", "offers", 30, ALL_DUTIES, ["deny", "no_matching_rule"]],
  ],
  "no-marketing": [
    ["emails", "marketing", 1, ALL_DUTIES, ["deny", "denied_by_rule"]],
    ["needs:books", "marketing", 1, ALL_DUTIES, ["deny", "denied_by_rule"]],
    ["addresses.home", "delivery", 30, { noThirdPartySharing: true, deleteOnRevoke: true }, ["permit", "permitted"]],
    ["addresses.home", "delivery", 30, {}, ["ask", "approval_required"]],
    ["birthDate", "personalization", 30, {}, ["ask", "approval_required"]],
    ["needs:books", "offers", 30, {}, ["ask", "approval_required"]],
  ],
  "no-stalking": [
    ["emails.personal", "account", 30, ALL_DUTIES, ["permit", "permitted"]],
    ["preferences.sizes", "personalization", 30, ALL_DUTIES, ["permit", "permitted"]],
    ["needs:sports/cycling", "offers", 30, ALL_DUTIES, ["permit", "permitted"]],
    ["addresses.home", "delivery", 30, ALL_DUTIES, ["ask", "approval_required"]],
    ["emails.personal", "marketing", 30, ALL_DUTIES, ["ask", "approval_required"]],
    ["emails.personal", "account", 30, { noThirdPartySharing: true, deleteOnRevoke: true }, ["deny", "duty_refused"]],
    ["needs:sports", "offers", 30, { noProfiling: true }, ["deny", "duty_refused"]],
    ["addresses.home", "delivery", 30, {}, ["deny", "duty_refused"]],
  ],
};

describe("templates", () => {
  it("are the four promised ones, with unique ids, each valid terms", () => {
    expect(TEMPLATES.map((t) => t.id)).toEqual(["ask-about-everything", "fulfillment-only", "no-marketing", "no-stalking"]);
    expect(template("no-stalking").title).toBe("#NoStalking");
    for (const t of TEMPLATES) {
      expect(checkTerms(t.terms), t.id).toEqual({ ok: true });
      expect(t.title.length).toBeGreaterThan(0);
      expect(t.description.length).toBeGreaterThan(0);
    }
  });

  it("are frozen: nobody changes them by accident", () => {
    expect(Object.isFrozen(TEMPLATES)).toBe(true);
    const rule = TEMPLATES[1]?.terms.rules[0];
    expect(Object.isFrozen(rule)).toBe(true);
    expect(() => rule?.fields?.push("birthDate")).toThrow(TypeError);
  });

  it("a new person starts from asking about everything", () => {
    expect(DEFAULT_TERMS).toBe(template("ask-about-everything").terms);
    const outcomes: Outcome[] = ["pending"];
    const evaluation = evaluate(compileTerms(DEFAULT_TERMS, 1), { fields: [{ path: "*", purpose: "marketing", required: true, retentionDays: 3650 }] }, vendor);
    expect(outcomes).toContain(evaluation.outcome);
  });

  for (const [id, rows] of Object.entries(behaviour)) {
    it.each(rows)(`${id}: %s for %s, %i days, accepting %o`, (...row) => {
      expect(decide(template(id), row)).toEqual(row[4]);
    });
  }
});
