/**
 * Field paths: how terms (written by people) and subscription requests
 * (written by vendors) name parts of a profile document.
 *
 * A path is 1–8 dot-separated segments. A segment is a name
 * (`[A-Za-z][A-Za-z0-9-]{0,63}`, case-sensitive) or `*`, which matches
 * exactly one segment. A path names a whole subtree: `addresses` means every
 * field under `addresses`, so there is no `**`. Arrays are leaves: a path
 * never goes into an array. See docs/paths.md.
 *
 * Pure code: no I/O, no dependencies beyond the language.
 */

/** Most segments a path may have. */
export const MAX_SEGMENTS = 8;

/** Most characters a segment may have. */
export const MAX_SEGMENT_LENGTH = 64;

/** The segment that matches exactly one segment. */
export const WILDCARD = "*";

declare const fieldPathBrand: unique symbol;

/**
 * A parsed, valid path. Only `parsePath` makes these, so holding one means
 * the syntax has been checked. Immutable.
 */
export interface FieldPath {
  /** The path as written (parsing does not normalise anything). */
  readonly text: string;
  /** The segments, each a name or `*`. */
  readonly segments: readonly string[];
  /** Whether some segment is `*`; a path without one is concrete. */
  readonly hasWildcard: boolean;
  readonly [fieldPathBrand]: true;
}

/** Why a text is not a path; `PathSyntaxError.reason`. */
export type PathSyntaxReason =
  | "not-a-string"
  | "empty-path"
  | "empty-segment"
  | "too-many-segments"
  | "segment-too-long"
  | "reserved-segment"
  | "invalid-start"
  | "invalid-character"
  | "whitespace"
  | "misplaced-wildcard"
  | "double-wildcard";

/** Thrown by `parsePath` for a text that is not a valid path. */
export class PathSyntaxError extends SyntaxError {
  /** The rejected text (`String(value)` if it was not a string). */
  readonly text: string;
  /** 0-based offset (UTF-16 code units) of the problem in `text`. */
  readonly position: number;
  readonly reason: PathSyntaxReason;
  /** The problem alone, without the quoted path and offset. */
  readonly detail: string;

  constructor(text: string, position: number, reason: PathSyntaxReason, detail: string) {
    super(`Invalid path ${quoteForMessage(text)}: ${detail} at offset ${position}`);
    this.name = "PathSyntaxError";
    this.text = text;
    this.position = position;
    this.reason = reason;
    this.detail = detail;
  }
}

// ---------------------------------------------------------------------------
// Parsing

const STAR = 0x2a;
const HYPHEN = 0x2d;

interface SyntaxProblem {
  readonly position: number;
  readonly reason: PathSyntaxReason;
  readonly detail: string;
}

/**
 * Parses a path. Throws `PathSyntaxError` naming the first problem (by
 * position) and its offset.
 */
export function parsePath(text: string): FieldPath {
  if (typeof text !== "string") {
    throw new PathSyntaxError(String(text), 0, "not-a-string", `expected a string, got ${describeType(text)}`);
  }
  const result = scanPath(text);
  if (isProblem(result)) {
    throw new PathSyntaxError(text, result.position, result.reason, result.detail);
  }
  return result;
}

/** Whether `text` is a valid path. Never throws. */
export function isValidPath(text: unknown): boolean {
  return typeof text === "string" && !isProblem(scanPath(text));
}

function isProblem(value: FieldPath | SyntaxProblem): value is SyntaxProblem {
  return "reason" in value;
}

function scanPath(text: string): FieldPath | SyntaxProblem {
  const length = text.length;
  if (length === 0) {
    return { position: 0, reason: "empty-path", detail: "the path is empty" };
  }
  const segments: string[] = [];
  let hasWildcard = false;
  let start = 0;
  for (;;) {
    if (segments.length === MAX_SEGMENTS) {
      return {
        position: start,
        reason: "too-many-segments",
        detail: `a path has at most ${MAX_SEGMENTS} segments`,
      };
    }
    const dot = text.indexOf(".", start);
    const end = dot === -1 ? length : dot;
    const problem = checkSegment(text, start, end);
    if (problem !== undefined) return problem;
    const segment = text.slice(start, end);
    if (segment === WILDCARD) hasWildcard = true;
    segments.push(segment);
    if (dot === -1) break;
    start = dot + 1;
  }
  return Object.freeze({
    text,
    segments: Object.freeze(segments),
    hasWildcard,
  }) as FieldPath;
}

