import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { paths } from './generated/openapi.js';
import { ProfferProblem, ProfferUnreachable } from './problem.js';
import type { Page, PageOptions } from './types.js';

/** The typed openapi-fetch client of the whole contract: `api.GET('/v1/me/profile')`, etc. */
export type ApiClient = Client<paths>;

/** What the SDK sends requests through: `globalThis.fetch` by default; tests route it to `app.inject`. */
export type FetchLike = (request: Request) => Promise<Response>;

export interface ClientOptions {
  /** The server's address, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  fetch?: FetchLike;
  /** Sent with every request (e.g. a `user-agent`). */
  headers?: Record<string, string>;
}

/** A typed client that reports an unreachable server as `ProfferUnreachable`, and nothing more. */
export function createApiClient(options: ClientOptions): ApiClient {
  const api = createClient<paths>({
    baseUrl: options.baseUrl,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
  });
  api.use(unreachable(options.baseUrl));
  return api;
}

function unreachable(baseUrl: string): Middleware {
  return {
    onError({ error }) {
      // An abort is the caller's own doing: let it through as it is.
      if (error instanceof ProfferUnreachable || (error as { name?: string }).name === 'AbortError') return undefined;
      return new ProfferUnreachable(baseUrl, error);
    },
  };
}

interface Answer {
  data?: unknown;
  error?: unknown;
  response: Response;
}

/** The body of a 2xx answer; any other answer is thrown as a `ProfferProblem`. */
export async function unwrap<A extends Answer>(pending: Promise<A>): Promise<NonNullable<A['data']>> {
  const { data, error, response } = await pending;
  if (!response.ok) throw ProfferProblem.fromResponse(response, error);
  return data as NonNullable<A['data']>;
}

/** For answers without a body (204): succeeds or throws the problem. */
export async function expectSuccess(pending: Promise<Answer>): Promise<Response> {
  const { error, response } = await pending;
  if (!response.ok) throw ProfferProblem.fromResponse(response, error);
  return response;
}

export interface IdempotentOptions {
  /** Any unique string per request (a UUID): a retry under it answers what the first attempt made. */
  idempotencyKey?: string;
}

/** The request header of an operation that takes an Idempotency-Key. */
export const idempotencyHeader = ({ idempotencyKey }: IdempotentOptions): { 'Idempotency-Key'?: string } =>
  idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {};

/** Every item of a paged list, following its `next` cursors (100 items a request). */
export async function allPages<T>(page: (paging: PageOptions) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const answer: Page<T> = await page({ limit: 100, ...(cursor ? { cursor } : {}) });
    items.push(...answer.items);
    cursor = answer.next;
  } while (cursor);
  return items;
}

export interface Tokens {
  accessToken: string;
  refreshToken: string;
}

/** Called with the new tokens after every renewal: save them, since the old refresh token is spent. */
export type TokensListener = (tokens: Tokens) => void | Promise<void>;

/** Asks the server for new tokens in exchange for `current` (its refresh token is then spent). */
export type Renew = (current: Tokens) => Promise<Tokens>;

/**
 * The tokens of one signed-in principal and how to renew them. Renewal happens at most once at a
 * time: refresh tokens rotate and a spent one used again ends the whole session, so concurrent
 * requests that all find their access token expired must share a single refresh.
 */
export class TokenSession {
  #tokens: Tokens;
  #renewing: Promise<void> | undefined;
  readonly #renew: Renew;
  readonly #onTokens: TokensListener | undefined;

  constructor(tokens: Tokens, renew: Renew, onTokens?: TokensListener) {
    this.#tokens = { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken };
    this.#renew = renew;
    this.#onTokens = onTokens;
  }

  get tokens(): Tokens {
    return { ...this.#tokens };
  }

  /** The renewal in flight, if any: requests wait for it rather than send a token known to be stale. */
  get renewing(): Promise<void> | undefined {
    return this.#renewing;
  }

  /**
   * Renews the tokens because `staleAccessToken` was refused. If they were renewed since that token
   * was sent, there is nothing to do; if a renewal is in flight, this joins it.
   */
  renewAfter(staleAccessToken: string): Promise<void> {
    if (this.#renewing) return this.#renewing;
    if (this.#tokens.accessToken !== staleAccessToken) return Promise.resolve();
    this.#renewing = (async () => {
      const next = await this.#renew(this.#tokens);
      this.#tokens = { accessToken: next.accessToken, refreshToken: next.refreshToken };
      await this.#onTokens?.(this.tokens);
    })().finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }
}

/** RFC 6750 §3: a refused bearer token says `error="invalid_token"` in WWW-Authenticate. */
const refusesToken = (response: Response) => response.status === 401 && /error="invalid_token"/.test(response.headers.get('www-authenticate') ?? '');

/**
 * Sends the session's access token with every request that carries no Authorization of its own;
 * when the server refuses it as invalid (expired, typically), renews the tokens once and repeats
 * the request once. If the renewal fails, the original 401 stands.
 */
export function bearerAuth(session: TokenSession, baseUrl: string): Middleware {
  const sent = new Map<string, { retry: Request; token: string }>();
  return {
    async onRequest({ request, id }) {
      if (request.headers.has('authorization')) return undefined;
      await session.renewing?.catch(() => {});
      const token = session.tokens.accessToken;
      request.headers.set('authorization', `Bearer ${token}`);
      // The body of `request` is consumed when it is sent: keep an unsent copy for the one retry.
      sent.set(id, { retry: request.clone(), token });
      return request;
    },
    async onResponse({ response, id, options }) {
      const attempt = sent.get(id);
      sent.delete(id);
      if (!attempt || !refusesToken(response)) return undefined;
      try {
        await session.renewAfter(attempt.token);
      } catch (error) {
        // Refused by the server (session over): the original 401 says so. Anything else (the
        // server unreachable, a coordinateRenewal that failed) is the real reason: thrown.
        if (error instanceof ProfferProblem) return undefined;
        throw error;
      }
      attempt.retry.headers.set('authorization', `Bearer ${session.tokens.accessToken}`);
      try {
        return await options.fetch(attempt.retry);
      } catch (error) {
        throw new ProfferUnreachable(baseUrl, error);
      }
    },
    onError({ id }) {
      sent.delete(id);
      return undefined;
    },
  };
}

/** A typed client that signs its requests with the session's tokens, renewing them as needed. */
export function createAuthorizedClient(options: ClientOptions, session: TokenSession): ApiClient {
  const api = createApiClient(options);
  api.use(bearerAuth(session, options.baseUrl));
  return api;
}
