import { createHmac, randomBytes } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROBLEM_BASE } from '../../server/errors.js';
import { TOKEN_AUDIENCE } from '../../server/http/auth.js';
import { TEST_PASSWORD, startTestServer, uniqueHandle, type TestServer } from '../helpers/server.js';

/**
 * Accounts and tokens: sign-up, vendor registration, the OAuth 2.0 token endpoint (RFC 6749),
 * revocation (RFC 7009) and GET /v1/me. Every refusal is also checked to have stored nothing.
 */

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

const FORM = 'application/x-www-form-urlencoded';
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
/** A handle the schema accepts, unique in this file's database. */
const freshHandle = () => `h${randomBytes(6).toString('hex')}`;

function expectProblem(response: LightMyRequestResponse, status: number, type?: string): Record<string, unknown> & { errors?: { in: string; pointer: string; message: string }[] } {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = response.json();
  expect(body.status).toBe(status);
  expect(typeof body.type).toBe('string');
  expect(body.type.startsWith(PROBLEM_BASE)).toBe(true);
  expect(typeof body.detail).toBe('string');
  expect(body.detail.length).toBeGreaterThan(0);
  expect(JSON.stringify(body)).not.toMatch(/\n\s+at |node_modules/);
  if (type) expect(body.type).toBe(PROBLEM_BASE + type);
  return body;
}

function expectOAuthError(response: LightMyRequestResponse, status: number, error: string) {
  const body = expectProblem(response, status, `oauth/${error.replaceAll('_', '-')}`);
  expect(body.error).toBe(error);
  expect(typeof body.error_description).toBe('string');
  return body;
}

const signUp = (payload: unknown) => server.request({ method: 'POST', url: '/v1/people', payload: payload as Record<string, unknown> });
const token = (payload: Record<string, string>, options: { form?: boolean; headers?: Record<string, string> } = {}) =>
  server.request({
    method: 'POST',
    url: '/v1/token',
    headers: { ...(options.form ? { 'content-type': FORM } : {}), ...options.headers },
    payload: options.form ? form(payload) : payload,
  });
