import { createAuthorizedClient, expectSuccess, idempotencyHeader, unwrap, type IdempotentOptions, type ApiClient, type ClientOptions, type TokenSession, type Tokens } from './client.js';
import { conditional, feedRead, type FeedRead, type FeedReadOptions } from './feeds.js';
import { revokeTokens } from './tokens.js';
import type {
  Acknowledgement,
  AcknowledgementInput,
  Evaluation,
  FeedLink,
  IssuedFeedLink,
  Offer,
  OfferInput,
  OfferList,
  OfferStatus,
  PageOptions,
  Profile,
  PublicTerms,
  Subscription,
  SubscriptionList,
  SubscriptionRequest,
  SubscriptionStatus,
  VendorRequest,
  Webhook,
  WebhookInput,
} from './types.js';

export interface FeedWatchOptions extends Omit<FeedReadOptions, 'etag' | 'lastModified' | 'cursor'> {
  /** Milliseconds between polls (default 30 s). */
  intervalMs?: number;
  /** Stops the watch. */
  signal?: AbortSignal;
}

/** A retry under the same `idempotencyKey` answers the first attempt's subscription. */
export type SubscriptionRequestOptions = IdempotentOptions;

/**
 * A vendor signed in with its client credentials: ask people for fields, read what was granted.
 * The access token is renewed by itself (refresh token, or the client credentials again when the
 * session has ended). Failures throw `ProfferProblem`.
 */
export class VendorClient {
  /** The typed client, authorized as this vendor, for anything the helpers do not cover. */
  readonly api: ApiClient;
  readonly #session: TokenSession;
  readonly #anonymous: ApiClient;

  constructor(options: ClientOptions, session: TokenSession, anonymous: ApiClient) {
    this.#session = session;
    this.#anonymous = anonymous;
    this.api = createAuthorizedClient(options, session);
  }

  get tokens(): Tokens {
    return this.#session.tokens;
  }

