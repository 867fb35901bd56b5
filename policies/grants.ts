/**
 * From an evaluation to what a vendor may read: the granted paths and
 * categories, redaction of a profile to exactly those paths, and narrowing a
 * live grant when the terms change (never widening it).
 */
import { createSelector, parsePath, type PathSelector } from "./paths.js";
import { parseCategory, segmentsCover, segmentsMeet, segmentsOverlap } from "./patterns.js";
import type { Decision, Evaluation } from "./types.js";

export interface GrantOptions {
  /** Count `ask` decisions as granted (after the person approved them). */
  includeAsk: boolean;
}

function granted(decision: Decision, options: GrantOptions): boolean {
  return decision === "permit" || (options.includeAsk && decision === "ask");
}

/**
 * The requested paths the evaluation grants, in request order, each once.
 * A rejected evaluation grants nothing.
 */
export function grantedPaths(evaluation: Evaluation, options: GrantOptions): string[] {
  if (evaluation.outcome === "rejected") return [];
  const out = new Set<string>();
  for (const field of evaluation.fields) {
    if (granted(field.decision, options)) out.add(field.path);
  }
  return [...out];
}

/** The requested need categories the evaluation grants, like `grantedPaths`. */
export function grantedCategories(evaluation: Evaluation, options: GrantOptions): string[] {
  if (evaluation.outcome === "rejected" || evaluation.needs === undefined) return [];
  const out = new Set<string>();
  for (const category of evaluation.needs.categories) {
    if (granted(category.decision, options)) out.add(category.category);
  }
  return [...out];
}

const SELECTOR_CACHE_LIMIT = 1024;
const selectors = new Map<string, PathSelector>();

/**
 * Exactly the parts of `profile` under `paths` (a deep copy; `{}` when none).
 * Throws `PathSyntaxError` for a path that does not parse: a grant is made of
 * valid paths, so anything else is a bug to surface, not to guess around.
 * Compiled selectors are cached per path list.
 */
export function redact(profile: unknown, paths: readonly string[]): Record<string, unknown> {
  const key = paths.join("\n");
  let select = selectors.get(key);
  if (select === undefined) {
    select = createSelector(paths.map((path) => parsePath(path)));
    if (selectors.size >= SELECTOR_CACHE_LIMIT) selectors.clear();
    selectors.set(key, select);
  }
  return select(profile);
}

/**
 * A live grant after a terms change: the part of `previous` that `next` (the
 * same request, evaluated under the new terms) still grants, `ask` included
 * (the person already gave or approved it). Never wider than `previous`:
 * each result is `previous` path, or the part of one that a granted path
 * covers. Paths covered by another result are left out.
 */
export function narrowGrant(previous: readonly string[], next: Evaluation): string[] {
  return intersect(previous, grantedPaths(next, { includeAsk: true }), pathSegments, ".");
}

/** `narrowGrant` for need categories. */
export function narrowCategories(previous: readonly string[], next: Evaluation): string[] {
  return intersect(previous, grantedCategories(next, { includeAsk: true }), categorySegments, "/");
}

function pathSegments(text: string): readonly string[] {
  return parsePath(text).segments;
}

function categorySegments(text: string): readonly string[] {
  const segments = parseCategory(text);
  if (segments === undefined) throw new SyntaxError(`Invalid need category ${JSON.stringify(text)}`);
  return segments;
}

function intersect(
  previous: readonly string[],
  allowed: readonly string[],
  parse: (text: string) => readonly string[],
  separator: string,
): string[] {
  const allowedSegments = allowed.map(parse);
  const meets: (readonly string[])[] = [];
  for (const text of previous) {
    const before = parse(text);
    for (const now of allowedSegments) {
      if (segmentsOverlap(before, now)) meets.push(segmentsMeet(before, now));
    }
  }
  const out: string[] = [];
  meets.forEach((meet, index) => {
    const redundant = meets.some(
      (other, j) => j !== index && segmentsCover(other, meet) && (!segmentsCover(meet, other) || j < index),
    );
    if (!redundant) out.push(meet.join(separator));
  });
  return out;
}
