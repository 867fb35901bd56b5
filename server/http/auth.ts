import fastifyJwt from '@fastify/jwt';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { ProblemError } from '../errors.js';
import { isSessionLive, type IssuedSession } from '../services/accounts.js';
import type { Principal } from './contract.js';

export const TOKEN_AUDIENCE = 'proffer-api';
/** One algorithm, pinned on both sides: a token signed any other way (or with `none`) is refused. */
const ALGORITHM = 'HS256';
/** Allowance for clocks of several server processes drifting apart. */
const CLOCK_TOLERANCE_SECONDS = 30;
const VERIFIED_TOKENS_CACHED = 10_000;

export interface AccessClaims {
  sub: string;
  kind: Principal;
  sid: string;
  iss: string;
  aud: string;
  iat: number;
  exp: number;
}

export interface AuthenticatedPrincipal {
  kind: Principal;
  id: string;
  sessionId: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: AuthenticatedPrincipal;
    /** A verified token whose session the handler still has to check (see `authenticate`). */
    unconfirmedPrincipal?: AuthenticatedPrincipal;
  }
}

export interface AuthenticateOptions {
  /**
   * The handler checks that the session is live inside its own first query (joined with what it
   * reads), saving a round trip on a hot path. The token is verified here as always; the handler
   * reads the claims with `unconfirmedPrincipalOf` and answers `sessionEnded()` when its query
   * finds no live session. `principalOf` refuses to serve an unconfirmed principal.
   */
  sessionCheckedByHandler?: boolean;
}

export async function registerJwt(app: FastifyInstance, ctx: AppContext): Promise<void> {
  await app.register(fastifyJwt, {
    secret: ctx.tokenKey,
    sign: { algorithm: ALGORITHM, iss: ctx.config.publicUrl, aud: TOKEN_AUDIENCE, expiresIn: `${ctx.config.accessTokenTtlSeconds}s` },
    verify: {
      algorithms: [ALGORITHM],
      allowedIss: ctx.config.publicUrl,
      allowedAud: TOKEN_AUDIENCE,
      requiredClaims: ['exp', 'iat', 'sub', 'aud', 'iss'],
      clockTolerance: CLOCK_TOLERANCE_SECONDS * 1000,
      // A client repeats its token on every request until it expires (a vendor polling its feed):
      // fast-jwt keeps what it verified, keyed by a digest of the token, never past the token's
      // own exp (plus the tolerance) and never a failure. Whether the session is still live is
      // asked of the database on every request regardless.
      cache: VERIFIED_TOKENS_CACHED,
    },
  });
}

export function signAccessToken(app: FastifyInstance, session: IssuedSession): string {
  return app.jwt.sign({ sub: session.subject, kind: session.kind, sid: session.sessionId });
}

const unauthorized = (detail: string) =>
  new ProblemError('invalid-token', detail, { headers: { 'www-authenticate': `Bearer realm="proffer", error="invalid_token"` } });

// fast-jwt's error codes, as a person reading the problem would want them said.
const TOKEN_ERRORS: Record<string, string> = {
  FAST_JWT_EXPIRED: 'The access token has expired.',
  FAST_JWT_INACTIVE: 'The access token is not valid yet.',
  FAST_JWT_INVALID_ALGORITHM: 'The access token is signed with an algorithm this server does not accept.',
  FAST_JWT_INVALID_SIGNATURE: 'The access token signature does not verify: it was altered or not issued here.',
  FAST_JWT_MISSING_SIGNATURE: 'The access token is unsigned.',
  FAST_JWT_MALFORMED: 'The access token is malformed.',
  FAST_JWT_INVALID_TYPE: 'The access token is malformed.',
  FAST_JWT_INVALID_PAYLOAD: 'The access token is malformed.',
  FAST_JWT_MISSING_REQUIRED_CLAIM: 'The access token lacks a required claim.',
  FAST_JWT_INVALID_CLAIM_VALUE: 'The access token was issued for another audience or issuer.',
  FAST_JWT_INVALID_CLAIM_TYPE: 'The access token has a claim of the wrong type.',
};

export const isUuid = (value: unknown): value is string =>
  typeof value === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);

/** The refusal of a token whose session has ended (signed out, refresh token reused, erased). */
export const sessionEnded = () => unauthorized('The access token was revoked: its session has ended.');

/**
 * The principal of a verified access token, without asking the database whether its session is
 * still live (`authenticate` does, or the handler's own first query: `sessionCheckedByHandler`).
 * Bearer token from the Authorization header only: tokens in URLs end up in logs and histories.
 */
export function verifyAccessToken(app: FastifyInstance, request: FastifyRequest, required: Principal): AuthenticatedPrincipal {
  const header = request.headers.authorization;
  if (!header) throw unauthorized('This operation needs an access token: send "Authorization: Bearer <token>".');
  const match = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(header);
  if (!match?.[1]) throw unauthorized('The Authorization header must be "Bearer <token>".');
  let claims: AccessClaims;
  try {
    claims = app.jwt.verify<AccessClaims>(match[1]);
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    throw unauthorized(TOKEN_ERRORS[code] ?? 'The access token is invalid.');
  }
  // Ids are UUIDs in the database: anything else could never match, and must not reach a query.
  if (!isUuid(claims.sid) || !isUuid(claims.sub) || (claims.kind !== 'person' && claims.kind !== 'vendor')) {
    throw unauthorized('The access token was not issued by this server.');
  }
  if (typeof claims.iat !== 'number' || claims.iat * 1000 > Date.now() + CLOCK_TOLERANCE_SECONDS * 1000) throw unauthorized('The access token is not valid yet.');
  if (claims.kind !== required) {
    throw new ProblemError('wrong-principal', `This operation needs a ${required}'s token; this is a ${claims.kind}'s token.`);
  }
  return { kind: claims.kind, id: claims.sub, sessionId: claims.sid };
}

/** A verified token whose session is live (one query), set as the request's principal. */
export async function authenticate(app: FastifyInstance, ctx: AppContext, request: FastifyRequest, required: Principal): Promise<void> {
  const principal = verifyAccessToken(app, request, required);
  if (!(await isSessionLive(ctx.database, principal.sessionId, principal.kind, principal.id))) throw sessionEnded();
  request.principal = principal;
}

/**
 * The verified claims of a route whose handler checks the session itself. Its first query must
 * require a live session (`sessions.id = sessionId`, of this principal, not revoked, not expired)
 * and answer `sessionEnded()` when there is none, before anything else is decided.
 */
export function unconfirmedPrincipalOf(request: FastifyRequest): AuthenticatedPrincipal {
  if (!request.unconfirmedPrincipal) throw new Error('unconfirmedPrincipalOf called on a route whose session is checked by the binder');
  return request.unconfirmedPrincipal;
}

/** The authenticated principal of a route that declared one (the binder guarantees it). */
export function principalOf(request: FastifyRequest): AuthenticatedPrincipal {
  if (!request.principal) throw new Error('principalOf called on a route without authentication');
  return request.principal;
}
