import { allPages, createAuthorizedClient, expectSuccess, idempotencyHeader, unwrap, type ApiClient, type IdempotentOptions, type ClientOptions, type TokenSession, type Tokens } from './client.js';
import { conditional, feedRead, type FeedRead, type FeedReadOptions } from './feeds.js';
import { revokeTokens } from './tokens.js';
import type {
  AccessLog,
  AccessLogJsonFeed,
  Approval,
  Evaluation,
  Export,
  FeedLink,
  IssuedFeedLink,
  Need,
  NeedInput,
  NeedList,
  NeedOffer,
  NeedOfferList,
  NeedPatch,
  NeedStatus,
  OfferStatus,
  PageOptions,
  Person,
  Profile,
  ProfilePatch,
  ReceiptList,
  Subscription,
  SubscriptionList,
  SubscriptionStatus,
  Terms,
  TermsEvaluation,
  TermsInput,
  TermsVersionList,
} from './types.js';

const XML = 'application/xml';
/** openapi-fetch serializes bodies as JSON; XML documents are sent as the text they are. */
const asText = (body: unknown) => body as string;

export interface ProfileWriteOptions {
  /** Only if the profile is still at this ETag (optimistic concurrency); else a 412 problem. */
  ifMatch?: string;
}

/**
 * A signed-in person: every operation of the person's side of the contract, with the access
 * token renewed by itself when it expires. Failures throw `ProfferProblem`.
 */
export class PersonClient {
  /** The typed client, authorized as this person, for anything the helpers do not cover. */
  readonly api: ApiClient;
  readonly #session: TokenSession;
  readonly #anonymous: ApiClient;

  constructor(options: ClientOptions, session: TokenSession, anonymous: ApiClient) {
    this.#session = session;
    this.#anonymous = anonymous;
    this.api = createAuthorizedClient(options, session);
  }

  /** The current tokens (they change when renewed). */
  get tokens(): Tokens {
    return this.#session.tokens;
  }

  me(): Promise<Person> {
    return unwrap(this.api.GET('/v1/me'));
  }

  // --- profile -------------------------------------------------------------------------------

  getProfile(): Promise<Profile> {
    return unwrap(this.api.GET('/v1/me/profile'));
  }

  /** The profile in Proffer XML (docs/xml.md). */
  getProfileXml(): Promise<string> {
    return unwrap(this.api.GET('/v1/me/profile', { headers: { accept: XML }, parseAs: 'text' }));
  }

  setProfile(profile: Profile, options: ProfileWriteOptions = {}): Promise<Profile> {
    return unwrap(this.api.PUT('/v1/me/profile', { body: profile, headers: ifMatch(options) }));
  }

  /** Replaces the profile with a Proffer XML document; answers the stored profile as XML. */
  setProfileXml(xml: string, options: ProfileWriteOptions = {}): Promise<string> {
    return unwrap(
      this.api.PUT('/v1/me/profile', {
        body: xml as unknown as Profile,
        bodySerializer: asText,
        headers: { 'content-type': XML, accept: XML, ...ifMatch(options) },
        parseAs: 'text',
      }),
    );
  }

  /** JSON Merge Patch (RFC 7386): `null` removes a field. */
  patchProfile(patch: ProfilePatch, options: ProfileWriteOptions = {}): Promise<Profile> {
    return unwrap(this.api.PATCH('/v1/me/profile', { body: patch, headers: { 'content-type': 'application/merge-patch+json', ...ifMatch(options) } }));
  }

  // --- needs ---------------------------------------------------------------------------------

  listNeeds(options: PageOptions & { status?: NeedStatus } = {}): Promise<NeedList> {
    return unwrap(this.api.GET('/v1/me/needs', { params: { query: options } }));
  }

  /** Every need (all pages), newest first. */
  allNeeds(options: { status?: NeedStatus } = {}): Promise<Need[]> {
    return allPages((paging) => this.listNeeds({ ...options, ...paging }));
  }

  /** Adds a need. With an `idempotencyKey`, a retry answers the need the first attempt made instead of adding another. */
  createNeed(need: NeedInput, options: IdempotentOptions = {}): Promise<Need> {
    return unwrap(this.api.POST('/v1/me/needs', { body: need, params: { header: idempotencyHeader(options) } }));
  }

