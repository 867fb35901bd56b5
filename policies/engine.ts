/**
 * The terms engine: compile a terms version once, then decide vendor requests
 * against it, item by item (each requested field, each requested need
 * category), with the rule that decided and why.
 *
 * Semantics (policies/README.md says the same with examples):
 * - default deny: an item no rule permits is denied;
 * - deny overrides permit: a deny rule that applies to the vendor and the
 *   purpose and whose pattern overlaps the item (some concrete path matches
 *   both, e.g. either covers the other) denies it;
 * - a permit rule permits an item only when one of its patterns covers the
 *   whole item, the request's retention is within the rule's
 *   `maxRetentionDays`, and the request accepts each of the rule's boolean
 *   duties; among the permit rules that do, the first `auto` one decides,
 *   else the first `ask` one;
 * - outcome: `rejected` when a required item is denied or nothing at all
 *   would be shared; else `pending` when some item asks; else `active`.
 */
import { parsePath, pathCovers, WILDCARD, type FieldPath } from "./paths.js";
import { parseCategory, segmentsCover, segmentsOverlap } from "./patterns.js";
import { checkTerms } from "./check.js";
import type {
  CategoryDecision,
  Decision,
  DecisionCode,
  Duties,
  Effect,
  Evaluation,
  FieldDecision,
  NeedsDecision,
  Outcome,
  TermsInput,
  TermsProblem,
  Vendor,
  VendorRequest,
} from "./types.js";
import { PURPOSE_TOKENS, purposeOrdinal } from "./vocabulary.js";

/** Thrown by `compileTerms` for terms that `checkTerms` refuses. */
export class TermsError extends Error {
  readonly errors: readonly TermsProblem[];
  constructor(errors: readonly TermsProblem[]) {
    super(`Invalid terms: ${errors.map((e) => `${e.pointer || "/"}: ${e.message}`).join("; ")}`);
    this.name = "TermsError";
    this.errors = errors;
  }
}

// Boolean duties as bits, so a request's acceptance is one mask test per rule.
const NO_THIRD_PARTY = 1;
const NO_PROFILING = 2;
const DELETE_ON_REVOKE = 4;
const DUTY_NAMES: readonly (readonly [number, string])[] = [
  [NO_THIRD_PARTY, "no third-party sharing"],
  [NO_PROFILING, "no profiling or tracking"],
  [DELETE_ON_REVOKE, "deletion on revocation"],
];
const ALL_PURPOSES = (1 << PURPOSE_TOKENS.length) - 1;

/** The boolean duties that are true (a rule's) or accepted (a request's), as bits. */
function dutyBits(duties: { noThirdPartySharing?: boolean; noProfiling?: boolean; deleteOnRevoke?: boolean } | undefined): number {
  if (duties === undefined) return 0;
  return (
    (duties.noThirdPartySharing === true ? NO_THIRD_PARTY : 0) |
    (duties.noProfiling === true ? NO_PROFILING : 0) |
    (duties.deleteOnRevoke === true ? DELETE_ON_REVOKE : 0)
  );
}

const VENDOR_ANY = 0;
const VENDOR_IDS = 1;
const VENDOR_DOMAINS = 2;

interface CompiledRule {
  readonly index: number;
  readonly id: string;
  readonly effect: Effect;
  readonly ask: boolean;
  /** Bit i set: the rule speaks to PURPOSE_TOKENS[i]. */
  readonly purposeMask: number;
  readonly vendorKind: number;
  readonly vendorIds: ReadonlySet<string>;
  /** Each selector domain, and the same with a leading dot (for subdomains). */
  readonly vendorDomains: readonly (readonly [string, string])[];
  readonly duties: Readonly<Duties>;
  readonly maxRetentionDays: number;
  readonly dutyMask: number;
  /** `Rule "id" permits `: how this rule's permit (or ask) reasons start. */
  readonly grantPrefix: string;
  /** By purpose ordinal: how they end (` for delivery.`). */
  readonly grantSuffixes: readonly string[];
}

interface PathEntry {
  readonly rule: CompiledRule;
  readonly path: FieldPath;
}

interface CategoryEntry {
  readonly rule: CompiledRule;
  readonly text: string;
  readonly segments: readonly string[];
}

