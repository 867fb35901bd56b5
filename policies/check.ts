/**
 * checkTerms: everything that makes a terms document unusable, each problem
 * naming its rule (by id) and its place (a JSON Pointer). It repeats the
 * schema's checks so that it stands on its own for any input (and names
 * rules, which the schema cannot), and adds what the schema cannot say:
 * unique rule ids, path syntax down to reserved names.
 */
import { parsePath, type PathSyntaxError } from "./paths.js";
import { parseCategory } from "./patterns.js";
import type { TermsCheck, TermsInput, TermsProblem } from "./types.js";
import {
  MAX_DESCRIPTION_LENGTH,
  MAX_GRANT_EXPIRY_DAYS,
  MAX_READS_PER_DAY,
  MAX_RETENTION_DAYS,
  MAX_RULE_CATEGORIES,
  MAX_RULE_FIELDS,
  MAX_RULES,
  MAX_TITLE_LENGTH,
  MAX_VENDOR_DOMAINS,
  MAX_VENDOR_IDS,
  PURPOSE_TOKENS,
  RULE_ID_PATTERN,
  isPurpose,
} from "./vocabulary.js";

type Json = Record<string, unknown>;

const RULE_KEYS = new Set(["id", "description", "effect", "fields", "needs", "vendors", "purposes", "duties", "approval"]);
const NUMBER_DUTIES: Readonly<Record<string, readonly [number, number]>> = {
  maxRetentionDays: [0, MAX_RETENTION_DAYS],
  grantExpiryDays: [1, MAX_GRANT_EXPIRY_DAYS],
  maxReadsPerDay: [1, MAX_READS_PER_DAY],
};
const BOOLEAN_DUTIES = new Set(["noThirdPartySharing", "noProfiling", "deleteOnRevoke"]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A lower-case host name of two labels or more; the last starts with a letter. */
const DOMAIN = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const MAX_DOMAIN_LENGTH = 253;

/** Why terms cannot be used, or `{ ok: true }`. Never throws, whatever `input` is. */
export function checkTerms(input: TermsInput): TermsCheck {
  const errors: TermsProblem[] = [];
  const document: unknown = input;
  if (!isRecord(document)) {
    errors.push({ rule: null, pointer: "", message: "terms must be an object with `rules`" });
    return { ok: false, errors };
  }
  for (const key of Object.keys(document)) {
    const value = document[key];
    if (key === "title") {
      if (value !== undefined && !isText(value, 1, MAX_TITLE_LENGTH)) {
        errors.push({ rule: null, pointer: "/title", message: `title must be text of 1 to ${MAX_TITLE_LENGTH} characters` });
      }
    } else if (key !== "rules") {
      errors.push({ rule: null, pointer: pointer("", key), message: `unknown property "${key}"` });
    }
  }
  const rules = document.rules;
  if (!Array.isArray(rules)) {
    errors.push({ rule: null, pointer: "/rules", message: "rules must be an array" });
  } else {
    if (rules.length > MAX_RULES) {
      errors.push({ rule: null, pointer: "/rules", message: `at most ${MAX_RULES} rules` });
    }
    const seen = new Map<string, number>();
    rules.forEach((rule, index) => checkRule(rule, `/rules/${index}`, seen, index, errors));
  }
  return errors.length === 0 ? { ok: true } : { ok: false, errors };
}

function checkRule(rule: unknown, at: string, seen: Map<string, number>, index: number, errors: TermsProblem[]): void {
  if (!isRecord(rule)) {
    errors.push({ rule: null, pointer: at, message: "a rule must be an object" });
    return;
  }
  const id = typeof rule.id === "string" ? rule.id : null;
  const fail = (where: string, message: string) => errors.push({ rule: id, pointer: where, message });

  for (const key of Object.keys(rule)) {
    if (!RULE_KEYS.has(key)) fail(pointer(at, key), `unknown property "${key}"`);
  }
  if (id === null) {
    fail(`${at}/id`, "a rule needs an id");
  } else if (!RULE_ID_PATTERN.test(id)) {
    fail(`${at}/id`, "a rule id is 1 to 64 lower-case letters, digits or '-', starting with a letter");
  } else {
    const first = seen.get(id);
    if (first === undefined) seen.set(id, index);
    else fail(`${at}/id`, `rule id "${id}" is already used by rule ${first}`);
  }
  if (rule.description !== undefined && !isText(rule.description, 0, MAX_DESCRIPTION_LENGTH)) {
    fail(`${at}/description`, `a description is text of at most ${MAX_DESCRIPTION_LENGTH} characters`);
  }
  const effect = rule.effect;
  if (effect !== "permit" && effect !== "deny") fail(`${at}/effect`, 'effect must be "permit" or "deny"');

  const hasFields = rule.fields !== undefined;
  const hasNeeds = rule.needs !== undefined;
  if (!hasFields && !hasNeeds) fail(at, "a rule must name fields, needs or both");
  if (hasFields) checkList(rule.fields, `${at}/fields`, MAX_RULE_FIELDS, "field path", checkPath, fail);
  if (hasNeeds) checkNeeds(rule.needs, `${at}/needs`, fail);
  if (rule.vendors !== undefined) checkVendors(rule.vendors, `${at}/vendors`, fail);
  if (rule.purposes !== undefined) {
    checkList(rule.purposes, `${at}/purposes`, PURPOSE_TOKENS.length, "purpose", checkPurpose, fail);
  }
  if (rule.duties !== undefined) {
    if (effect === "deny") fail(`${at}/duties`, "a deny rule has no duties: it shares nothing");
    else checkDuties(rule.duties, `${at}/duties`, fail);
  }
  const approval = rule.approval;
  if (approval !== undefined) {
    if (approval !== "auto" && approval !== "ask") fail(`${at}/approval`, 'approval must be "auto" or "ask"');
    else if (approval === "ask" && effect === "deny") fail(`${at}/approval`, "a deny rule cannot ask: it shares nothing");
  }
}

type Fail = (where: string, message: string) => void;
type ItemCheck = (item: unknown) => string | undefined;

/** A non-empty array of at most `max` distinct items, each passing `check`. */
function checkList(value: unknown, at: string, max: number, noun: string, check: ItemCheck, fail: Fail): void {
  if (!Array.isArray(value) || value.length === 0 || value.length > max) {
    fail(at, `expected a list of 1 to ${max} ${noun}s`);
    return;
  }
  const seen = new Set<unknown>();
  value.forEach((item, index) => {
    const problem = check(item);
    if (problem !== undefined) fail(`${at}/${index}`, problem);
    else if (seen.has(item)) fail(`${at}/${index}`, `${noun} "${String(item)}" is listed twice`);
    seen.add(item);
  });
}

function checkPath(item: unknown): string | undefined {
  try {
    parsePath(item as string);
    return undefined;
  } catch (error) {
    return `malformed field path: ${(error as PathSyntaxError).message}`;
  }
}

function checkPurpose(item: unknown): string | undefined {
  return isPurpose(item) ? undefined : `unknown purpose ${JSON.stringify(item)}; known purposes: ${PURPOSE_TOKENS.join(", ")}`;
}

function checkCategory(item: unknown): string | undefined {
  return parseCategory(item) !== undefined
    ? undefined
    : `malformed need category ${JSON.stringify(item)}: 1 to 4 segments joined by '/', each lower-case words joined by '-', or '*'`;
}

function checkId(item: unknown): string | undefined {
  return typeof item === "string" && UUID.test(item) ? undefined : `a vendor id is a UUID, not ${JSON.stringify(item)}`;
}

function checkDomain(item: unknown): string | undefined {
  return typeof item === "string" && item.length <= MAX_DOMAIN_LENGTH && DOMAIN.test(item)
    ? undefined
    : `a domain is a lower-case host name such as "shop.example", not ${JSON.stringify(item)}`;
}

function checkNeeds(needs: unknown, at: string, fail: Fail): void {
  if (!isRecord(needs)) {
    fail(at, "needs must be an object with `categories`");
    return;
  }
  for (const key of Object.keys(needs)) {
    if (key !== "categories") fail(pointer(at, key), `unknown property "${key}"`);
  }
  checkList(needs.categories, `${at}/categories`, MAX_RULE_CATEGORIES, "category", checkCategory, fail);
}

function checkVendors(vendors: unknown, at: string, fail: Fail): void {
  const keys = isRecord(vendors) ? Object.keys(vendors) : [];
  if (!isRecord(vendors) || keys.length !== 1) {
    fail(at, 'vendors must be exactly one of { "any": true }, { "ids": [...] } or { "domains": [...] }');
    return;
  }
  const key = keys[0];
  if (key === "any") {
    if (vendors.any !== true) fail(`${at}/any`, "any must be true");
  } else if (key === "ids") {
    checkList(vendors.ids, `${at}/ids`, MAX_VENDOR_IDS, "vendor id", checkId, fail);
  } else if (key === "domains") {
    checkList(vendors.domains, `${at}/domains`, MAX_VENDOR_DOMAINS, "domain", checkDomain, fail);
  } else {
    fail(pointer(at, key as string), `unknown property "${key}"`);
  }
}

function checkDuties(duties: unknown, at: string, fail: Fail): void {
  if (!isRecord(duties)) {
    fail(at, "duties must be an object");
    return;
  }
  for (const key of Object.keys(duties)) {
    const value = duties[key];
    const range = Object.hasOwn(NUMBER_DUTIES, key) ? NUMBER_DUTIES[key] : undefined;
    if (range !== undefined) {
      const [min, max] = range;
      if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
        fail(`${at}/${key}`, `${key} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`);
      }
    } else if (BOOLEAN_DUTIES.has(key)) {
      if (typeof value !== "boolean") fail(`${at}/${key}`, `${key} must be true or false`);
    } else {
      fail(pointer(at, key), `unknown duty "${key}"`);
    }
  }
}

function isRecord(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isText(value: unknown, min: number, max: number): boolean {
  return typeof value === "string" && value.length >= min && value.length <= max;
}

/** `at` + one JSON Pointer token (RFC 6901 escaping). */
function pointer(at: string, token: string): string {
  return `${at}/${token.replaceAll("~", "~0").replaceAll("/", "~1")}`;
}
