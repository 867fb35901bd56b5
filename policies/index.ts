export {
  MAX_SEGMENTS,
  MAX_SEGMENT_LENGTH,
  WILDCARD,
  PathSyntaxError,
  parsePath,
  isValidPath,
  pathMatches,
  pathCovers,
  createSelector,
  selectPaths,
  leafPaths,
  changedPaths,
} from "./paths.js";
export type { FieldPath, PathSyntaxReason, PathSelector } from "./paths.js";

export {
  PURPOSES,
  PURPOSE_TOKENS,
  isPurpose,
  dpvPurpose,
  MAX_RULES,
  MAX_RULE_FIELDS,
  MAX_RULE_CATEGORIES,
  MAX_VENDOR_IDS,
  MAX_VENDOR_DOMAINS,
  MAX_TITLE_LENGTH,
  MAX_DESCRIPTION_LENGTH,
  MAX_RETENTION_DAYS,
  MAX_GRANT_EXPIRY_DAYS,
  MAX_READS_PER_DAY,
  MAX_REQUEST_FIELDS,
  RULE_ID_PATTERN,
} from "./vocabulary.js";
export type { Purpose, PurposeInfo } from "./vocabulary.js";
export type {
  Effect,
  Approval,
  Decision,
  Outcome,
  Duties,
  VendorSelector,
  Rule,
  TermsInput,
  Terms,
  RequestedField,
  NeedsRequest,
  AcceptedDuties,
  Acceptance,
  VendorRequest,
  Vendor,
  DecisionCode,
  FieldDecision,
  CategoryDecision,
  NeedsDecision,
  Evaluation,
  PublicRule,
  PublicTerms,
  Template,
  TermsProblem,
  TermsCheck,
} from "./types.js";
export { MAX_CATEGORY_SEGMENTS, MAX_CATEGORY_LENGTH, parseCategory, segmentsCover } from "./patterns.js";
export { checkTerms } from "./check.js";
export { CompiledTerms, TermsError, compileTerms, evaluate, explain, describeDuties } from "./engine.js";
export { grantedPaths, grantedCategories, redact, narrowGrant, narrowCategories } from "./grants.js";
export type { GrantOptions } from "./grants.js";
export { publicTerms, toOdrl, ODRL_PROFILE } from "./public-terms.js";
export type { OdrlOptions, OdrlPolicy } from "./public-terms.js";
export { TEMPLATES, DEFAULT_TERMS, loadTemplate } from "./templates.js";