/** Field-path entries of one effect, indexed by first segment. */
interface PathIndex {
  /** First segment → entries whose first segment is that name or `*`, in rule order. */
  readonly byFirst: ReadonlyMap<string, readonly PathEntry[]>;
  /** Entries whose first segment is `*`. */
  readonly star: readonly PathEntry[];
  readonly all: readonly PathEntry[];
}

/** Terms compiled for evaluation. Opaque: make one with `compileTerms`, keep it per version. */
export class CompiledTerms {
  readonly version: number;
  /** @internal */ readonly rules: readonly CompiledRule[];
  /** @internal */ readonly denyPaths: PathIndex;
  /** @internal */ readonly permitPaths: PathIndex;
  /** @internal */ readonly denyCategories: readonly CategoryEntry[];
  /** @internal */ readonly permitCategories: readonly CategoryEntry[];
  /** @internal */ readonly vendorSpecific: boolean;
  /** @internal Vendor id → which rules apply to it, for the homepage it had. */
  readonly vendorCache = new Map<string, { homepage: unknown; rules: Uint8Array }>();

  /** @internal */
  constructor(version: number, rules: readonly CompiledRule[], paths: PathEntry[], categories: CategoryEntry[]) {
    this.version = version;
    this.rules = rules;
    this.denyPaths = indexPaths(paths.filter((e) => e.rule.effect === "deny"));
    this.permitPaths = indexPaths(paths.filter((e) => e.rule.effect === "permit"));
    this.denyCategories = categories.filter((e) => e.rule.effect === "deny");
    this.permitCategories = categories.filter((e) => e.rule.effect === "permit");
    this.vendorSpecific = rules.some((r) => r.vendorKind !== VENDOR_ANY);
    Object.freeze(this);
  }
}

function indexPaths(all: PathEntry[]): PathIndex {
  const star = all.filter((e) => e.path.segments[0] === WILDCARD);
  const byFirst = new Map<string, PathEntry[]>();
  for (const entry of all) {
    const first = entry.path.segments[0] as string;
    if (first !== WILDCARD && !byFirst.has(first)) {
      byFirst.set(first, all.filter((e) => e.path.segments[0] === first || e.path.segments[0] === WILDCARD));
    }
  }
  return { byFirst, star, all };
}

/**
 * Compiles terms once per version. Throws `TermsError` for terms that
 * `checkTerms` refuses. Reuse the result for every evaluation of that version.
 */
export function compileTerms(terms: TermsInput, version: number): CompiledTerms {
  const checked = checkTerms(terms);
  if (!checked.ok) throw new TermsError(checked.errors);
  if (!Number.isInteger(version) || version < 0) throw new RangeError(`a terms version is a whole number >= 0, not ${version}`);
  const rules: CompiledRule[] = [];
  const paths: PathEntry[] = [];
  const categories: CategoryEntry[] = [];
  terms.rules.forEach((rule, index) => {
    const duties: Duties = { ...rule.duties };
    const vendors = rule.vendors;
    const compiled: CompiledRule = Object.freeze({
      index,
      id: rule.id,
      effect: rule.effect,
      ask: rule.approval === "ask",
      purposeMask: rule.purposes === undefined ? ALL_PURPOSES : rule.purposes.reduce((mask, p) => mask | (1 << purposeOrdinal(p)), 0),
      vendorKind: vendors === undefined || "any" in vendors ? VENDOR_ANY : "ids" in vendors ? VENDOR_IDS : VENDOR_DOMAINS,
      vendorIds: new Set(vendors !== undefined && "ids" in vendors ? vendors.ids.map((id) => id.toLowerCase()) : []),
      vendorDomains: vendors !== undefined && "domains" in vendors ? vendors.domains.map((d) => [d, `.${d}`] as const) : [],
      duties: Object.freeze(duties),
      maxRetentionDays: duties.maxRetentionDays ?? Infinity,
      dutyMask: dutyBits(duties),
      grantPrefix: `Rule "${rule.id}" permits `,
      grantSuffixes: PURPOSE_TOKENS.map((p) => (rule.approval === "ask" ? ` for ${p} once the person approves.` : ` for ${p}.`)),
    });
    rules.push(compiled);
    for (const text of rule.fields ?? []) paths.push({ rule: compiled, path: parsePath(text) });
    for (const text of rule.needs?.categories ?? []) {
      categories.push({ rule: compiled, text, segments: parseCategory(text) as readonly string[] });
    }
  });
  return new CompiledTerms(version, Object.freeze(rules), paths, categories);
}

