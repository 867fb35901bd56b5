import { errors as joseErrors } from 'jose';
import { createApiClient, TokenSession, unwrap, type ApiClient, type ClientOptions, type Renew, type Tokens, type TokensListener } from './client.js';
import { conditional, feedRead, type FeedRead, type FeedReadOptions, type Revalidation } from './feeds.js';
import { PersonClient } from './person.js';
import { ProfferProblem } from './problem.js';
import { verifyReceiptWith } from './receipts.js';
import { requestTokens } from './tokens.js';
import type { ConsentReceipt, Intent, IntentJsonFeed, IntentQuery, Jwks, OdrlPolicy, Person, PublicTerms, SignUp, Template, VendorCredentials, VendorRegistration } from './types.js';
import { VendorClient } from './vendor.js';

export interface SessionOptions {
  /** Told the new tokens after each renewal (refresh tokens rotate: persist the new one). */
  onTokens?: TokensListener;
  /**
   * For tokens several processes share (a saved session, as the CLI keeps): each renewal goes
   * through this, which may take tokens another process renewed since instead of calling `renew`
   * (a spent refresh token used again ends the session), e.g. under a lock on the shared store.
   */
  coordinateRenewal?: (renew: Renew, current: Tokens) => Promise<Tokens>;
}

/** `renew`, through the session's coordination if it has one. */
const coordinated = (renew: Renew, options: SessionOptions): Renew => {
  const { coordinateRenewal } = options;
  return coordinateRenewal ? (current) => coordinateRenewal(renew, current) : renew;
};

export interface VendorSessionOptions extends SessionOptions {
  /** With the secret, a session that has ended (revoked, expired) is replaced by logging in again. */
  clientSecret?: string;
}

/**
 * The entry point: one server, reached through `fetch` (injectable). Anonymous operations live
 * here; `loginPerson` / `loginVendor` answer clients that act as someone.
 *
 * ```ts
 * const proffer = new Proffer({ baseUrl: 'http://127.0.0.1:8080' });
 * await proffer.signUp({ handle: 'ada', password: 'correct horse battery staple' });
 * const ada = await proffer.loginPerson('ada', 'correct horse battery staple');
 * await ada.setProfile({ name: { given: 'Ada' } });
 * ```
 */
export class Proffer {
  readonly options: ClientOptions;
  /** The typed client without credentials. */
  readonly api: ApiClient;
  #jwks: Promise<Jwks> | undefined;

  constructor(options: ClientOptions) {
    this.options = { ...options, baseUrl: options.baseUrl.replace(/\/+$/, '') };
    this.api = createApiClient(this.options);
  }

  get baseUrl(): string {
    return this.options.baseUrl;
  }

  // --- people --------------------------------------------------------------------------------

  signUp(account: SignUp): Promise<Person> {
    return unwrap(this.api.POST('/v1/people', { body: account }));
  }

  /** Password login (OAuth 2.0 password grant with the handle as username). */
  async loginPerson(handle: string, password: string, options: SessionOptions = {}): Promise<PersonClient> {
    const tokens = await requestTokens(this.api, { grant_type: 'password', username: handle, password });
    return this.person(tokens, options);
  }

  /** A person client from tokens saved earlier (e.g. by a CLI). */
  person(tokens: Tokens, options: SessionOptions = {}): PersonClient {
    const renew = (current: Tokens) => requestTokens(this.api, { grant_type: 'refresh_token', refresh_token: current.refreshToken });
    return new PersonClient(this.options, new TokenSession(tokens, coordinated(renew, options), options.onTokens), this.api);
  }

  // --- vendors -------------------------------------------------------------------------------

  /** Registers a vendor; its `client_secret` is in this answer and never shown again. */
  registerVendor(registration: VendorRegistration): Promise<VendorCredentials> {
    return unwrap(this.api.POST('/v1/vendors', { body: registration }));
  }

  /** Client-credentials login. */
  async loginVendor(clientId: string, clientSecret: string, options: SessionOptions = {}): Promise<VendorClient> {
    const tokens = await requestTokens(this.api, { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret });
    return this.vendor(clientId, tokens, { ...options, clientSecret });
  }

