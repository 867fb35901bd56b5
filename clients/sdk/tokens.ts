import { unwrap, type ApiClient, type Tokens } from './client.js';
import type { components } from './generated/openapi.js';

type TokenRequest = components['schemas']['TokenRequest'];

/** `POST /v1/token` (OAuth 2.0: password, client_credentials or refresh_token): the new pair. */
export async function requestTokens(api: ApiClient, body: TokenRequest): Promise<Tokens> {
  const answer = await unwrap(api.POST('/v1/token', { body }));
  return { accessToken: answer.access_token, refreshToken: answer.refresh_token };
}

/** `POST /v1/token/revoke` (RFC 7009): ends the whole session the token belongs to. */
export async function revokeTokens(api: ApiClient, token: string): Promise<void> {
  await unwrap(api.POST('/v1/token/revoke', { body: { token } }));
}
