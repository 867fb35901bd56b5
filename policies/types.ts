/**
 * The documents of the terms language, as TypeScript. `schemas/terms.json`
 * is the contract; these types say the same (a test checks the examples).
 */
import type { Purpose } from "./vocabulary.js";

export type Effect = "permit" | "deny";
export type Approval = "auto" | "ask";
export type Decision = "permit" | "ask" | "deny";
export type Outcome = "active" | "pending" | "rejected";

/**
 * What a vendor must keep to when a rule shares with it. Booleans that are
 * true must be accepted by the request (`accepts.duties`); the numbers limit
 * the request (`maxRetentionDays`) or the grant (`grantExpiryDays`,
 * `maxReadsPerDay`).
 */
export interface Duties {
  /** The longest the vendor may keep what it read, in days (0: use and forget). */
  maxRetentionDays?: number;
  /** The vendor gives nothing to a third party (another controller). */
  noThirdPartySharing?: boolean;
  /** No profiling and no tracking beyond the vendor's own site. */
  noProfiling?: boolean;
  /** The vendor deletes what it holds when the grant is revoked. */
  deleteOnRevoke?: boolean;
  /** The grant ends this many days after it starts. */
  grantExpiryDays?: number;
  /** The vendor reads the feed at most this many times a day. */
  maxReadsPerDay?: number;
}

/** Which vendors a rule speaks to: any, these ids, or vendors whose homepage is on these domains. */
export type VendorSelector = { any: true } | { ids: string[] } | { domains: string[] };

export interface Rule {
  /** Unique in its document: `^[a-z][a-z0-9-]{0,63}$`. */
  id: string;
  /** The person's own note. Private: never in public terms nor in reasons. */
  description?: string;
  effect: Effect;
  /** Field paths (docs/paths.md). */
  fields?: string[];
  /** Need categories (`books`, `home/furniture`, `home/*`, `*`). */
  needs?: { categories: string[] };
  /** Absent: any vendor. */
  vendors?: VendorSelector;
  /** Absent: every purpose. */
  purposes?: Purpose[];
  /** Permit rules only. */
  duties?: Duties;
  /** Permit rules only; absent: `auto`. */
  approval?: Approval;
}

/** What a person writes (`PUT /v1/me/terms`). */
export interface TermsInput {
  title?: string;
  rules: Rule[];
}

/** A stored, immutable version. */
export interface Terms extends TermsInput {
  version: number;
  createdAt: string;
}

/** One field a vendor asks for. */
export interface RequestedField {
  path: string;
  purpose: Purpose;
  required: boolean;
  retentionDays: number;
}

/** The needs a vendor asks for, by category. */
export interface NeedsRequest {
  categories: string[];
  purpose: Purpose;
  retentionDays: number;
  /** Absent: true (a denied category rejects the request). */
  required?: boolean;
}

/** The duties a vendor commits to; a rule's boolean duty that is not here counts as refused. */
export interface AcceptedDuties {
  noThirdPartySharing?: true;
  noProfiling?: true;
  deleteOnRevoke?: true;
}

export interface Acceptance {
  /** The terms version the vendor read; informational (decisions follow the duties). */
  termsVersion?: number;
  duties: AcceptedDuties;
}

/** A vendor's draft or subscription request, without the person. */
export interface VendorRequest {
  fields: RequestedField[];
  needs?: NeedsRequest;
  accepts?: Acceptance;
}

/** The vendor as the engine sees it. */
export interface Vendor {
  id: string;
  homepage: string;
}

/** Stable, machine-readable reason of a decision. */
export type DecisionCode =
  | "permitted"
  | "approval_required"
  | "denied_by_rule"
  | "no_matching_rule"
  | "retention_too_long"
  | "duty_refused"
  | "invalid_path"
  | "invalid_category"
  | "unknown_purpose";

export interface FieldDecision {
  path: string;
  purpose: string;
  required: boolean;
  decision: Decision;
  /** The rule that decided; null when no rule did (default deny, bad input). */
  rule: string | null;
  /** For people and vendors; names rules by id, never by description. */
  reason: string;
  code: DecisionCode;
}

export interface CategoryDecision {
  category: string;
  decision: Decision;
  rule: string | null;
  reason: string;
  code: DecisionCode;
}

export interface NeedsDecision {
  purpose: string;
  required: boolean;
  retentionDays: number;
  categories: CategoryDecision[];
}

export interface Evaluation {
  termsVersion: number;
  outcome: Outcome;
  fields: FieldDecision[];
  needs?: NeedsDecision;
  /** The grant's duties: those of every rule that decided `permit` or `ask`, combined (smallest limits, any boolean). */
  duties: Duties;
  explanation: string[];
}

/** A rule as anyone may read it: no vendor selector, no description. */
export interface PublicRule {
  id: string;
  effect: Effect;
  fields?: string[];
  needs?: { categories: string[] };
  purposes?: Purpose[];
  duties?: Duties;
  /** Permit rules only. */
  approval?: Approval;
}

export interface PublicTerms {
  version: number;
  /** What happens to anything no rule permits. */
  default: "deny";
  rules: PublicRule[];
}

export interface Template {
  id: string;
  title: string;
  description: string;
  terms: TermsInput;
}

/** One reason terms are refused: the rule (by id, when it has one) and where. */
export interface TermsProblem {
  rule: string | null;
  /** JSON Pointer into the document, e.g. `/rules/3/fields/0`. */
  pointer: string;
  message: string;
}

export type TermsCheck = { ok: true } | { ok: false; errors: TermsProblem[] };
