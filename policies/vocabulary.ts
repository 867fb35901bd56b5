/**
 * The fixed vocabularies of the terms language: purposes (each aligned to a
 * W3C Data Privacy Vocabulary class), effects, approvals, decisions and the
 * limits every terms document keeps. `schemas/terms.json` repeats the purpose
 * tokens; a test keeps the two equal.
 */

/** Why a vendor wants a field: one token from a fixed, documented list. */
export type Purpose =
  | "fulfillment"
  | "delivery"
  | "payment"
  | "account"
  | "support"
  | "marketing"
  | "personalization"
  | "analytics"
  | "research"
  | "offers"
  | "fraud-prevention"
  | "legal-compliance";

export interface PurposeInfo {
  readonly purpose: Purpose;
  /** The W3C DPV class (https://w3id.org/dpv) the token stands for. */
  readonly dpv: string;
  readonly label: string;
  readonly description: string;
}

const DPV = "https://w3id.org/dpv#";

/** Every purpose, in the order documents and explanations list them. */
export const PURPOSES: readonly PurposeInfo[] = Object.freeze(
  (
    [
      ["fulfillment", "RequestedServiceProvision", "Fulfillment", "Provide what the person asked for: process the order, the booking, the service."],
      ["delivery", "DeliveryOfGoods", "Delivery", "Deliver goods to the person."],
      ["payment", "PaymentManagement", "Payment", "Take, refund or manage the person's payments."],
      ["account", "AccountManagement", "Account", "Open and manage the person's account with the vendor."],
      ["support", "CustomerCare", "Support", "Help the person: answer questions, handle complaints and returns."],
      ["marketing", "Marketing", "Marketing", "Promote products or services to the person: newsletters, campaigns, advertising."],
      ["personalization", "Personalisation", "Personalization", "Adapt the vendor's service or recommendations to the person."],
      ["analytics", "ServiceUsageAnalytics", "Analytics", "Measure and report how the vendor's service is used."],
      ["research", "ResearchAndDevelopment", "Research", "Research and develop new products, services or methods."],
      ["offers", "SellProductsToDataSubject", "Offers", "Answer the person's needs with offers."],
      ["fraud-prevention", "FraudPreventionAndDetection", "Fraud prevention", "Prevent and detect fraud against the person or the vendor."],
      ["legal-compliance", "LegalCompliance", "Legal compliance", "Meet a legal obligation, e.g. keep invoices."],
    ] as const
  ).map(([purpose, dpvClass, label, description]) =>
    Object.freeze({ purpose, dpv: DPV + dpvClass, label, description }),
  ),
);

/** The purpose tokens alone. */
export const PURPOSE_TOKENS: readonly Purpose[] = Object.freeze(PURPOSES.map((p) => p.purpose));

const purposeIndex = new Map<string, number>(PURPOSE_TOKENS.map((token, index) => [token, index]));

/** Whether `value` is a purpose token. */
export function isPurpose(value: unknown): value is Purpose {
  return typeof value === "string" && purposeIndex.has(value);
}

/** 0-based position of a purpose in PURPOSES, or -1 for anything else. */
export function purposeOrdinal(value: string): number {
  return purposeIndex.get(value) ?? -1;
}

/** The DPV class IRI of a purpose. */
export function dpvPurpose(purpose: Purpose): string {
  return (PURPOSES[purposeOrdinal(purpose)] as PurposeInfo).dpv;
}

// ---------------------------------------------------------------------------
// Limits of a terms document (the schema says the same).

export const MAX_RULES = 100;
export const MAX_RULE_FIELDS = 64;
export const MAX_RULE_CATEGORIES = 32;
export const MAX_VENDOR_IDS = 100;
export const MAX_VENDOR_DOMAINS = 32;
export const MAX_TITLE_LENGTH = 200;
export const MAX_DESCRIPTION_LENGTH = 500;
export const MAX_RETENTION_DAYS = 3650;
export const MAX_GRANT_EXPIRY_DAYS = 3650;
export const MAX_READS_PER_DAY = 1_000_000;
export const MAX_REQUEST_FIELDS = 64;

/** A rule id: lower-case letters, digits and hyphens, starting with a letter. */
export const RULE_ID_PATTERN = /^[a-z][a-z0-9-]{0,63}$/;