function checkSegment(text: string, start: number, end: number): SyntaxProblem | undefined {
  if (end === start) {
    if (start === 0) {
      return { position: 0, reason: "empty-segment", detail: "a path cannot start with '.'" };
    }
    if (start === text.length) {
      return { position: start - 1, reason: "empty-segment", detail: "a path cannot end with '.'" };
    }
    return { position: start, reason: "empty-segment", detail: "empty segment ('..')" };
  }
  const first = text.charCodeAt(start);
  if (first === STAR) {
    if (end === start + 1) return undefined;
    if (text.charCodeAt(start + 1) === STAR) {
      return {
        position: start,
        reason: "double-wildcard",
        detail: "'**' is not supported (a path already names its whole subtree; '*' matches one segment)",
      };
    }
    return { position: start, reason: "misplaced-wildcard", detail: "'*' must be a whole segment" };
  }
  if (end - start <= MAX_SEGMENT_LENGTH) {
    const segment = text.slice(start, end);
    if (isReservedName(segment)) {
      return { position: start, reason: "reserved-segment", detail: `'${segment}' is a reserved name` };
    }
  }
  if (!isLetter(first)) {
    if (!isDigit(first) && first !== HYPHEN) return charProblem(text, start);
    return {
      position: start,
      reason: "invalid-start",
      detail: `a segment must start with a letter, not ${describeChar(text, start)}`,
    };
  }
  for (let i = start + 1; i < end; i++) {
    if (i - start === MAX_SEGMENT_LENGTH) {
      return {
        position: start,
        reason: "segment-too-long",
        detail: `segment is longer than ${MAX_SEGMENT_LENGTH} characters`,
      };
    }
    const code = text.charCodeAt(i);
    if (isLetter(code) || isDigit(code) || code === HYPHEN) continue;
    return charProblem(text, i);
  }
  return undefined;
}

function charProblem(text: string, position: number): SyntaxProblem {
  const code = text.charCodeAt(position);
  if (code === STAR) {
    return { position, reason: "misplaced-wildcard", detail: "'*' must be a whole segment" };
  }
  if (isWhitespace(code)) {
    return { position, reason: "whitespace", detail: "whitespace is not allowed" };
  }
  return {
    position,
    reason: "invalid-character",
    detail: `${describeChar(text, position)} is not allowed (letters, digits and '-' only)`,
  };
}

function isLetter(code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a);
}

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