// ---------------------------------------------------------------------------
// Evaluation

/** Per-evaluation facts shared by every item. */
interface Context {
  readonly compiled: CompiledTerms;
  /** Rule index → applies to this vendor; null when every rule does. */
  readonly vendorRules: Uint8Array | null;
  readonly accepted: number;
}

interface Verdict {
  readonly decision: Decision;
  readonly rule: CompiledRule | null;
  readonly code: DecisionCode;
  readonly reason: string;
}

/** Decides `request` from `vendor` under `compiled`. Pure and deterministic. */
export function evaluate(compiled: CompiledTerms, request: VendorRequest, vendor: Vendor): Evaluation {
  const context: Context = {
    compiled,
    vendorRules: compiled.vendorSpecific ? cachedVendorRules(compiled, vendor) : null,
    accepted: dutyBits(request.accepts?.duties),
  };
  const tally = new Tally();

  const fields: FieldDecision[] = [];
  for (const field of request.fields) {
    const required = field.required !== false;
    const verdict = decideField(context, field.path, field.purpose, retentionOf(field.retentionDays));
    tally.add(verdict, required, field.path);
    fields.push({
      path: field.path,
      purpose: field.purpose,
      required,
      decision: verdict.decision,
      rule: verdict.rule === null ? null : verdict.rule.id,
      reason: verdict.reason,
      code: verdict.code,
    });
  }

  let needs: NeedsDecision | undefined;
  const needsRequest = request.needs;
  if (needsRequest !== undefined) {
    const required = needsRequest.required !== false;
    const categories: CategoryDecision[] = [];
    for (const category of needsRequest.categories) {
      const verdict = decideCategory(context, category, needsRequest.purpose, retentionOf(needsRequest.retentionDays));
      tally.add(verdict, required, `needs in ${category}`);
      categories.push({
        category,
        decision: verdict.decision,
        rule: verdict.rule === null ? null : verdict.rule.id,
        reason: verdict.reason,
        code: verdict.code,
      });
    }
    needs = { purpose: needsRequest.purpose, required, retentionDays: needsRequest.retentionDays, categories };
  }

  const outcome = tally.outcome();
  const grantDuties = outcome === "rejected" ? {} : tally.duties();
  const explanation = explainAll(compiled.version, outcome, tally, request, fields, needs, grantDuties);
  const termsVersion = compiled.version;
  return needs === undefined
    ? { termsVersion, outcome, fields, duties: grantDuties, explanation }
    : { termsVersion, outcome, fields, needs, duties: grantDuties, explanation };
}

/** A request's retention; anything but a number of days counts as keeping forever. */
function retentionOf(days: unknown): number {
  return typeof days === "number" && days >= 0 ? days : Infinity;
}

/** The explanation of an evaluation, line by line, for the person and the vendor alike. */
export function explain(evaluation: Evaluation): string[] {
  return evaluation.explanation.slice();
}

const VENDOR_CACHE_LIMIT = 256;

/** vendorRules, remembered per compiled terms for the vendors last seen. */
function cachedVendorRules(compiled: CompiledTerms, vendor: Vendor): Uint8Array {
  const key = String(vendor.id);
  const hit = compiled.vendorCache.get(key);
  if (hit !== undefined && hit.homepage === vendor.homepage) return hit.rules;
  const rules = vendorRules(compiled, vendor);
  if (compiled.vendorCache.size >= VENDOR_CACHE_LIMIT) compiled.vendorCache.clear();
  compiled.vendorCache.set(key, { homepage: vendor.homepage, rules });
  return rules;
}