const login = (username: string, password = TEST_PASSWORD) => token({ grant_type: 'password', username, password });
const me = (accessToken: string) => server.request({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${accessToken}` } });
const revoke = (payload: Record<string, string>, asForm = false) =>
  server.request({
    method: 'POST',
    url: '/v1/token/revoke',
    headers: asForm ? { 'content-type': FORM } : {},
    payload: asForm ? form(payload) : payload,
  });

async function peopleCount(): Promise<number> {
  const row = await server.ctx.db.selectFrom('people').select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

async function vendorCount(): Promise<number> {
  const row = await server.ctx.db.selectFrom('vendors').select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Nothing stored under any spelling of the handle, and nobody can log in with it. */
async function expectNoPerson(...handles: string[]) {
  for (const handle of handles) {
    const rows = await server.ctx.db.selectFrom('people').select('id').where(sql<string>`lower(handle)`, '=', handle.toLowerCase()).execute();
    expect(rows, `a person was stored as ${handle}`).toEqual([]);
    expectOAuthError(await login(handle), 400, 'invalid_grant');
  }
}

function decodeJwt(jwt: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [header, payload, signature] = jwt.split('.');
  expect(signature).toBeTruthy();
  return {
    header: JSON.parse(Buffer.from(header as string, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(payload as string, 'base64url').toString('utf8')),
  };
}

/** An HS256 JWT, by default with the server's own key: for tokens the server would never issue. */
function signHs256(payload: Record<string, unknown>, key = server.ctx.tokenKey): string {
  const input = `${Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

describe('POST /v1/people (sign up)', () => {
  it('creates a person: 201, Location, the person and never the password or its hash', async () => {
    const handle = freshHandle();
    const response = await signUp({ handle, password: TEST_PASSWORD, displayName: 'Ada Lovelace' });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.headers.location).toBe(`${server.ctx.config.publicUrl}/v1/me`);
    const body = response.json();
    expect(Object.keys(body).sort()).toEqual(['createdAt', 'displayName', 'handle', 'id']);
    expect(body.handle).toBe(handle);
    expect(body.displayName).toBe('Ada Lovelace');
    expect(body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(Number.isNaN(Date.parse(body.createdAt))).toBe(false);
    expect(response.body).not.toContain(TEST_PASSWORD);
    expect(response.body).not.toContain('scrypt');

    const stored = await server.ctx.db.selectFrom('people').select(['password_hash']).where('id', '=', body.id).executeTakeFirstOrThrow();
    expect(stored.password_hash.startsWith('scrypt$')).toBe(true);
    expect(stored.password_hash).not.toContain(TEST_PASSWORD);

    const tokens = await login(handle);
    expect(tokens.statusCode).toBe(200);
    const self = await me(tokens.json().access_token);
    expect(self.statusCode).toBe(200);
    expect(self.json()).toEqual(body);
  });

  it('accepts a handle without displayName, and the shortest and longest handles', async () => {
    for (const handle of [`q${randomBytes(1).toString('hex').slice(0, 1)}7`, `z${randomBytes(16).toString('hex').slice(0, 31)}`, 'a-b-c-1']) {
      const response = await signUp({ handle, password: TEST_PASSWORD });
      expect(response.statusCode, `${handle}: ${response.body}`).toBe(201);
      expect(response.json().displayName).toBeUndefined();
      expect(response.json().handle).toBe(handle);
    }
  });

  // The rules apply to the handle as sent: nothing is lower-cased or normalised into acceptance.
  const suffix = randomBytes(3).toString('hex');
  const badHandles: [string, string, string][] = [
    ['upper case', `Ada${suffix}`, `ada${suffix}`],
    ['all upper case', `ADA${suffix}`, `ada${suffix}`],
    ['full-width look-alikes', `ａｄａ${suffix}`, `ada${suffix}`],
    ['a Cyrillic а among Latin letters', `adа${suffix}`, `ada${suffix}`],
    ['a Latin letter with a combining accent', `ade\u0301${suffix}`, `ade${suffix}`],
    ['a leading hyphen', `-ada${suffix}`, `ada${suffix}`],
    ['a trailing hyphen', `ada${suffix}-`, `ada${suffix}`],
    ['too short', 'ab', 'ab'],
    ['too long (33)', `x${'y'.repeat(32)}`, `x${'y'.repeat(32)}`],
    ['a space inside', `ada ${suffix}`, `ada${suffix}`],
    ['leading and trailing spaces', ` ada${suffix} `, `ada${suffix}`],
    ['an underscore', `ada_${suffix}`, `ada${suffix}`],
    ['a dot', `ada.${suffix}`, `ada${suffix}`],
    ['empty', '', ''],
  ];
  it.each(badHandles)('refuses a handle with %s: 400 pointing at /handle, nothing stored', async (_, handle, asciiForm) => {
    const before = await peopleCount();
    const response = await signUp({ handle, password: TEST_PASSWORD });
    const body = expectProblem(response, 400, 'validation');
    expect(body.errors?.map((e) => [e.in, e.pointer])).toContainEqual(['body', '/handle']);
    expect(await peopleCount()).toBe(before);
    await expectNoPerson(...new Set([handle, asciiForm, handle.normalize('NFKC').toLowerCase()].filter((h) => h.length > 0)));
  });

  it('the ASCII forms of the refused look-alikes are still free', async () => {
    const response = await signUp({ handle: `ada${suffix}`, password: TEST_PASSWORD });
    expect(response.statusCode, response.body).toBe(201);
  });

  it('refuses a handle that is not a string', async () => {
    for (const handle of [123, null, ['ada'], { name: 'ada' }, true]) {
      const before = await peopleCount();
      const body = expectProblem(await signUp({ handle, password: TEST_PASSWORD }), 400, 'validation');
      expect(body.errors?.map((e) => e.pointer)).toContain('/handle');
      expect(await peopleCount()).toBe(before);
    }
  });

  it.each(['admin', 'root', 'support', 'no-reply', 'proffer'])('refuses the reserved handle %s: 422, nothing stored', async (handle) => {
    const before = await peopleCount();
    expectProblem(await signUp({ handle, password: TEST_PASSWORD }), 422, 'handle-reserved');
    expect(await peopleCount()).toBe(before);
    await expectNoPerson(handle);
  });

  it('refuses a taken handle: 409, and the first owner keeps it', async () => {
    const handle = freshHandle();
    expect((await signUp({ handle, password: TEST_PASSWORD })).statusCode).toBe(201);
    const before = await peopleCount();
    const otherPassword = 'another password, quite long';
    expectProblem(await signUp({ handle, password: otherPassword }), 409, 'handle-taken');
    expect(await peopleCount()).toBe(before);
    expectOAuthError(await login(handle, otherPassword), 400, 'invalid_grant');
    expect((await login(handle)).statusCode).toBe(200);
  });

  it('refuses the handle of a person who erased themselves: 409', async () => {
    const erased = await server.person(freshHandle());
    const erase = await server.request({ method: 'DELETE', url: '/v1/me', headers: erased.auth });
    expect(erase.statusCode).toBe(204);
    const before = await peopleCount();
    expectProblem(await signUp({ handle: erased.handle, password: TEST_PASSWORD }), 409, 'handle-taken');
    expect(await peopleCount()).toBe(before);
    await expectNoPerson(erased.handle);
  });

  it('refuses an unknown property and names it', async () => {
    const handle = freshHandle();
    const before = await peopleCount();
    const body = expectProblem(await signUp({ handle, password: TEST_PASSWORD, isAdmin: true }), 400, 'validation');
    expect(body.errors).toContainEqual({ in: 'body', pointer: '/isAdmin', message: expect.any(String) });
    expect(await peopleCount()).toBe(before);
    await expectNoPerson(handle);
    expect((await signUp({ handle, password: TEST_PASSWORD })).statusCode).toBe(201);
  });

  it('refuses a password that is a number (never coerced)', async () => {
    const handle = freshHandle();
    const before = await peopleCount();
    const body = expectProblem(await signUp({ handle, password: 123 }), 400, 'validation');
    expect(body.errors?.map((e) => e.pointer)).toContain('/password');
    // Also a number long enough to pass the length rule once turned into a string.
    expectProblem(await signUp({ handle, password: 12345678901234 }), 400, 'validation');
    expect(await peopleCount()).toBe(before);
    await expectNoPerson(handle);
    expectOAuthError(await login(handle, '123'), 400, 'invalid_grant');
    expectOAuthError(await login(handle, '12345678901234'), 400, 'invalid_grant');
  });

  it('refuses a short password, and a missing one', async () => {
    const handle = freshHandle();
    const before = await peopleCount();
    let body = expectProblem(await signUp({ handle, password: 'short' }), 400, 'validation');
    expect(body.errors?.map((e) => e.pointer)).toContain('/password');
    body = expectProblem(await signUp({ handle }), 400, 'validation');
    expect(body.errors?.map((e) => e.pointer)).toContain('/password');
    expect(await peopleCount()).toBe(before);
    expectOAuthError(await login(handle, 'short'), 400, 'invalid_grant');
    expect((await signUp({ handle, password: TEST_PASSWORD })).statusCode).toBe(201);
  });

  it('refuses a displayName that is empty or not a string', async () => {
    const handle = freshHandle();
    const before = await peopleCount();
    for (const displayName of ['', 42]) {
      const body = expectProblem(await signUp({ handle, password: TEST_PASSWORD, displayName }), 400, 'validation');
      expect(body.errors?.map((e) => e.pointer)).toContain('/displayName');
    }
    expect(await peopleCount()).toBe(before);
    await expectNoPerson(handle);
  });

  it('refuses a body that is not JSON: 400 malformed-body', async () => {
    const handle = freshHandle();
    const before = await peopleCount();
    for (const payload of [`{"handle":"${handle}","password":`, 'handle=x', '']) {
      const response = await server.request({ method: 'POST', url: '/v1/people', headers: { 'content-type': 'application/json' }, payload });
      expectProblem(response, 400, 'malformed-body');
    }
    expect(await peopleCount()).toBe(before);
    await expectNoPerson(handle);
  });

  it('refuses a JSON body that is not an object', async () => {
    const before = await peopleCount();
    for (const payload of ['[]', '"ada"', '42', 'null']) {
      const response = await server.request({ method: 'POST', url: '/v1/people', headers: { 'content-type': 'application/json' }, payload });
      expectProblem(response, 400);
    }
    expect(await peopleCount()).toBe(before);
  });

  it('refuses a body of another media type: 415', async () => {
    const handle = freshHandle();
    const before = await peopleCount();
    const json = JSON.stringify({ handle, password: TEST_PASSWORD });
    for (const contentType of ['text/plain', 'application/xml', FORM]) {
      const payload = contentType === FORM ? form({ handle, password: TEST_PASSWORD }) : contentType === 'application/xml' ? `<signUp><handle>${handle}</handle></signUp>` : json;
      const response = await server.request({ method: 'POST', url: '/v1/people', headers: { 'content-type': contentType }, payload });
      expectProblem(response, 415, 'unsupported-media-type');
    }
    expect(await peopleCount()).toBe(before);
    await expectNoPerson(handle);
    expect((await signUp({ handle, password: TEST_PASSWORD })).statusCode).toBe(201);
  });
});

describe('POST /v1/vendors', () => {
  const registration = { name: 'Velo Lyon', homepage: 'https://velo-lyon.example', contact: 'privacy@velo-lyon.example' };

  it('registers a vendor: 201 with client credentials, the secret stored only as a scrypt hash', async () => {
    const response = await server.request({ method: 'POST', url: '/v1/vendors', payload: registration });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.headers['cache-control']).toBe('no-store');
    const body = response.json();
    expect(body).toMatchObject(registration);
    expect(typeof body.id).toBe('string');
    expect(typeof body.client_id).toBe('string');
    expect(typeof body.client_secret).toBe('string');
    expect(body.client_secret.length).toBeGreaterThanOrEqual(32);

    const row = await server.ctx.db.selectFrom('vendors').selectAll().where('id', '=', body.id).executeTakeFirstOrThrow();
    expect(row.client_id).toBe(body.client_id);
    expect(row.secret_hash.startsWith('scrypt$')).toBe(true);
    expect(row.secret_hash).not.toContain(body.client_secret);
    expect(JSON.stringify(row)).not.toContain(body.client_secret);

    // The credentials work, and a second registration gets different ones.
    const tokens = await token({ grant_type: 'client_credentials', client_id: body.client_id, client_secret: body.client_secret });
    expect(tokens.statusCode).toBe(200);
    const again = (await server.request({ method: 'POST', url: '/v1/vendors', payload: registration })).json();
    expect(again.client_id).not.toBe(body.client_id);
    expect(again.client_secret).not.toBe(body.client_secret);
  });

  it.each([
    ['homepage', 'not a url'],
    ['homepage', 'ftp://velo-lyon.example'],
    ['homepage', 'javascript:alert(1)'],
    ['homepage', 'velo-lyon.example'],
    ['homepage', 42],
    ['contact', 'not-an-email'],
    ['contact', 'privacy@'],
    ['contact', ''],
    ['name', ''],
  ])('refuses a bad %s (%j): 400 pointing at it, nothing stored', async (field, value) => {
    const before = await vendorCount();
    const response = await server.request({ method: 'POST', url: '/v1/vendors', payload: { ...registration, [field]: value } });
    const body = expectProblem(response, 400, 'validation');
    expect(body.errors?.map((e) => [e.in, e.pointer])).toContainEqual(['body', `/${field}`]);
    expect(await vendorCount()).toBe(before);
  });

  it('refuses a missing field, an unknown one and a wrong media type', async () => {
    const before = await vendorCount();
    let body = expectProblem(await server.request({ method: 'POST', url: '/v1/vendors', payload: { name: 'X', homepage: 'https://x.example' } }), 400, 'validation');
    expect(body.errors?.map((e) => e.pointer)).toContain('/contact');
    body = expectProblem(await server.request({ method: 'POST', url: '/v1/vendors', payload: { ...registration, client_secret: 'mine' } }), 400, 'validation');
    expect(body.errors?.map((e) => e.pointer)).toContain('/client_secret');
    expectProblem(
      await server.request({ method: 'POST', url: '/v1/vendors', headers: { 'content-type': 'text/plain' }, payload: JSON.stringify(registration) }),
      415,
      'unsupported-media-type',
    );
    expect(await vendorCount()).toBe(before);
  });
});

describe('POST /v1/token', () => {
  it('password grant, form-encoded: tokens, Cache-Control no-store', async () => {
    const ada = await server.person();
    const response = await token({ grant_type: 'password', username: ada.handle, password: TEST_PASSWORD }, { form: true });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const body = response.json();
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'token_type']);
    expect(body.token_type).toBe('Bearer');
    expect(body.expires_in).toBe(server.ctx.config.accessTokenTtlSeconds);
    expect((await me(body.access_token)).json().id).toBe(ada.id);
  });

  it('password grant, JSON: tokens, Cache-Control no-store', async () => {
    const ada = await server.person();
    const response = await login(ada.handle);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    expect((await me(response.json().access_token)).json().handle).toBe(ada.handle);
  });

  it('password grant with a charset parameter on the form Content-Type', async () => {
    const ada = await server.person();
    const response = await server.request({
      method: 'POST',
      url: '/v1/token',
      headers: { 'content-type': `${FORM}; charset=utf-8` },
      payload: form({ grant_type: 'password', username: ada.handle, password: TEST_PASSWORD }),
    });
    expect(response.statusCode, response.body).toBe(200);
  });

  it('the access token: HS256, exp - iat = expires_in, sub, aud, iss, sid', async () => {
    const ada = await server.person();
    const body = (await login(ada.handle)).json();
    const { header, payload } = decodeJwt(body.access_token);
    expect(header.alg).toBe('HS256');
    expect(header.typ).toBe('JWT');
    expect(payload.sub).toBe(ada.id);
    expect(payload.kind).toBe('person');
    expect(payload.aud).toBe(TOKEN_AUDIENCE);
    expect(payload.iss).toBe(server.ctx.config.publicUrl);
    expect(typeof payload.sid).toBe('string');
    expect(typeof payload.iat).toBe('number');
    expect(typeof payload.exp).toBe('number');
    expect((payload.exp as number) - (payload.iat as number)).toBe(body.expires_in);
    expect(Math.abs((payload.iat as number) - Date.now() / 1000)).toBeLessThan(120);
    // The token carries no secret: nothing but the claims above.
    expect(Object.keys(payload).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'kind', 'sid', 'sub']);
  });

  it('the vendor access token names the vendor', async () => {
    const vendor = await server.vendor();
    const { payload } = decodeJwt(vendor.accessToken);
    expect(payload.sub).toBe(vendor.id);
    expect(payload.kind).toBe('vendor');
    expect(payload.aud).toBe(TOKEN_AUDIENCE);
    expect(payload.iss).toBe(server.ctx.config.publicUrl);
  });

  it('a wrong password and an unknown handle are the same invalid_grant', async () => {
    const ada = await server.person();
    const wrongPassword = expectOAuthError(await login(ada.handle, 'not the password at all'), 400, 'invalid_grant');
    const unknownHandle = expectOAuthError(await login(freshHandle(), TEST_PASSWORD), 400, 'invalid_grant');
    expect(unknownHandle.detail).toBe(wrongPassword.detail);
    expect(unknownHandle.error_description).toBe(wrongPassword.error_description);
    expect(unknownHandle.title).toBe(wrongPassword.title);
    // Also form-encoded.
    const viaForm = expectOAuthError(
      await token({ grant_type: 'password', username: ada.handle, password: 'not the password at all' }, { form: true }),
      400,
      'invalid_grant',
    );
    expect(viaForm.detail).toBe(wrongPassword.detail);
  });

  it('the password grant without username or password is invalid_request', async () => {
    expectOAuthError(await token({ grant_type: 'password', password: TEST_PASSWORD }), 400, 'invalid_request');
    expectOAuthError(await token({ grant_type: 'password', username: 'someone' }), 400, 'invalid_request');
  });

  it('client_credentials with the credentials in the body (JSON and form)', async () => {
    const vendor = await server.vendor();
    for (const asForm of [false, true]) {
      const response = await token({ grant_type: 'client_credentials', client_id: vendor.clientId, client_secret: vendor.clientSecret }, { form: asForm });
      expect(response.statusCode, response.body).toBe(200);
      expect(response.headers['cache-control']).toBe('no-store');
      expect(decodeJwt(response.json().access_token).payload.sub).toBe(vendor.id);
    }
  });

  it('client_credentials with HTTP Basic', async () => {
    const vendor = await server.vendor();
    const response = await token({ grant_type: 'client_credentials' }, { form: true, headers: { authorization: basic(vendor.clientId, vendor.clientSecret) } });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(decodeJwt(response.json().access_token).payload.sub).toBe(vendor.id);
  });

  it('client credentials both in HTTP Basic and in the body are invalid_request', async () => {
    const vendor = await server.vendor();
    const response = await token(
      { grant_type: 'client_credentials', client_id: vendor.clientId, client_secret: vendor.clientSecret },
      { form: true, headers: { authorization: basic(vendor.clientId, vendor.clientSecret) } },
    );
    expectOAuthError(response, 400, 'invalid_request');
  });

  it('half the client credentials is invalid_request', async () => {
    const vendor = await server.vendor();
    expectOAuthError(await token({ grant_type: 'client_credentials', client_id: vendor.clientId }), 400, 'invalid_request');
  });

  it('a wrong client secret or unknown client is 401 invalid_client with WWW-Authenticate', async () => {
    const vendor = await server.vendor();
    const attempts = [
      token({ grant_type: 'client_credentials', client_id: vendor.clientId, client_secret: `${vendor.clientSecret}x` }),
      token({ grant_type: 'client_credentials', client_id: 'pv_unknown', client_secret: vendor.clientSecret }),
      token({ grant_type: 'client_credentials' }, { form: true, headers: { authorization: basic(vendor.clientId, 'wrong') } }),
      token({ grant_type: 'client_credentials' }, { form: true, headers: { authorization: 'Basic !!!' } }),
      token({ grant_type: 'client_credentials' }),
    ];
    for (const response of await Promise.all(attempts)) {
      expectOAuthError(response, 401, 'invalid_client');
      expect(response.headers['www-authenticate']).toMatch(/^Basic /);
    }
    // A wrong secret and an unknown client are not told apart.
    const wrongSecret = await token({ grant_type: 'client_credentials', client_id: vendor.clientId, client_secret: 'wrong' });
    const unknownClient = await token({ grant_type: 'client_credentials', client_id: 'pv_unknown', client_secret: 'wrong' });
    expect(wrongSecret.json().detail).toBe(unknownClient.json().detail);
  });

  it.each([
    ['authorization_code', 'form'],
    ['implicit', 'json'],
    ['urn:ietf:params:oauth:grant-type:jwt-bearer', 'form'],
    ['PASSWORD', 'json'],
  ])('an unsupported grant_type (%s, %s) is 400 unsupported_grant_type, with errors', async (grantType, encoding) => {
    const response = await token({ grant_type: grantType, username: 'x', password: 'y' }, { form: encoding === 'form' });
    const body = expectOAuthError(response, 400, 'unsupported_grant_type');
    expect(body.errors?.map((e) => [e.in, e.pointer])).toContainEqual(['body', '/grant_type']);
  });

  it('a request that does not match the schema otherwise is 400 invalid_request, with errors', async () => {
    let body = expectOAuthError(await token({ username: 'x', password: 'y' }), 400, 'invalid_request');
    expect(body.errors?.map((e) => e.pointer)).toContain('/grant_type');
    body = expectOAuthError(
      await server.request({ method: 'POST', url: '/v1/token', payload: { grant_type: 'password', username: 'x', password: 12345678901 } }),
      400,
      'invalid_request',
    );
    expect(body.errors?.map((e) => e.pointer)).toContain('/password');
    body = expectOAuthError(await token({ grant_type: 'password', username: 'x'.repeat(65), password: 'y' }), 400, 'invalid_request');
    expect(body.errors?.map((e) => e.pointer)).toContain('/username');
  });

  it('a parameter repeated in the form is 400 invalid_request', async () => {
    const ada = await server.person();
    const repeated = [
      `grant_type=password&username=${ada.handle}&password=${encodeURIComponent(TEST_PASSWORD)}&password=other`,
      `grant_type=password&grant_type=password&username=${ada.handle}&password=${encodeURIComponent(TEST_PASSWORD)}`,
      `grant_type=password&username=${ada.handle}&username=${ada.handle}&password=${encodeURIComponent(TEST_PASSWORD)}`,
    ];
    for (const payload of repeated) {
      const response = await server.request({ method: 'POST', url: '/v1/token', headers: { 'content-type': FORM }, payload });
      const body = expectOAuthError(response, 400, 'invalid_request');
      expect(body.errors?.length).toBeGreaterThan(0);
    }
  });

  it('a body of another media type is 415; malformed JSON is 400 invalid_request', async () => {
    const ada = await server.person();
    const response = await server.request({
      method: 'POST',
      url: '/v1/token',
      headers: { 'content-type': 'text/plain' },
      payload: form({ grant_type: 'password', username: ada.handle, password: TEST_PASSWORD }),
    });
    expectProblem(response, 415, 'unsupported-media-type');
    const malformed = await server.request({ method: 'POST', url: '/v1/token', headers: { 'content-type': 'application/json' }, payload: '{"grant_type":' });
    expectOAuthError(malformed, 400, 'invalid_request');
    const empty = await server.request({ method: 'POST', url: '/v1/token', headers: { 'content-type': FORM }, payload: '' });
    expectOAuthError(empty, 400, 'invalid_request');
  });

  describe('refresh tokens', () => {
    it('rotate: the old one works once, the new one works, reusing the old one ends the session', async () => {
      const ada = await server.person();
      const first = await token({ grant_type: 'refresh_token', refresh_token: ada.refreshToken }, { form: true });
      expect(first.statusCode, first.body).toBe(200);
      expect(first.headers['cache-control']).toBe('no-store');
      const rotated = first.json();
      expect(rotated.refresh_token).not.toBe(ada.refreshToken);
      expect(decodeJwt(rotated.access_token).payload.sid).toBe(decodeJwt(ada.accessToken).payload.sid);
      expect((await me(rotated.access_token)).statusCode).toBe(200);

      const second = await token({ grant_type: 'refresh_token', refresh_token: rotated.refresh_token });
      expect(second.statusCode, second.body).toBe(200);
      const latest = second.json();
      expect((await me(latest.access_token)).statusCode).toBe(200);
      expect((await me(ada.accessToken)).statusCode).toBe(200);

      // The spent token again: refused, and the whole session is over.
      expectOAuthError(await token({ grant_type: 'refresh_token', refresh_token: ada.refreshToken }), 400, 'invalid_grant');
      for (const accessToken of [ada.accessToken, rotated.access_token, latest.access_token]) {
        const response = await me(accessToken);
        expectProblem(response, 401, 'invalid-token');
        expect(response.headers['www-authenticate']).toMatch(/^Bearer /);
      }
      expectOAuthError(await token({ grant_type: 'refresh_token', refresh_token: latest.refresh_token }), 400, 'invalid_grant');

      // Other sessions of the same person are untouched, and the password still works.
      const again = await login(ada.handle);
      expect(again.statusCode).toBe(200);
      expect((await me(again.json().access_token)).statusCode).toBe(200);
    });

    it('an unknown or missing refresh token', async () => {
      expectOAuthError(await token({ grant_type: 'refresh_token', refresh_token: 'prt_unknown' }), 400, 'invalid_grant');
      expectOAuthError(await token({ grant_type: 'refresh_token', refresh_token: 'garbage' }), 400, 'invalid_grant');
      expectOAuthError(await token({ grant_type: 'refresh_token' }), 400, 'invalid_request');
    });

    it('an access token is not a refresh token', async () => {
      const ada = await server.person();
      expectOAuthError(await token({ grant_type: 'refresh_token', refresh_token: ada.accessToken.slice(0, 256) }), 400, 'invalid_grant');
    });

    it("a vendor's refresh token needs its client credentials", async () => {
      const vendor = await server.vendor();
      const other = await server.vendor('Other Vendor');
      const without = await token({ grant_type: 'refresh_token', refresh_token: vendor.refreshToken });
      expectOAuthError(without, 401, 'invalid_client');
      expect(without.headers['www-authenticate']).toMatch(/^Basic /);
      expectOAuthError(
        await token({ grant_type: 'refresh_token', refresh_token: vendor.refreshToken, client_id: vendor.clientId, client_secret: 'wrong' }),
        401,
        'invalid_client',
      );
      // Another vendor's (valid) credentials do not unlock it.
      expectOAuthError(
        await token({ grant_type: 'refresh_token', refresh_token: vendor.refreshToken, client_id: other.clientId, client_secret: other.clientSecret }),
        400,
        'invalid_grant',
      );
      // None of these spent it.
      const withBasic = await token(
        { grant_type: 'refresh_token', refresh_token: vendor.refreshToken },
        { form: true, headers: { authorization: basic(vendor.clientId, vendor.clientSecret) } },
      );
      expect(withBasic.statusCode, withBasic.body).toBe(200);
      const next = withBasic.json();
      expect(decodeJwt(next.access_token).payload.sub).toBe(vendor.id);
      const withBody = await token({ grant_type: 'refresh_token', refresh_token: next.refresh_token, client_id: vendor.clientId, client_secret: vendor.clientSecret });
      expect(withBody.statusCode, withBody.body).toBe(200);
    });
  });
});

