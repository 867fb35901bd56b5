import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { oauthProblem } from '../errors.js';
import type { components } from '../generated/openapi.js';
import { isUuid, signAccessToken, type AccessClaims } from '../http/auth.js';
import type { Handlers } from '../http/bind.js';
import {
  clientCredentialsGrant,
  passwordGrant,
  refreshGrant,
  registerVendor,
  revokeSession,
  sessionOfRefreshToken,
  signUp,
  type ClientCredentials,
  type IssuedSession,
} from '../services/accounts.js';

type Schemas = components['schemas'];

/** RFC 6749 §2.3.1: HTTP Basic with form-encoded id and secret. */
function basicCredentials(request: FastifyRequest): ClientCredentials | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header);
  if (!match?.[1]) throw oauthProblem('invalid_client', 'The Authorization header must be HTTP Basic with client_id:client_secret.');
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw oauthProblem('invalid_client', 'HTTP Basic credentials must be client_id:client_secret.');
  try {
    const formDecode = (text: string) => decodeURIComponent(text.replaceAll('+', ' '));
    return { clientId: formDecode(decoded.slice(0, colon)), clientSecret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    throw oauthProblem('invalid_client', 'HTTP Basic credentials are not correctly encoded.');
  }
}

function clientCredentials(request: FastifyRequest, body: Schemas['TokenRequest']): ClientCredentials | undefined {
  const basic = basicCredentials(request);
  if (basic && (body.client_id !== undefined || body.client_secret !== undefined)) {
    throw oauthProblem('invalid_request', 'Send client credentials either with HTTP Basic or in the body, not both.');
  }
  if (basic) return basic;
  if (body.client_id === undefined && body.client_secret === undefined) return undefined;
  if (body.client_id === undefined || body.client_secret === undefined) {
    throw oauthProblem('invalid_request', 'client_id and client_secret go together.');
  }
  return { clientId: body.client_id, clientSecret: body.client_secret };
}

export function accountHandlers(app: FastifyInstance, ctx: AppContext): Handlers {
  const settings = { kdfCost: ctx.config.kdfCost, refreshTokenTtlSeconds: ctx.config.refreshTokenTtlSeconds };

  const tokenResponse = (session: IssuedSession): Schemas['TokenResponse'] => ({
    access_token: signAccessToken(app, session),
    token_type: 'Bearer',
    expires_in: ctx.config.accessTokenTtlSeconds,
    refresh_token: session.refreshToken,
  });

  return {
    signUp: async (request, reply) => {
      const person = await signUp(ctx.db, settings, request.body as Schemas['SignUp']);
      return reply.code(201).header('location', `${ctx.config.publicUrl}/v1/me`).send(person);
    },

    registerVendor: async (request, reply) => {
      const vendor = await registerVendor(ctx.db, settings, request.body as Schemas['VendorRegistration']);
      return reply.code(201).header('cache-control', 'no-store').send(vendor);
    },

    createToken: async (request, reply) => {
      const body = request.body as Schemas['TokenRequest'];
      const client = clientCredentials(request, body);
      let session: IssuedSession;
      if (body.grant_type === 'password') session = await passwordGrant(ctx.db, settings, body.username, body.password);
      else if (body.grant_type === 'client_credentials') session = await clientCredentialsGrant(ctx.db, settings, client);
      else session = await refreshGrant(ctx.db, settings, body.refresh_token, client);
      return reply.header('cache-control', 'no-store').header('pragma', 'no-cache').send(tokenResponse(session));
    },

    revokeToken: async (request, reply) => {
      const { token } = request.body as Schemas['TokenRevocation'];
      // RFC 7009 §2.2: unknown and invalid tokens are answered like valid ones.
      let sessionId: string | undefined;
      if (token.startsWith('prt_')) sessionId = await sessionOfRefreshToken(ctx.db, token);
      else {
        try {
          const { sid } = app.jwt.verify<AccessClaims>(token, { ignoreExpiration: true } as never);
          // Only a session id can name a session (and anything else must not reach a query).
          sessionId = isUuid(sid) ? sid : undefined;
        } catch {
          sessionId = undefined;
        }
      }
      if (sessionId) await revokeSession(ctx.db, sessionId);
      return reply.code(200).send();
    },
  };
}