  /** What a person lets vendors ask for (no values): shape a request that will be granted. */
  publicTerms(handle: string): Promise<PublicTerms> {
    // JSON by default; the operation also speaks ODRL (`Proffer.publicTermsOdrl`), hence the narrowing.
    return unwrap(this.#anonymous.GET('/v1/people/{handle}/terms', { params: { path: { handle }, query: { format: 'json' } } })) as Promise<PublicTerms>;
  }

  /** How a draft request from this vendor would be decided, field by field. */
  previewTerms(handle: string, request: VendorRequest): Promise<Evaluation> {
    return unwrap(this.api.POST('/v1/people/{handle}/terms/preview', { params: { path: { handle } }, body: request }));
  }

  /** Instead of a registration form: asks a person for fields. The terms decide at once. */
  requestSubscription(request: SubscriptionRequest, options: SubscriptionRequestOptions = {}): Promise<Subscription> {
    return unwrap(
      this.api.POST('/v1/subscriptions', {
        body: request,
        params: { header: idempotencyHeader(options) },
      }),
    );
  }

  listSubscriptions(options: PageOptions & { status?: SubscriptionStatus } = {}): Promise<SubscriptionList> {
    return unwrap(this.api.GET('/v1/subscriptions', { params: { query: options } }));
  }

  getSubscription(subscriptionId: string): Promise<Subscription> {
    return unwrap(this.api.GET('/v1/subscriptions/{subscriptionId}', { params: { path: { subscriptionId } } }));
  }

  /** The vendor ends the subscription itself: nothing more can be read under it. */
  endSubscription(subscriptionId: string): Promise<Subscription> {
    return unwrap(this.api.DELETE('/v1/subscriptions/{subscriptionId}', { params: { path: { subscriptionId } } }));
  }

  /** The filled-in form: exactly the granted fields of the person's profile, as they are now. */
  readProfile(subscriptionId: string): Promise<Profile> {
    return unwrap(this.api.GET('/v1/subscriptions/{subscriptionId}/profile', { params: { path: { subscriptionId } } }));
  }

  readProfileXml(subscriptionId: string): Promise<string> {
    return unwrap(this.api.GET('/v1/subscriptions/{subscriptionId}/profile', { params: { path: { subscriptionId } }, headers: { accept: 'application/xml' }, parseAs: 'text' }));
  }

  /**
   * One page of the feed of the person's events under this subscription, redacted to the grant as
   * it stands. Pass the previous read's `etag` to revalidate: an unchanged feed answers
   * `{ notModified: true }` (a 304, which the person's access log does not count as a read).
   */
  readFeed(subscriptionId: string, options: FeedReadOptions = {}): Promise<FeedRead> {
    const { query, header } = conditional(options);
    return feedRead(this.api.GET('/v1/subscriptions/{subscriptionId}/feed', { params: { path: { subscriptionId }, query, header }, parseAs: 'text' }), options.etag);
  }

  /**
   * Polls the feed's first page every `intervalMs`, revalidating with its ETag, and yields each
   * page that changed (the first read always). Ends when `signal` aborts; a refusal (revoked
   * grant: 403 `grant-inactive`) is thrown.
   */
  async *watchFeed(subscriptionId: string, options: FeedWatchOptions = {}): AsyncGenerator<Extract<FeedRead, { notModified: false }>> {
    const { intervalMs = 30_000, signal, ...read } = options;
    let etag: string | null = null;
    while (!signal?.aborted) {
      const page = await this.readFeed(subscriptionId, { ...read, etag });
      if (!page.notModified) {
        etag = page.etag;
        yield page;
      }
      await sleep(intervalMs, signal);
    }
  }

  // --- capability feed links -----------------------------------------------------------------

  /**
   * Mints a URL that serves this subscription's feed without a token (for feed readers and other
   * tools that can only poll a URL), while the grant is active. The URL is in this answer only.
   */
  createFeedLink(subscriptionId: string): Promise<IssuedFeedLink> {
    return unwrap(this.api.POST('/v1/subscriptions/{subscriptionId}/feed-links', { params: { path: { subscriptionId } } }));
  }

  /** The subscription's feed links (never their URLs), oldest first. */
  async feedLinks(subscriptionId: string): Promise<FeedLink[]> {
    return (await unwrap(this.api.GET('/v1/subscriptions/{subscriptionId}/feed-links', { params: { path: { subscriptionId } } }))).items;
  }

  /** The link's URL stops working at once. */
  async deleteFeedLink(subscriptionId: string, linkId: string): Promise<void> {
    await expectSuccess(this.api.DELETE('/v1/subscriptions/{subscriptionId}/feed-links/{linkId}', { params: { path: { subscriptionId, linkId } } }));
  }

  // --- offers on public intents --------------------------------------------------------------

  /**
   * Answers a public intent (`Proffer.intents`). One open offer per intent: the same offer again
   * answers the open one; a different one is a 409 `offer-exists` (withdraw the first).
   */
  createOffer(intentId: string, offer: OfferInput): Promise<Offer> {
    return unwrap(this.api.POST('/v1/intents/{intentId}/offers', { params: { path: { intentId } }, body: offer }));
  }

  listOffers(options: PageOptions & { status?: OfferStatus } = {}): Promise<OfferList> {
    return unwrap(this.api.GET('/v1/offers', { params: { query: options } }));
  }

  /** The offer's status and, once the person accepted it, the subscription it made. */
  getOffer(offerId: string): Promise<Offer> {
    return unwrap(this.api.GET('/v1/offers/{offerId}', { params: { path: { offerId } } }));
  }

  /** Withdraws an open offer (any other state is a 409 `invalid-state`). */
  withdrawOffer(offerId: string): Promise<Offer> {
    return unwrap(this.api.DELETE('/v1/offers/{offerId}', { params: { path: { offerId } } }));
  }

  // --- push ----------------------------------------------------------------------------------

  /**
   * Registers (or replaces) the https endpoint the subscription's events are pushed to. Without a
   * `secret`, a new webhook gets a generated one, in this answer only: keep it, to check each
   * delivery with `verifyWebhook`.
   */
  setWebhook(subscriptionId: string, webhook: WebhookInput): Promise<Webhook> {
    return unwrap(this.api.PUT('/v1/subscriptions/{subscriptionId}/webhook', { params: { path: { subscriptionId } }, body: webhook }));
  }

  /** The webhook and how its deliveries go (waiting messages, attempts, last error). */
  getWebhook(subscriptionId: string): Promise<Webhook> {
    return unwrap(this.api.GET('/v1/subscriptions/{subscriptionId}/webhook', { params: { path: { subscriptionId } } }));
  }

  async deleteWebhook(subscriptionId: string): Promise<void> {
    await expectSuccess(this.api.DELETE('/v1/subscriptions/{subscriptionId}/webhook', { params: { path: { subscriptionId } } }));
  }

  /** The deletions the vendor is asked to confirm (after a revocation or an erasure). */
  async acknowledgements(subscriptionId: string): Promise<Acknowledgement[]> {
    return (await unwrap(this.api.GET('/v1/subscriptions/{subscriptionId}/acknowledgements', { params: { path: { subscriptionId } } }))).items;
  }

  /** Confirms the vendor deleted what it held, by the asking message's `webhook-id` or by kind. */
  acknowledgeDeletion(subscriptionId: string, which: AcknowledgementInput): Promise<Acknowledgement> {
    return unwrap(this.api.POST('/v1/subscriptions/{subscriptionId}/acknowledgements', { params: { path: { subscriptionId } }, body: which }));
  }

  /** Ends this session on the server. */
  logout(): Promise<void> {
    return revokeTokens(this.#anonymous, this.#session.tokens.refreshToken);
  }
}

const sleep = (ms: number, signal: AbortSignal | undefined) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
