/**
 * Need-category patterns, and what field paths and categories share: both are
 * prefix patterns over segments where `*` matches exactly one segment and a
 * pattern names itself and everything below it (docs/paths.md). Covering is
 * `pathCovers`' rule; this module adds overlap and meet, which the engine and
 * `narrowGrant` need for both kinds.
 */
import { WILDCARD } from "./paths.js";

/** Most segments of a category pattern (as `need.json` allows for a category). */
export const MAX_CATEGORY_SEGMENTS = 4;
/** Most characters of a category pattern. */
export const MAX_CATEGORY_LENGTH = 64;

const CATEGORY_SEGMENT = /^(?:\*|[a-z0-9]+(?:-[a-z0-9]+)*)$/;

/**
 * The segments of a category pattern (`home/furniture` → `["home", "furniture"]`),
 * or undefined when `text` is not one. A pattern is 1–4 segments joined by `/`;
 * a segment is lower-case words joined by `-` (as in `need.json`), or `*`.
 */
export function parseCategory(text: unknown): readonly string[] | undefined {
  if (typeof text !== "string" || text.length === 0 || text.length > MAX_CATEGORY_LENGTH) return undefined;
  const segments = text.split("/");
  if (segments.length > MAX_CATEGORY_SEGMENTS) return undefined;
  for (const segment of segments) {
    if (!CATEGORY_SEGMENT.test(segment)) return undefined;
  }
  return segments;
}

/**
 * Whether pattern `a` matches everything pattern `b` matches (the same rule
 * as `pathCovers`): `a` is no longer than `b` and each segment of `a` is `*`
 * or equal to `b`'s at the same place.
 */
export function segmentsCover(a: readonly string[], b: readonly string[]): boolean {
  const n = a.length;
  if (n > b.length) return false;
  for (let i = 0; i < n; i++) {
    const segment = a[i];
    if (segment !== WILDCARD && segment !== b[i]) return false;
  }
  return true;
}

/**
 * Whether some concrete path (or category) is matched by both patterns:
 * over the shorter length, each pair of segments is equal or has a `*`.
 * Covering either way is a special case.
 */
export function segmentsOverlap(a: readonly string[], b: readonly string[]): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (x !== y && x !== WILDCARD && y !== WILDCARD) return false;
  }
  return true;
}

/**
 * The pattern matching exactly what both overlapping patterns match: as long
 * as the longer one, each segment the more specific of the two.
 */
export function segmentsMeet(a: readonly string[], b: readonly string[]): string[] {
  const [long, short] = a.length >= b.length ? [a, b] : [b, a];
  const out = long.slice();
  for (let i = 0; i < short.length; i++) {
    if (out[i] === WILDCARD) out[i] = short[i] as string;
  }
  return out;
}