function vendorRules(compiled: CompiledTerms, vendor: Vendor): Uint8Array {
  const out = new Uint8Array(compiled.rules.length);
  const id = typeof vendor.id === "string" ? vendor.id.toLowerCase() : "";
  let host: string | null | undefined;
  for (const rule of compiled.rules) {
    let applies = rule.vendorKind === VENDOR_ANY;
    if (rule.vendorKind === VENDOR_IDS) {
      applies = rule.vendorIds.has(id);
    } else if (rule.vendorKind === VENDOR_DOMAINS) {
      host ??= hostOf(vendor.homepage);
      const h = host;
      applies = h !== null && rule.vendorDomains.some(([domain, dotted]) => h === domain || h.endsWith(dotted));
    }
    out[rule.index] = applies ? 1 : 0;
  }
  return out;
}

const HOST_CACHE_LIMIT = 1024;
const hostCache = new Map<string, string | null>();

/** The lower-case host of an http(s) URL, without a trailing dot; null for anything else. */
function hostOf(homepage: unknown): string | null {
  if (typeof homepage !== "string") return null;
  let host = hostCache.get(homepage);
  if (host === undefined) {
    host = null;
    if (URL.canParse(homepage)) {
      const url = new URL(homepage);
      if ((url.protocol === "https:" || url.protocol === "http:") && url.hostname !== "") {
        host = url.hostname.toLowerCase().replace(/\.$/, "");
      }
    }
    if (hostCache.size >= HOST_CACHE_LIMIT) hostCache.clear();
    hostCache.set(homepage, host);
  }
  return host;
}

const PATH_CACHE_LIMIT = 4096;
const pathCache = new Map<string, FieldPath | null>();

/** parsePath, remembered (parsed paths are immutable); null for an invalid path. */
function cachedPath(text: string): FieldPath | null {
  let path = pathCache.get(text);
  if (path === undefined) {
    try {
      path = parsePath(text);
    } catch {
      path = null;
    }
    if (pathCache.size >= PATH_CACHE_LIMIT) pathCache.clear();
    pathCache.set(text, path);
  }
  return path;
}

function applies(context: Context, rule: CompiledRule, purposeBit: number): boolean {
  return (rule.purposeMask & purposeBit) !== 0 && (context.vendorRules === null || context.vendorRules[rule.index] === 1);
}

function ordinalOf(purpose: unknown): number {
  return typeof purpose === "string" ? purposeOrdinal(purpose) : -1;
}

function decideField(context: Context, text: string, purpose: string, retentionDays: number): Verdict {
  const path = typeof text === "string" ? cachedPath(text) : null;
  if (path === null) {
    return refuse("invalid_path", `${JSON.stringify(text)} is not a field path, so it is not shared.`);
  }
  const ordinal = ordinalOf(purpose);
  if (ordinal < 0) return refuse("unknown_purpose", `${JSON.stringify(purpose)} is not a known purpose, so ${text} is not shared.`);
  const bit = 1 << ordinal;
  const first = path.segments[0] as string;
  const { denyPaths, permitPaths } = context.compiled;

  const denies = first === WILDCARD ? denyPaths.all : (denyPaths.byFirst.get(first) ?? denyPaths.star);
  for (const entry of denies) {
    if (applies(context, entry.rule, bit) && segmentsOverlap(entry.path.segments, path.segments)) {
      const pattern = entry.path.text === WILDCARD ? "every field" : entry.path.text;
      return denied(entry.rule, pattern, text, purpose, pathCovers(entry.path, path));
    }
  }

  const permits = first === WILDCARD ? permitPaths.star : (permitPaths.byFirst.get(first) ?? permitPaths.star);
  let ask: CompiledRule | null = null;
  let failed: CompiledRule | null = null;
  for (const entry of permits) {
    const rule = entry.rule;
    if (!applies(context, rule, bit) || !pathCovers(entry.path, path)) continue;
    if (retentionDays > rule.maxRetentionDays || (rule.dutyMask & ~context.accepted) !== 0) {
      failed ??= rule;
    } else if (!rule.ask) {
      return granted(rule, text, ordinal);
    } else {
      ask ??= rule;
    }
  }
  if (ask !== null) return granted(ask, text, ordinal);
  return settle(context, failed, text, purpose, retentionDays);
}