function isWhitespace(code: number): boolean {
  // ASCII whitespace, NBSP, BOM, and the Unicode space separators.
  return (
    code === 0x20 ||
    (code >= 0x09 && code <= 0x0d) ||
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/**
 * Names that could reach an object's prototype chain. `in` (not a fixed list)
 * so that anything added to Object.prototype is refused too.
 */
function isReservedName(name: string): boolean {
  return name in Object.prototype || name === "prototype" || name === "constructor" || name === "__proto__";
}

/**
 * Whether a document key can be named by a path: a valid, non-wildcard
 * segment. Keys that cannot are ignored by the document functions.
 */
function isSegmentName(key: string): boolean {
  const length = key.length;
  if (length === 0 || length > MAX_SEGMENT_LENGTH || !isLetter(key.charCodeAt(0))) return false;
  for (let i = 1; i < length; i++) {
    const code = key.charCodeAt(i);
    if (!(isLetter(code) || isDigit(code) || code === HYPHEN)) return false;
  }
  return !isReservedName(key);
}

function describeChar(text: string, position: number): string {
  const point = text.codePointAt(position) as number;
  if (point >= 0x21 && point <= 0x7e) return `'${String.fromCharCode(point)}'`;
  return `U+${point.toString(16).toUpperCase().padStart(4, "0")}`;
}

function describeType(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
}

function quoteForMessage(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
}

// ---------------------------------------------------------------------------
// Matching

/**
 * Whether `concrete` lies within `pattern`: equal to it or below it, with each
 * `*` in the pattern standing for any one segment.
 *
 * A `*` in `concrete` is compared literally: only a `*` in the pattern matches
 * it. That makes the answer for a wildcard `concrete` the conservative one,
 * the same as `pathCovers(pattern, concrete)`.
 */
export function pathMatches(pattern: FieldPath, concrete: FieldPath): boolean {
  return prefixMatches(pattern.segments, concrete.segments);
}

/**
 * Whether every concrete path that pattern `b` matches is also matched by
 * pattern `a`: true exactly when `a` has no more segments than `b` and each
 * segment of `a` is `*` or equal to the segment of `b` at the same place.
 * Reflexive and transitive.
 */
export function pathCovers(a: FieldPath, b: FieldPath): boolean {
  return prefixMatches(a.segments, b.segments);
}

function prefixMatches(pattern: readonly string[], target: readonly string[]): boolean {
  const n = pattern.length;
  if (n > target.length) return false;
  for (let i = 0; i < n; i++) {
    const segment = pattern[i];
    if (segment !== WILDCARD && segment !== target[i]) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Documents
//
// A document is JSON data. Plain objects are the inner nodes; strings,
// numbers, booleans, null and arrays are leaves. Keys that cannot be a path
// segment (see isSegmentName) and values that are not JSON (undefined,
// functions, symbols, bigints, class instances) are treated as absent.

type JsonRecord = Record<string, unknown>;

interface TrieNode {
  /** Some pattern ends here: the whole subtree is selected. */
  all: boolean;
  names: Map<string, TrieNode> | undefined;
  star: TrieNode | undefined;
}

/** A compiled set of patterns; call it with a document to redact it. */
export type PathSelector = (document: unknown) => JsonRecord;

/**
 * Compiles patterns once for repeated `selectPaths`-style use: the patterns
 * are merged into a trie (patterns covered by others drop out), and each call
 * walks the document and the trie together.
 */
export function createSelector(patterns: readonly FieldPath[]): PathSelector {
  const root: TrieNode = { all: false, names: undefined, star: undefined };
  for (const pattern of patterns) insertPattern(root, pattern.segments);
  const start: readonly TrieNode[] = [root];
  return (document) => (isPlainObject(document) ? selectObject(document, start) : undefined) ?? {};
}

/**
 * A new object holding exactly the parts of `document` that some pattern
 * matches, and `{}` if none does. Never mutates or shares anything with
 * `document`; arrays and scalars are leaves; only own enumerable keys count.
 */
export function selectPaths(document: unknown, patterns: readonly FieldPath[]): JsonRecord {
  return createSelector(patterns)(document);
}

function insertPattern(root: TrieNode, segments: readonly string[]): void {
  let node = root;
  for (const segment of segments) {
    if (node.all) return;
    let next: TrieNode | undefined;
    if (segment === WILDCARD) {
      next = node.star ??= { all: false, names: undefined, star: undefined };
    } else {
      node.names ??= new Map();
      next = node.names.get(segment);
      if (next === undefined) {
        next = { all: false, names: undefined, star: undefined };
        node.names.set(segment, next);
      }
    }
    node = next;
  }
  node.all = true;
  node.names = undefined;
  node.star = undefined;
}

/** The selected part of `source`, or undefined when nothing in it is selected. */
function selectObject(source: JsonRecord, active: readonly TrieNode[]): JsonRecord | undefined {
  let out: JsonRecord | undefined;
  for (const key of Object.keys(source)) {
    if (!isSegmentName(key)) continue;
    const value = source[key];
    if (!isJsonValue(value)) continue;
    let whole = false;
    const next: TrieNode[] = [];
    for (const node of active) {
      const named = node.names?.get(key);
      const star = node.star;
      if ((named !== undefined && named.all) || (star !== undefined && star.all)) {
        whole = true;
        break;
      }
      if (named !== undefined) next.push(named);
      if (star !== undefined) next.push(star);
    }
    let picked: unknown;
    if (whole) picked = cloneValue(value);
    else if (next.length > 0 && isPlainObject(value)) picked = selectObject(value, next);
    if (picked !== undefined) (out ??= {})[key] = picked;
  }
  return out;
}

/** Deep copy of a JSON value, under the document rules above. */
function cloneValue(value: unknown): unknown {
  if (Array.isArray(value)) return cloneArray(value);
  if (isPlainObject(value)) {
    const out: JsonRecord = {};
    for (const key of Object.keys(value)) {
      if (!isSegmentName(key)) continue;
      const item = value[key];
      if (isJsonValue(item)) out[key] = cloneValue(item);
    }
    return out;
  }
  return value;
}

/**
 * Arrays are leaves: their contents are copied as they are, not filtered by
 * key. Non-JSON elements become null (as in JSON.stringify).
 */
function cloneArray(array: readonly unknown[]): unknown[] {
  const out = new Array<unknown>(array.length);
  for (let i = 0; i < array.length; i++) {
    const item = array[i];
    if (Array.isArray(item)) out[i] = cloneArray(item);
    else if (isPlainObject(item)) out[i] = cloneArrayObject(item);
    else out[i] = isJsonValue(item) ? item : null;
  }
  return out;
}

function cloneArrayObject(source: JsonRecord): JsonRecord {
  const out: JsonRecord = {};
  for (const key of Object.keys(source)) {
    const item = source[key];
    if (!isJsonValue(item)) continue;
    const copy = Array.isArray(item) ? cloneArray(item) : isPlainObject(item) ? cloneArrayObject(item) : item;
    // An own "__proto__" key (JSON.parse makes those) must stay a plain property.
    Object.defineProperty(out, key, { value: copy, writable: true, enumerable: true, configurable: true });
  }
  return out;
}

/**
 * Every concrete path to a leaf (scalar or array) of `document`, sorted
 * (code-unit order). Empty objects have no leaves; a `document` that is not
 * an object has none either.
 */
export function leafPaths(document: unknown): string[] {
  const out: string[] = [];
  if (isPlainObject(document)) collectLeaves(document, "", out);
  return out.sort();
}

function collectLeaves(source: JsonRecord, prefix: string, out: string[]): void {
  for (const key of Object.keys(source)) {
    if (!isSegmentName(key)) continue;
    const value = source[key];
    if (isPlainObject(value)) collectLeaves(value, prefix + key + ".", out);
    else if (isJsonLeaf(value)) out.push(prefix + key);
  }
}

/**
 * The leaf paths, at any depth, whose value differs between `before` and
 * `after`: added, removed or changed. Exactly the paths in
 * `leafPaths(before)` or `leafPaths(after)` whose values are not deeply
 * equal. Sorted like `leafPaths`. A side that is not an object counts as `{}`.
 */
export function changedPaths(before: unknown, after: unknown): string[] {
  const out: string[] = [];
  diffObjects(isPlainObject(before) ? before : EMPTY, isPlainObject(after) ? after : EMPTY, "", out);
  return out.sort();
}

const EMPTY: JsonRecord = Object.freeze({});

function diffObjects(before: JsonRecord, after: JsonRecord, prefix: string, out: string[]): void {
  for (const key of Object.keys(before)) {
    if (!isSegmentName(key)) continue;
    diffValues(before[key], ownValue(after, key), prefix + key, out);
  }
  for (const key of Object.keys(after)) {
    if (!isSegmentName(key) || propertyIsEnumerable.call(before, key)) continue;
    diffValues(undefined, after[key], prefix + key, out);
  }
}

function diffValues(before: unknown, after: unknown, path: string, out: string[]): void {
  const beforeIsObject = isPlainObject(before);
  const afterIsObject = isPlainObject(after);
  if (beforeIsObject || afterIsObject) {
    diffObjects(beforeIsObject ? before : EMPTY, afterIsObject ? after : EMPTY, path + ".", out);
    // An object replaced by a leaf, or the reverse: the leaf side is a change too.
    if (!(beforeIsObject && afterIsObject) && isJsonLeaf(beforeIsObject ? after : before)) out.push(path);
    return;
  }
  const beforeIsLeaf = isJsonLeaf(before);
  const afterIsLeaf = isJsonLeaf(after);
  if (beforeIsLeaf !== afterIsLeaf || (beforeIsLeaf && !jsonEqual(before, after))) out.push(path);
}

const propertyIsEnumerable = Object.prototype.propertyIsEnumerable;

function ownValue(source: JsonRecord, key: string): unknown {
  return propertyIsEnumerable.call(source, key) ? source[key] : undefined;
}

/** Deep equality of JSON values, with the same view of them as cloneValue. */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === "number") return typeof b === "number" && a !== a && b !== b; // NaN
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) {
      if (!jsonEqual(asArrayElement(a[i]), asArrayElement(b[i]))) return false;
    }
    return true;
  }
  if (isPlainObject(a)) {
    if (!isPlainObject(b)) return false;
    let count = 0;
    for (const key of Object.keys(a)) {
      const value = a[key];
      if (!isJsonValue(value)) continue;
      count++;
      if (!jsonEqual(value, ownValue(b, key))) return false;
    }
    for (const key of Object.keys(b)) {
      if (isJsonValue(b[key])) count--;
    }
    return count === 0;
  }
  return false;
}

function asArrayElement(value: unknown): unknown {
  return isJsonValue(value) ? value : null;
}

/**
 * A plain object: its prototype is null or some realm's Object.prototype.
 * Arrays, dates, maps and class instances are not.
 */
function isPlainObject(value: unknown): value is JsonRecord {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype || Object.getPrototypeOf(proto) === null;
}

function isJsonLeaf(value: unknown): boolean {
  const type = typeof value;
  return type === "string" || type === "number" || type === "boolean" || value === null || Array.isArray(value);
}

function isJsonValue(value: unknown): boolean {
  return isJsonLeaf(value) || isPlainObject(value);
}