  /** Adds a need written in Proffer XML; answers it as JSON. */
  createNeedXml(xml: string, options: IdempotentOptions = {}): Promise<Need> {
    return unwrap(
      this.api.POST('/v1/me/needs', {
        body: xml as unknown as NeedInput,
        bodySerializer: asText,
        params: { header: idempotencyHeader(options) },
        headers: { 'content-type': XML, accept: 'application/json' },
      }),
    );
  }

  getNeed(needId: string): Promise<Need> {
    return unwrap(this.api.GET('/v1/me/needs/{needId}', { params: { path: { needId } } }));
  }

  updateNeed(needId: string, patch: NeedPatch): Promise<Need> {
    return unwrap(this.api.PATCH('/v1/me/needs/{needId}', { params: { path: { needId } }, body: patch, headers: { 'content-type': 'application/merge-patch+json' } }));
  }

  /** Marks a need fulfilled (or withdrawn): it stays in the history, no longer open. */
  closeNeed(needId: string, status: 'fulfilled' | 'withdrawn' = 'fulfilled'): Promise<Need> {
    return this.updateNeed(needId, { status });
  }

  async deleteNeed(needId: string): Promise<void> {
    await expectSuccess(this.api.DELETE('/v1/me/needs/{needId}', { params: { path: { needId } } }));
  }

  /** Offers vendors made on the need (while it was public), newest first. */
  listNeedOffers(needId: string, options: PageOptions & { status?: OfferStatus } = {}): Promise<NeedOfferList> {
    return unwrap(this.api.GET('/v1/me/needs/{needId}/offers', { params: { path: { needId }, query: options } }));
  }

  getNeedOffer(needId: string, offerId: string): Promise<NeedOffer> {
    return unwrap(this.api.GET('/v1/me/needs/{needId}/offers/{offerId}', { params: { path: { needId, offerId } } }));
  }

  /**
   * Accepts an open offer: the vendor's request it carries is made under the person's terms as
   * they stand now, and decided by them (`subscription` names it). The vendor then knows who you are.
   */
  acceptOffer(needId: string, offerId: string): Promise<NeedOffer> {
    return unwrap(this.api.POST('/v1/me/needs/{needId}/offers/{offerId}/accept', { params: { path: { needId, offerId } } }));
  }

  /** Declines an open offer; the reason, if any, is shown to the vendor. */
  declineOffer(needId: string, offerId: string, reason?: string): Promise<NeedOffer> {
    return unwrap(this.api.POST('/v1/me/needs/{needId}/offers/{offerId}/decline', { params: { path: { needId, offerId } }, body: reason ? { reason } : {} }));
  }

  /** The person's own feed (Atom by default; RSS or JSON Feed on request), as text. */
  myFeed(options: PageOptions & { format?: 'atom' | 'rss' | 'json' } = {}): Promise<string> {
    return unwrap(this.api.GET('/v1/me/feed', { params: { query: options }, parseAs: 'text' }));
  }

  // --- terms ---------------------------------------------------------------------------------

  getTerms(): Promise<Terms> {
    return unwrap(this.api.GET('/v1/me/terms'));
  }

  setTerms(terms: TermsInput): Promise<Terms> {
    return unwrap(this.api.PUT('/v1/me/terms', { body: terms }));
  }

  termsVersions(options: PageOptions = {}): Promise<TermsVersionList> {
    return unwrap(this.api.GET('/v1/me/terms/versions', { params: { query: options } }));
  }

  /** A dry run: how the current terms would decide this request, field by field, and why. */
  evaluateTerms(evaluation: TermsEvaluation): Promise<Evaluation> {
    return unwrap(this.api.POST('/v1/me/terms/evaluate', { body: evaluation }));
  }

