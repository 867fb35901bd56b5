/**
 * Ready-made terms a person can start from. The templates are data
 * (`templates/*.json`); this module checks them once when loaded and freezes
 * them, so a broken template fails at start-up, not on a person's request.
 */
import askAboutEverything from "./templates/ask-about-everything.json" with { type: "json" };
import fulfillmentOnly from "./templates/fulfillment-only.json" with { type: "json" };
import noMarketing from "./templates/no-marketing.json" with { type: "json" };
import noStalking from "./templates/no-stalking.json" with { type: "json" };
import { TermsError } from "./engine.js";
import { checkTerms } from "./check.js";
import type { Template, TermsInput, TermsProblem } from "./types.js";

const TEMPLATE_ID = /^[a-z][a-z0-9-]{0,63}$/;

/** A template from data: checked (throws `TermsError`) and deeply frozen. */
export function loadTemplate(data: unknown): Template {
  const template = data as Template;
  const errors: TermsProblem[] = [];
  if (typeof data !== "object" || data === null || !TEMPLATE_ID.test(String(template.id))) {
    errors.push({ rule: null, pointer: "/id", message: "a template needs an id like `no-marketing`" });
  } else {
    for (const key of ["title", "description"] as const) {
      if (typeof template[key] !== "string" || template[key].length === 0) {
        errors.push({ rule: null, pointer: `/${key}`, message: `a template needs a ${key}` });
      }
    }
    const checked = checkTerms(template.terms);
    if (!checked.ok) errors.push(...checked.errors.map((e) => ({ ...e, pointer: `/terms${e.pointer}` })));
  }
  if (errors.length > 0) throw new TermsError(errors);
  return deepFreeze(structuredClone(template));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

/** The templates, safest first. */
export const TEMPLATES: readonly Template[] = Object.freeze(
  [askAboutEverything, fulfillmentOnly, noMarketing, noStalking].map(loadTemplate),
);

/** Where every new person starts: nothing is shared without asking. */
export const DEFAULT_TERMS: TermsInput = (TEMPLATES[0] as Template).terms;