  /** A vendor client from tokens saved earlier. */
  vendor(clientId: string, tokens: Tokens, options: VendorSessionOptions = {}): VendorClient {
    const renew = async (current: Tokens): Promise<Tokens> => {
      try {
        return await requestTokens(this.api, { grant_type: 'refresh_token', refresh_token: current.refreshToken });
      } catch (error) {
        // The session is over (revoked, or idle too long): a vendor can simply log in again.
        if (!(error instanceof ProfferProblem) || !options.clientSecret) throw error;
        return requestTokens(this.api, { grant_type: 'client_credentials', client_id: clientId, client_secret: options.clientSecret });
      }
    };
    return new VendorClient(this.options, new TokenSession(tokens, coordinated(renew, options), options.onTokens), this.api);
  }

  // --- public reads --------------------------------------------------------------------------

  termsTemplates(): Promise<Template[]> {
    return unwrap(this.api.GET('/v1/terms-templates')).then((list) => list.items);
  }

  publicTerms(handle: string): Promise<PublicTerms> {
    // JSON by default; the operation also speaks ODRL (`publicTermsOdrl`), hence the narrowing.
    return unwrap(this.api.GET('/v1/people/{handle}/terms', { params: { path: { handle }, query: { format: 'json' } } })) as Promise<PublicTerms>;
  }

  /** The same public terms as a W3C ODRL 2.2 policy (JSON-LD). */
  publicTermsOdrl(handle: string): Promise<OdrlPolicy> {
    return unwrap(this.api.GET('/v1/people/{handle}/terms', { params: { path: { handle }, query: { format: 'odrl' } } })) as Promise<OdrlPolicy>;
  }

  /**
   * A page of the public intent feed: needs people cast publicly, pseudonymously, newest first,
   * filtered (all filters must hold). `format: 'json'` answers the JSON Feed parsed too, each
   * item's intent in `_proffer`. Pass the previous read's `etag` to revalidate, as `VendorClient.readFeed`.
   */
  intents(options: IntentQuery & Revalidation = {}): Promise<FeedRead<IntentJsonFeed>> {
    const { query, header } = conditional(options);
    return feedRead(this.api.GET('/v1/intents', { params: { query, header }, parseAs: 'text' }), options.etag);
  }

  /** One public intent; one that is closed, private or unknown is a 404 alike. */
  intent(intentId: string): Promise<Intent> {
    return unwrap(this.api.GET('/v1/intents/{intentId}', { params: { path: { intentId } } }));
  }

  /**
   * Reads a subscription's feed through a capability link, without a token: `link` is the link's
   * URL (its path is sent to this client's server) or just its capability. A dead link is a 404.
   */
  async readFeedLink(link: string, options: FeedReadOptions = {}): Promise<FeedRead> {
    const { query, header } = conditional(options);
    return feedRead(this.api.GET('/v1/feeds/{capability}', { params: { path: { capability: capabilityOf(link) }, query, header }, parseAs: 'text' }), options.etag);
  }

  /** The keys that verify consent receipts (fetched once, again when a receipt names an unknown key). */
  jwks(refresh = false): Promise<Jwks> {
    if (refresh || !this.#jwks) {
      this.#jwks = unwrap(this.api.GET('/.well-known/jwks.json'));
      this.#jwks.catch(() => (this.#jwks = undefined));
    }
    return this.#jwks;
  }

  /**
   * Verifies a consent receipt's JWS against this server's published keys and answers the signed
   * payload. `issuer` defaults to the base URL; pass the server's public URL if it differs.
   */
  async verifyReceipt(jws: string, options: { issuer?: string } = {}): Promise<ConsentReceipt> {
    const issuer = options.issuer ?? this.baseUrl;
    try {
      return await verifyReceiptWith(await this.jwks(), jws, { issuer });
    } catch (error) {
      // A key added since the set was fetched: fetch it again, once.
      if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw error;
      return verifyReceiptWith(await this.jwks(true), jws, { issuer });
    }
  }
}

/** The capability of a feed link's URL (`…/v1/feeds/{capability}`), or the capability as given. */
function capabilityOf(link: string): string {
  if (!link.includes('/')) return link;
  const capability = /\/v1\/feeds\/([^/?#]+)$/.exec(link.replace(/[?#].*$/, ''))?.[1];
  // The link is a secret: never repeated in an error.
  if (!capability) throw new Error('Not a feed link: expected …/v1/feeds/{capability}.');
  return decodeURIComponent(capability);
}
