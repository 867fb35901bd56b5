// The Proffer SDK: typed from openapi.yaml (generated/openapi.ts, by `npm run codegen`), requests
// made by openapi-fetch. Start with `new Proffer({ baseUrl })`; see clients/README.md.
export { Proffer, type SessionOptions, type VendorSessionOptions } from './proffer.js';
export { PersonClient, type ProfileWriteOptions } from './person.js';
export { VendorClient, type FeedWatchOptions, type SubscriptionRequestOptions } from './vendor.js';
export { type FeedFormat, type FeedRead, type FeedReadOptions, type Revalidation } from './feeds.js';
export { ProfferProblem, ProfferUnreachable, type FieldError } from './problem.js';
export {
  createApiClient,
  createAuthorizedClient,
  allPages,
  TokenSession,
  unwrap,
  type ApiClient,
  type IdempotentOptions,
  type ClientOptions,
  type FetchLike,
  type Tokens,
  type TokensListener,
  type Renew,
} from './client.js';
export { verifyReceiptWith, RECEIPT_TYP } from './receipts.js';
export { verifyWebhook, WebhookVerificationError, type VerifiedWebhook } from './webhooks.js';
export type * from './types.js';