describe('POST /v1/token/revoke', () => {
  it('revoking the refresh token ends the session: access token 401, refresh token invalid_grant', async () => {
    const ada = await server.person();
    const other = await login(ada.handle);
    const response = await revoke({ token: ada.refreshToken, token_type_hint: 'refresh_token' }, true);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.body).toBe('');
    const after = await me(ada.accessToken);
    expectProblem(after, 401, 'invalid-token');
    expect(after.headers['www-authenticate']).toMatch(/^Bearer /);
    expectOAuthError(await token({ grant_type: 'refresh_token', refresh_token: ada.refreshToken }), 400, 'invalid_grant');
    // Only that session: another login of the same person still works.
    expect((await me(other.json().access_token)).statusCode).toBe(200);
  });

  it('revoking by access token does the same', async () => {
    const ada = await server.person();
    const response = await revoke({ token: ada.accessToken });
    expect(response.statusCode, response.body).toBe(200);
    expectProblem(await me(ada.accessToken), 401, 'invalid-token');
    expectOAuthError(await token({ grant_type: 'refresh_token', refresh_token: ada.refreshToken }), 400, 'invalid_grant');
  });

  it("a vendor's tokens are revoked the same way", async () => {
    const vendor = await server.vendor();
    expect((await revoke({ token: vendor.accessToken, token_type_hint: 'access_token' })).statusCode).toBe(200);
    expectOAuthError(
      await token({ grant_type: 'refresh_token', refresh_token: vendor.refreshToken, client_id: vendor.clientId, client_secret: vendor.clientSecret }),
      400,
      'invalid_grant',
    );
  });

  it('revoking twice, or an unknown or garbage token, answers 200', async () => {
    const ada = await server.person();
    expect((await revoke({ token: ada.refreshToken })).statusCode).toBe(200);
    expect((await revoke({ token: ada.refreshToken })).statusCode).toBe(200);
    for (const garbage of ['prt_unknown', 'garbage', 'a.b.c', `${ada.accessToken}x`, 'eyJhbGciOiJub25lIn0.e30.']) {
      const response = await revoke({ token: garbage }, true);
      expect(response.statusCode, `${garbage}: ${response.body}`).toBe(200);
    }
  });

  it('an expired access token still revokes its session', async () => {
    const ada = await server.person();
    const claims = decodeJwt(ada.accessToken).payload;
    const now = Math.floor(Date.now() / 1000);
    const expired = signHs256({ ...claims, iat: now - 7200, exp: now - 3600 });
    expectProblem(await me(expired), 401, 'invalid-token');
    expect((await revoke({ token: expired, token_type_hint: 'access_token' })).statusCode).toBe(200);
    expectProblem(await me(ada.accessToken), 401, 'invalid-token');
    expectOAuthError(await token({ grant_type: 'refresh_token', refresh_token: ada.refreshToken }), 400, 'invalid_grant');
  });

  it('a well-signed token naming no session (sid not a UUID, or unknown) answers 200 and ends nothing', async () => {
    const ada = await server.person();
    const claims = decodeJwt(ada.accessToken).payload;
    for (const sid of ['not-a-session', '00000000-0000-4000-8000-000000000000', 42]) {
      const response = await revoke({ token: signHs256({ ...claims, sid }) });
      expect(response.statusCode, `${String(sid)}: ${response.body}`).toBe(200);
    }
    expect((await me(ada.accessToken)).statusCode).toBe(200);
  });

  it('a token signed with another key does not revoke the session it names', async () => {
    const ada = await server.person();
    const claims = decodeJwt(ada.accessToken).payload;
    expect((await revoke({ token: signHs256(claims, randomBytes(32).toString('base64url')) })).statusCode).toBe(200);
    expect((await me(ada.accessToken)).statusCode).toBe(200);
  });

  it('a revocation that does not match the schema is a 400 problem', async () => {
    const response = await revoke({ token_type_hint: 'refresh_token' });
    const body = expectOAuthError(response, 400, 'invalid_request');
    expect(body.errors?.map((e) => e.pointer)).toContain('/token');
  });
});