function decideCategory(context: Context, category: string, purpose: string, retentionDays: number): Verdict {
  const item = `needs in ${category}`;
  const segments = parseCategory(category);
  if (segments === undefined) {
    return refuse("invalid_category", `${JSON.stringify(category)} is not a need category, so it is not shared.`);
  }
  const ordinal = ordinalOf(purpose);
  if (ordinal < 0) return refuse("unknown_purpose", `${JSON.stringify(purpose)} is not a known purpose, so ${item} are not shared.`);
  const bit = 1 << ordinal;
  const { denyCategories, permitCategories } = context.compiled;
  for (const entry of denyCategories) {
    if (applies(context, entry.rule, bit) && segmentsOverlap(entry.segments, segments)) {
      const pattern = entry.text === WILDCARD ? "needs in every category" : `needs in ${entry.text}`;
      return denied(entry.rule, pattern, item, purpose, segmentsCover(entry.segments, segments));
    }
  }
  let ask: CompiledRule | null = null;
  let failed: CompiledRule | null = null;
  for (const entry of permitCategories) {
    const rule = entry.rule;
    if (!applies(context, rule, bit) || !segmentsCover(entry.segments, segments)) continue;
    if (retentionDays > rule.maxRetentionDays || (rule.dutyMask & ~context.accepted) !== 0) {
      failed ??= rule;
    } else if (!rule.ask) {
      return granted(rule, item, ordinal);
    } else {
      ask ??= rule;
    }
  }
  if (ask !== null) return granted(ask, item, ordinal);
  return settle(context, failed, item, purpose, retentionDays);
}

function refuse(code: DecisionCode, reason: string): Verdict {
  return { decision: "deny", rule: null, code, reason };
}

/** The verdict of a permit rule that fits: permit, or ask when the rule asks. */
function granted(rule: CompiledRule, item: string, ordinal: number): Verdict {
  const reason = rule.grantPrefix + item + (rule.grantSuffixes[ordinal] as string);
  return rule.ask ? { decision: "ask", rule, code: "approval_required", reason } : { decision: "permit", rule, code: "permitted", reason };
}

function denied(rule: CompiledRule, pattern: string, item: string, purpose: string, covers: boolean): Verdict {
  const reason =
    pattern === item
      ? `Rule "${rule.id}" denies ${item} for ${purpose}.`
      : covers
        ? `Rule "${rule.id}" denies ${pattern} for ${purpose}, which includes ${item}.`
        : `Rule "${rule.id}" denies ${pattern} for ${purpose}, which overlaps ${item}: ask for less.`;
  return { decision: "deny", rule, code: "denied_by_rule", reason };
}

/** When no permit rule fits: the first that would have, or default deny. */
function settle(context: Context, failed: CompiledRule | null, item: string, purpose: string, retentionDays: number): Verdict {
  if (failed !== null) {
    const tooLong = retentionDays > failed.maxRetentionDays;
    const refused = failed.dutyMask & ~context.accepted;
    const parts: string[] = [];
    if (tooLong) {
      const asked = retentionDays === Infinity ? "the request sets no limit" : `the request says ${retentionDays}`;
      parts.push(`keeps data at most ${failed.maxRetentionDays} days (${asked})`);
    }
    if (refused !== 0) parts.push(`requires ${dutyList(refused)}, which the request does not accept`);
    return {
      decision: "deny",
      rule: failed,
      code: tooLong ? "retention_too_long" : "duty_refused",
      reason: `Rule "${failed.id}" would permit ${item} for ${purpose}, but ${parts.join(" and ")}.`,
    };
  }
  return refuse("no_matching_rule", `No rule permits ${item} for ${purpose} to this vendor; nothing is shared by default.`);
}

function dutyList(mask: number): string {
  return DUTY_NAMES.filter(([bit]) => (mask & bit) !== 0)
    .map(([, name]) => name)
    .join(", ");
}

/** Running totals of one evaluation: counts, the rejecting items, the grant's duties. */
class Tally {
  total = 0;
  permitted = 0;
  asking = 0;
  optionalDenied = 0;
  readonly requiredDenied: string[] = [];
  private readonly deciding = new Set<CompiledRule>();

  add(verdict: Verdict, required: boolean, item: string): void {
    this.total++;
    if (verdict.decision === "deny") {
      if (required) this.requiredDenied.push(item);
      else this.optionalDenied++;
      return;
    }
    if (verdict.decision === "permit") this.permitted++;
    else this.asking++;
    this.deciding.add(verdict.rule as CompiledRule);
  }