  /** Makes one of the server's templates (`GET /v1/terms-templates`) the person's terms. */
  async applyTemplate(templateId: string): Promise<Terms> {
    const { items } = await unwrap(this.#anonymous.GET('/v1/terms-templates'));
    const template = items.find((candidate) => candidate.id === templateId);
    if (!template) throw new Error(`No terms template "${templateId}"; the templates are: ${items.map((t) => t.id).join(', ')}.`);
    return this.setTerms(template.terms);
  }

  // --- subscriptions -------------------------------------------------------------------------

  listSubscriptions(options: PageOptions & { status?: SubscriptionStatus } = {}): Promise<SubscriptionList> {
    return unwrap(this.api.GET('/v1/me/subscriptions', { params: { query: options } }));
  }

  getSubscription(subscriptionId: string): Promise<Subscription> {
    return unwrap(this.api.GET('/v1/me/subscriptions/{subscriptionId}', { params: { path: { subscriptionId } } }));
  }

  /** Approves a pending request, optionally narrowed to some of its fields or purposes. */
  approve(subscriptionId: string, narrowed: Approval = {}): Promise<Subscription> {
    return unwrap(this.api.POST('/v1/me/subscriptions/{subscriptionId}/approve', { params: { path: { subscriptionId } }, body: narrowed }));
  }

  reject(subscriptionId: string, reason?: string): Promise<Subscription> {
    return unwrap(this.api.POST('/v1/me/subscriptions/{subscriptionId}/reject', { params: { path: { subscriptionId } }, body: reason ? { reason } : {} }));
  }

  /** Ends a grant (or withdraws from a pending request): the vendor's very next read is refused. */
  revoke(subscriptionId: string, reason?: string): Promise<Subscription> {
    return unwrap(this.api.POST('/v1/me/subscriptions/{subscriptionId}/revoke', { params: { path: { subscriptionId } }, body: reason ? { reason } : {} }));
  }

  /** The capability links the vendor made for this subscription (never their URLs). */
  async feedLinks(subscriptionId: string): Promise<FeedLink[]> {
    return (await unwrap(this.api.GET('/v1/me/subscriptions/{subscriptionId}/feed-links', { params: { path: { subscriptionId } } }))).items;
  }

  /** Kills a feed link: its URL stops working at once. */
  async deleteFeedLink(subscriptionId: string, linkId: string): Promise<void> {
    await expectSuccess(this.api.DELETE('/v1/me/subscriptions/{subscriptionId}/feed-links/{linkId}', { params: { path: { subscriptionId, linkId } } }));
  }

  /** Gives a feed link a new URL (in this answer only, to pass on); the old one stops working at once. */
  rotateFeedLink(subscriptionId: string, linkId: string): Promise<IssuedFeedLink> {
    return unwrap(this.api.POST('/v1/me/subscriptions/{subscriptionId}/feed-links/{linkId}/rotate', { params: { path: { subscriptionId, linkId } } }));
  }

  /** Every vendor read of the person's data, newest first. */
  accessLog(options: PageOptions & { vendor?: string; subscription?: string } = {}): Promise<AccessLog> {
    return unwrap(this.api.GET('/v1/me/access-log', { params: { query: options } }));
  }

  /** The access log as a feed (Atom by default), revalidated with the previous read's `etag` like `VendorClient.readFeed`. */
  accessLogFeed(options: FeedReadOptions = {}): Promise<FeedRead<AccessLogJsonFeed>> {
    const { query, header } = conditional(options);
    return feedRead(this.api.GET('/v1/me/access-log/feed', { params: { query, header }, parseAs: 'text' }), options.etag);
  }

  /** Every consent receipt, newest first (verify them with `Proffer.verifyReceipt`). */
  receipts(options: PageOptions = {}): Promise<ReceiptList> {
    return unwrap(this.api.GET('/v1/me/receipts', { params: { query: options } }));
  }

  // --- the account ---------------------------------------------------------------------------

  /** Everything held about the person. */
  exportData(): Promise<Export> {
    return unwrap(this.api.GET('/v1/me/export'));
  }

  exportXml(): Promise<string> {
    return unwrap(this.api.GET('/v1/me/export', { headers: { accept: XML }, parseAs: 'text' }));
  }

  /** Erases the person and everything held about them; every token stops working. Irreversible. */
  async erase(): Promise<void> {
    await expectSuccess(this.api.DELETE('/v1/me'));
  }

  /** Ends this session on the server (its refresh token and access tokens). */
  logout(): Promise<void> {
    return revokeTokens(this.#anonymous, this.#session.tokens.refreshToken);
  }
}

const ifMatch = (options: ProfileWriteOptions): Record<string, string> => (options.ifMatch ? { 'if-match': options.ifMatch } : {});