describe('GET /v1/me', () => {
  it("answers the signed-in person's account", async () => {
    const ada = await server.person(uniqueHandle('me'));
    const response = await me(ada.accessToken);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ id: ada.id, handle: ada.handle });
    expect(response.body).not.toContain('scrypt');
  });

  it('answers 401 without a token and 403 with a vendor token', async () => {
    const unauthenticated = await server.request({ method: 'GET', url: '/v1/me' });
    expectProblem(unauthenticated, 401, 'invalid-token');
    expect(unauthenticated.headers['www-authenticate']).toMatch(/^Bearer /);
    const vendor = await server.vendor();
    expectProblem(await me(vendor.accessToken), 403, 'wrong-principal');
  });
});

describe('POST /v1/token rate limit', () => {
  it('refuses further guesses at one account from one address for a while, with 429 and Retry-After', async () => {
    const limited = await startTestServer({ env: { PROFFER_TOKEN_RATE_LIMIT: '5' } });
    try {
      const target = await limited.person();
      const other = await limited.person();
      const guess = (username: string, password: string) =>
        limited.request({ method: 'POST', url: '/v1/token', payload: { grant_type: 'password', username, password } });
      // person() logged in once already; four wrong guesses reach the limit of five.
      for (let i = 0; i < 4; i++) expect((await guess(target.handle, `wrong guess ${i}!`)).statusCode).toBe(400);
      const refused = await guess(target.handle, 'wrong guess again');
      expect(refused.statusCode).toBe(429);
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(refused.json().type).toBe('https://proffer.dev/problems/too-many-requests');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      // Even the right password waits: the limit is what stops guessing.
      expect((await guess(target.handle, TEST_PASSWORD)).statusCode).toBe(429);
      // Another account from the same address is not locked out.
      expect((await guess(other.handle, TEST_PASSWORD)).statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