  outcome(): Outcome {
    if (this.requiredDenied.length > 0 || this.permitted + this.asking === 0) return "rejected";
    return this.asking > 0 ? "pending" : "active";
  }

  /** Smallest limits and every boolean of the rules that decided permit or ask. */
  duties(): Duties {
    const out: Duties = {};
    for (const rule of this.deciding) {
      const d = rule.duties;
      if (d.maxRetentionDays !== undefined) out.maxRetentionDays = Math.min(out.maxRetentionDays ?? Infinity, d.maxRetentionDays);
      if (d.noThirdPartySharing === true) out.noThirdPartySharing = true;
      if (d.noProfiling === true) out.noProfiling = true;
      if (d.deleteOnRevoke === true) out.deleteOnRevoke = true;
      if (d.grantExpiryDays !== undefined) out.grantExpiryDays = Math.min(out.grantExpiryDays ?? Infinity, d.grantExpiryDays);
      if (d.maxReadsPerDay !== undefined) out.maxReadsPerDay = Math.min(out.maxReadsPerDay ?? Infinity, d.maxReadsPerDay);
    }
    return out;
  }
}

/** How an explanation line starts, by decision and whether the item is required. */
const LABELS: Readonly<Record<Decision, readonly [optional: string, required: string]>> = {
  permit: ["Shared: ", "Shared: "],
  ask: ["Shared once the person approves: ", "Shared once the person approves: "],
  deny: ["Left out (optional): ", "Not shared (required): "],
};

function explainAll(
  version: number,
  outcome: Outcome,
  tally: Tally,
  request: VendorRequest,
  fields: readonly FieldDecision[],
  needs: NeedsDecision | undefined,
  duties: Duties,
): string[] {
  const lines: string[] = [summary(version, outcome, tally)];
  const accepted = request.accepts?.termsVersion;
  if (accepted !== undefined && accepted !== version) {
    lines.push(`The vendor read terms version ${accepted}; this is decided under version ${version}, by the duties the vendor accepts.`);
  }
  for (const field of fields) lines.push(LABELS[field.decision][field.required ? 1 : 0] + field.reason);
  if (needs !== undefined) {
    const required = needs.required ? 1 : 0;
    for (const category of needs.categories) lines.push(LABELS[category.decision][required] + category.reason);
  }
  const dutyLines = describeDuties(duties);
  if (dutyLines.length > 0) lines.push(`The vendor must keep to: ${dutyLines.join("; ")}.`);
  return lines;
}

function summary(version: number, outcome: Outcome, tally: Tally): string {
  const under = `under terms version ${version}`;
  const of = `of ${tally.total} requested item${tally.total === 1 ? "" : "s"}`;
  if (outcome === "rejected") {
    return tally.requiredDenied.length > 0
      ? `Rejected ${under}: the required ${tally.requiredDenied.join(", ")} ${tally.requiredDenied.length === 1 ? "is" : "are"} not shared.`
      : `Rejected ${under}: none ${of} would be shared.`;
  }
  if (outcome === "pending") {
    return `Pending ${under}: ${tally.asking} ${of} wait for the person's approval.`;
  }
  const left = tally.optionalDenied > 0 ? `; ${tally.optionalDenied} optional left out` : "";
  return `Active ${under}: ${tally.permitted} ${of} shared${left}.`;
}

/** Duties in words, in a fixed order. */
export function describeDuties(duties: Duties): string[] {
  const out: string[] = [];
  if (duties.maxRetentionDays !== undefined) out.push(`keep data at most ${duties.maxRetentionDays} days`);
  if (duties.noThirdPartySharing === true) out.push("no third-party sharing");
  if (duties.noProfiling === true) out.push("no profiling or tracking");
  if (duties.deleteOnRevoke === true) out.push("delete everything on revocation");
  if (duties.grantExpiryDays !== undefined) out.push(`the grant expires after ${duties.grantExpiryDays} days`);
  if (duties.maxReadsPerDay !== undefined) out.push(`at most ${duties.maxReadsPerDay} reads a day`);
  return out;
}
