import { createAuthorizedClient, expectSuccess, unwrap, type ApiClient, type ClientOptions, type TokenSession, type Tokens } from './client.js';
import { revokeTokens } from './tokens.js';
import { ProfferProblem } from './problem.js';
import type {
  Acknowledgement,
  AcknowledgementInput,
  Evaluation,
  JsonFeed,
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

export type FeedFormat = 'atom' | 'rss' | 'json';

export interface FeedReadOptions extends PageOptions {
  /** Atom by default. */
  format?: FeedFormat;
  /** The `etag` of the previous read: answered `notModified` if nothing changed since. */
  etag?: string | null;
  /** The `lastModified` of the previous read (If-Modified-Since), for when no ETag was kept. */
  lastModified?: string | null;
}

/** A read of a subscription's feed: either nothing new (`notModified`), or the page. */
export type FeedRead =
  | { notModified: true; etag: string | null }
  | {
      notModified: false;
      /** Keep for the next read (If-None-Match). */
      etag: string | null;
      lastModified: string | null;
      contentType: string;
      /** The document as sent: Atom, RSS or JSON Feed. */
      text: string;
      /** The parsed JSON Feed, when the format is `json`. */
      feed?: JsonFeed;
    };

export interface FeedWatchOptions extends Omit<FeedReadOptions, 'etag' | 'lastModified' | 'cursor'> {
  /** Milliseconds between polls (default 30 s). */
  intervalMs?: number;
  /** Stops the watch. */
  signal?: AbortSignal;
}

export interface SubscriptionRequestOptions {
  /** Any unique string per request (a UUID): a retry then answers the first attempt's subscription. */
  idempotencyKey?: string;
}

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
        params: { header: options.idempotencyKey ? { 'Idempotency-Key': options.idempotencyKey } : {} },
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
  async readFeed(subscriptionId: string, options: FeedReadOptions = {}): Promise<FeedRead> {
    const { etag, lastModified, ...query } = options;
    const header: Record<string, string> = {};
    if (etag) header['If-None-Match'] = etag;
    if (lastModified) header['If-Modified-Since'] = lastModified;
    const { data, error, response } = await this.api.GET('/v1/subscriptions/{subscriptionId}/feed', {
      params: { path: { subscriptionId }, query, header },
      parseAs: 'text',
    });
    if (response.status === 304) return { notModified: true, etag: response.headers.get('etag') ?? etag ?? null };
    if (!response.ok || data === undefined) throw ProfferProblem.fromResponse(response, error);
    const contentType = response.headers.get('content-type') ?? '';
    return {
      notModified: false,
      etag: response.headers.get('etag'),
      lastModified: response.headers.get('last-modified'),
      contentType,
      text: data,
      ...(/^application\/feed\+json/.test(contentType) ? { feed: JSON.parse(data) as JsonFeed } : {}),
    };
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
