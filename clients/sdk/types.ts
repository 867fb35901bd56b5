// Names for the contract's documents, so SDK users need not spell components['schemas'][…].
// Every alias is checked against the generated types: a schema renamed in openapi.yaml breaks here.
import type { components, operations, paths } from './generated/openapi.js';

type Schemas = components['schemas'];

export type { components, operations, paths };
export type Person = Schemas['Person'];
export type SignUp = Schemas['SignUp'];
export type VendorRegistration = Schemas['VendorRegistration'];
export type VendorCredentials = Schemas['VendorCredentials'];
export type TokenResponse = Schemas['TokenResponse'];
export type Profile = Schemas['Profile'];
export type ProfilePatch = Schemas['MergePatch'];
export type Need = Schemas['Need'];
export type NeedInput = Schemas['NeedInput'];
export type NeedPatch = Schemas['NeedPatch'];
export type NeedList = Schemas['NeedList'];
export type NeedStatus = Need['status'];
export type Terms = Schemas['Terms'];
export type TermsInput = Schemas['TermsInput'];
export type TermsVersionList = Schemas['TermsVersionList'];
export type TermsEvaluation = Schemas['TermsEvaluation'];
export type Template = Schemas['Template'];
export type VendorRequest = Schemas['VendorRequest'];
export type Evaluation = Schemas['Evaluation'];
export type PublicTerms = Schemas['PublicTerms'];
export type OdrlPolicy = Schemas['OdrlPolicy'];
export type SubscriptionRequest = Schemas['SubscriptionRequest'];
export type Subscription = Schemas['Subscription'];
export type SubscriptionList = Schemas['SubscriptionList'];
export type SubscriptionStatus = Subscription['status'];
export type Approval = Schemas['Approval'];
export type AccessLog = Schemas['AccessLog'];
export type AccessLogEntry = AccessLog['items'][number];
export type Receipt = Schemas['Receipt'];
export type ConsentReceipt = Schemas['ConsentReceipt'];
export type ReceiptList = Schemas['ReceiptList'];
export type Jwks = Schemas['Jwks'];
export type Export = Schemas['Export'];
export type JsonFeed = Schemas['JsonFeed'];
export type Problem = Schemas['Problem'];
export type WebhookInput = Schemas['WebhookInput'];
export type Webhook = Schemas['Webhook'];
/** The body of every webhook delivery: `{type, timestamp, data}`, a union by `type`. */
export type WebhookMessage = Schemas['WebhookMessage'];
export type AcknowledgementInput = Schemas['AcknowledgementInput'];
export type Acknowledgement = Schemas['Acknowledgement'];
export type AcknowledgementList = Schemas['AcknowledgementList'];
export type FeedLink = Schemas['FeedLink'];
/** A feed link as minted or rotated: with its URL, shown this once. */
export type IssuedFeedLink = Schemas['IssuedFeedLink'];
export type FeedLinkList = Schemas['FeedLinkList'];
export type Intent = Schemas['Intent'];
export type IntentJsonFeed = Schemas['IntentJsonFeed'];
/** The filters, format and paging of `GET /v1/intents`. */
export type IntentQuery = NonNullable<operations['listIntents']['parameters']['query']>;
export type OfferInput = Schemas['OfferInput'];
/** An offer as the vendor that made it sees it. */
export type Offer = Schemas['Offer'];
export type OfferList = Schemas['OfferList'];
export type OfferStatus = Offer['status'];
/** An offer as the person sees it, under their need. */
export type NeedOffer = Schemas['NeedOffer'];
export type NeedOfferList = Schemas['NeedOfferList'];
export type AccessLogJsonFeed = Schemas['AccessLogJsonFeed'];

/** A page of a list: its items and the cursor of the next page (null on the last). */
export interface Page<T> {
  items: T[];
  next: string | null;
}

export interface PageOptions {
  limit?: number;
  cursor?: string;
}
