import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROBLEM_BASE } from '../../server/errors.js';
import { TOKEN_AUDIENCE } from '../../server/http/auth.js';
import { loadContract, type Operation, type Principal } from '../../server/http/contract.js';
import { TEST_PASSWORD, startTestServer, type TestPerson, type TestServer, type TestVendor } from '../helpers/server.js';

/**
 * The authentication matrix, generated from openapi.yaml: every operation that needs a principal,
 * now and later, against every kind of bad credential. Each forged token starts from the real
 * claims of a live session and changes one thing, and a forged copy of the unchanged claims is
 * accepted: so each refusal is owed to that one change.
 */

const contract = loadContract();
const secured = contract.operations.filter((op): op is Operation & { principal: Principal } => op.principal !== undefined);

let server: TestServer;

// ---------------------------------------------------------------------------------------------
// Requests built from the contract

type Json = Record<string, unknown>;

/** The first example of a request body: the media type's own, or its schema's (following $refs). */
function exampleBody(op: Operation, mediaType: string): unknown {
  const document = contract.document as { paths: Record<string, Record<string, { requestBody?: { content?: Record<string, Json> } }>>; components: { schemas: Record<string, Json> } };
  const media = document.paths[op.path]?.[op.method]?.requestBody?.content?.[mediaType];
  if (!media) return undefined;
  if ('example' in media) return media.example;
  const examples = media.examples as Record<string, { value?: unknown }> | undefined;
  if (examples) return Object.values(examples)[0]?.value;

  const fromSchema = (schema: Json | undefined, depth = 0): unknown => {
    if (!schema || depth > 10) return undefined;
    if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0];
    const ref = schema.$ref;
    if (typeof ref !== 'string') return undefined;
    if (ref.startsWith('#/components/schemas/')) return fromSchema(document.components.schemas[ref.slice('#/components/schemas/'.length)], depth + 1);
    if (ref.startsWith('./schemas/')) {
      const [file = '', fragment = ''] = ref.slice('./schemas/'.length).split('#');
      let node: unknown = contract.schemas[file];
      for (const segment of fragment.split('/').filter(Boolean)) node = (node as Json | undefined)?.[segment];
      return fromSchema(node as Json | undefined, depth + 1);
    }
    return undefined;
  };
  return fromSchema(media.schema as Json | undefined);
}

/** A small valid JSON body for the operation, if it takes one (checked against its schema). */
function jsonBodyFor(op: Operation): { contentType: string; payload: string } | undefined {
  if (!op.requestBody) return undefined;
  const types = Object.keys(op.requestBody.content);
  const contentType = types.includes('application/json') ? 'application/json' : types.find((t) => /[/+]json$/.test(t));
  if (!contentType) throw new Error(`${op.operationId}: no JSON request body to send; teach this test another media type`);
  const example = exampleBody(op, contentType);
  if (example === undefined) throw new Error(`${op.operationId}: the ${contentType} request body has no example in openapi.yaml or schemas/`);
  const validate = contract.createAjv().compile(op.requestBody.content[contentType] as Json);
  if (!validate(example)) throw new Error(`${op.operationId}: the example body does not validate: ${JSON.stringify(validate.errors)}`);
  return { contentType, payload: JSON.stringify(example) };
}

function requestFor(op: Operation, credentials: Credentials, pathValues: Record<string, string> = {}): InjectOptions {
  const path = op.path.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(pathValues[name] ?? randomUUID()));
  const body = jsonBodyFor(op);
  return {
    method: op.method.toUpperCase() as InjectOptions['method'],
    url: credentials.query ? `${path}?${credentials.query}` : path,
    headers: {
      ...(body ? { 'content-type': body.contentType } : {}),
      ...(credentials.authorization !== undefined ? { authorization: credentials.authorization } : {}),
    },
    ...(body ? { payload: body.payload } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Tokens

interface Claims {
  sub?: unknown;
  kind?: unknown;
  sid?: unknown;
  iss?: unknown;
  aud?: unknown;
  iat?: unknown;
  exp?: unknown;
  nbf?: unknown;
}

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const HMAC: Record<string, string> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

/** A JWT signed the way we say: any algorithm, any key, any claims. */
function sign(payload: Claims, options: { alg?: string; key?: string } = {}): string {
  const alg = options.alg ?? 'HS256';
  const input = `${b64({ alg, typ: 'JWT' })}.${b64(payload)}`;
  if (alg === 'none') return `${input}.`;
  return `${input}.${createHmac(HMAC[alg] as string, options.key ?? server.ctx.tokenKey).update(input).digest('base64url')}`;
}

function claimsOf(jwt: string): Claims {
  return JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString('utf8')) as Claims;
}

const now = () => Math.floor(Date.now() / 1000);
/** The claims of a live session, freshly timed. */
const fresh = (claims: Claims): Claims => ({ ...claims, iat: now(), exp: now() + 600 });
const without = (claims: Claims, name: keyof Claims): Claims => Object.fromEntries(Object.entries(fresh(claims)).filter(([key]) => key !== name));

/** One payload character changed, still valid base64url, signature kept. */
function flipPayloadByte(jwt: string): string {
  const [header, payload, signature] = jwt.split('.') as [string, string, string];
  const index = Math.floor(payload.length / 2);
  const swapped = payload[index] === 'A' ? 'B' : 'A';
  return `${header}.${payload.slice(0, index)}${swapped}${payload.slice(index + 1)}.${signature}`;
}

/** The payload re-encoded with other claims, the original signature kept. */
function reencode(jwt: string, change: Claims): string {
  const [header, , signature] = jwt.split('.') as [string, string, string];
  return `${header}.${b64({ ...claimsOf(jwt), ...change })}.${signature}`;
}

// ---------------------------------------------------------------------------------------------
// Fixtures: for each kind of principal, a live owner and the tokens the cases need

interface Credentials {
  authorization?: string;
  query?: string;
}

interface PrincipalFixture {
  /** The live token whose claims the forgeries start from. */
  token: string;
  claims: Claims;
  /** The id of someone else of the same kind. */
  otherSubject: string;
  /** Login credentials of the owner, as HTTP Basic. */
  basic: string;
  revokedToken: string;
  /** A token of the other kind of principal. */
  wrongPrincipalToken: string;
  /** A token of a principal that no longer exists (only people can erase themselves). */
  goneToken?: string;
  /** Values for path parameters that name the owner's own things, so a bypass would change them. */
  pathValues: Record<string, string>;
}

const fixtures = {} as Record<Principal, PrincipalFixture>;
let owner: TestPerson;
let ownerVendor: TestVendor;
let ownerNeedId: string;
let ownerBaseline: { me: unknown; export: Json; profile: { version: unknown; etag: unknown; body: unknown } };

const bearer = (token: string) => `Bearer ${token}`;
const basicOf = (user: string, secret: string) => `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;

async function revokedTokenOf(issue: () => Promise<{ accessToken: string; refreshToken: string }>): Promise<string> {
  const { accessToken, refreshToken } = await issue();
  const revoked = await server.request({ method: 'POST', url: '/v1/token/revoke', payload: { token: refreshToken } });
  expect(revoked.statusCode).toBe(200);
  return accessToken;
}

async function ownerSnapshot() {
  const me = await server.request({ method: 'GET', url: '/v1/me', headers: owner.auth });
  const exported = await server.request({ method: 'GET', url: '/v1/me/export', headers: { ...owner.auth, accept: 'application/json' } });
  const profile = await server.request({ method: 'GET', url: '/v1/me/profile', headers: { ...owner.auth, accept: 'application/json' } });
  expect(me.statusCode).toBe(200);
  expect(exported.statusCode).toBe(200);
  expect(profile.statusCode).toBe(200);
  const { exportedAt: _, ...rest } = exported.json() as Json;
  return {
    me: me.json(),
    export: rest,
    profile: { version: profile.headers['profile-version'], etag: profile.headers.etag, body: profile.json() },
  };
}

beforeAll(async () => {
  server = await startTestServer();

  owner = await server.person();
  const otherPerson = await server.person();
  ownerVendor = await server.vendor('Owner Vendor');
  const otherVendor = await server.vendor('Other Vendor');

  // The owner has something to lose: a profile and a need, named in the paths of the requests.
  const profile = await server.request({ method: 'PUT', url: '/v1/me/profile', headers: owner.auth, payload: { name: { given: 'Ada' }, locale: 'en-GB' } });
  expect(profile.statusCode).toBe(200);
  const need = await server.request({ method: 'POST', url: '/v1/me/needs', headers: owner.auth, payload: { title: 'A road bike', category: 'sports/cycling', visibility: 'public' } });
  expect(need.statusCode).toBe(201);
  ownerNeedId = need.json().id;
  // The need is cast publicly and the owner vendor answered it, so offer paths name a real offer.
  const intents = await server.request({ method: 'GET', url: '/v1/intents?format=json' });
  expect(intents.statusCode, intents.body).toBe(200);
  const ownerIntentId: string = intents.json().items[0]._proffer.id;
  const offer = await server.request({
    method: 'POST',
    url: `/v1/intents/${ownerIntentId}/offers`,
    headers: ownerVendor.auth,
    payload: { message: 'A road bike for you', request: { fields: [{ path: 'name', purpose: 'fulfillment', required: true, retentionDays: 30 }] } },
  });
  expect(offer.statusCode, offer.body).toBe(201);
  const ownerOfferId: string = offer.json().id;
  // A subscription between the owner and the owner vendor, so both sides' subscription paths name a real one.
  const subscription = await server.request({
    method: 'POST',
    url: '/v1/subscriptions',
    headers: ownerVendor.auth,
    payload: { person: owner.handle, fields: [{ path: 'name', purpose: 'fulfillment', required: true, retentionDays: 30 }], accepts: { termsVersion: 1, duties: {} } },
  });
  expect(subscription.statusCode, subscription.body).toBe(201);
  const ownerSubscriptionId: string = subscription.json().id;
  const approved = await server.request({ method: 'POST', url: `/v1/me/subscriptions/${ownerSubscriptionId}/approve`, headers: owner.auth });
  expect(approved.statusCode, approved.body).toBe(200);
  // Its webhook (a public address: registration checks it, and no dispatcher runs here to call it).
  const webhook = await server.request({
    method: 'PUT',
    url: `/v1/subscriptions/${ownerSubscriptionId}/webhook`,
    headers: ownerVendor.auth,
    payload: { url: 'https://93.184.216.34/proffer-hook' },
  });
  expect(webhook.statusCode, webhook.body).toBe(201);

  const revokedPerson = await server.person();
  const erased = await server.person();
  const erasedSecondSession = await server.request({
    method: 'POST',
    url: '/v1/token',
    payload: { grant_type: 'password', username: erased.handle, password: TEST_PASSWORD },
  });
  expect(erasedSecondSession.statusCode).toBe(200);
  const erase = await server.request({ method: 'DELETE', url: '/v1/me', headers: erased.auth });
  expect(erase.statusCode).toBe(204);

  fixtures.person = {
    token: owner.accessToken,
    claims: claimsOf(owner.accessToken),
    otherSubject: otherPerson.id,
    basic: basicOf(owner.handle, TEST_PASSWORD),
    revokedToken: await revokedTokenOf(async () => revokedPerson),
    wrongPrincipalToken: ownerVendor.accessToken,
    goneToken: erasedSecondSession.json().access_token,
    pathValues: { needId: ownerNeedId, subscriptionId: ownerSubscriptionId, offerId: ownerOfferId },
  };
  fixtures.vendor = {
    token: ownerVendor.accessToken,
    claims: claimsOf(ownerVendor.accessToken),
    otherSubject: otherVendor.id,
    basic: basicOf(ownerVendor.clientId, ownerVendor.clientSecret),
    revokedToken: await revokedTokenOf(() => server.vendor('Revoked Vendor')),
    wrongPrincipalToken: owner.accessToken,
    pathValues: { subscriptionId: ownerSubscriptionId, offerId: ownerOfferId, intentId: ownerIntentId },
  };
  // The erased person's first session is gone too.
  expect((await server.request({ method: 'GET', url: '/v1/me', headers: erased.auth })).statusCode).toBe(401);

  ownerBaseline = await ownerSnapshot();
});
afterAll(() => server?.close());

// ---------------------------------------------------------------------------------------------
// The bad credentials

interface BadCredential {
  name: string;
  status: 401 | 403;
  credentials: (f: PrincipalFixture) => Credentials;
  /** Only for these principals (default: all). */
  only?: Principal[];
  /** Sends no Authorization header: an operation whose token is optional serves it anonymously. */
  anonymous?: true;
}

const hour = 3600;
const BAD_CREDENTIALS: BadCredential[] = [
  { name: 'no Authorization header', status: 401, credentials: () => ({}), anonymous: true },
  { name: 'an empty Authorization header', status: 401, credentials: () => ({ authorization: '' }) },
  { name: 'HTTP Basic with the real credentials', status: 401, credentials: (f) => ({ authorization: f.basic }) },
  { name: 'Bearer without a token', status: 401, credentials: () => ({ authorization: 'Bearer' }) },
  { name: 'Bearer garbage', status: 401, credentials: () => ({ authorization: 'Bearer garbage' }) },
  { name: 'Bearer a.b.c', status: 401, credentials: () => ({ authorization: 'Bearer a.b.c' }) },
  { name: 'Bearer with characters outside token68', status: 401, credentials: () => ({ authorization: 'Bearer ***' }) },
  { name: 'Bearer with random base64url segments', status: 401, credentials: () => ({ authorization: bearer(`${b64('{')}.${randomBytes(24).toString('base64url')}.${randomBytes(32).toString('base64url')}`) }) },
  { name: 'the valid token without a scheme', status: 401, credentials: (f) => ({ authorization: f.token }) },
  { name: 'the valid token under another scheme', status: 401, credentials: (f) => ({ authorization: `Token ${f.token}` }) },
  { name: 'the valid token twice', status: 401, credentials: (f) => ({ authorization: `Bearer ${f.token} ${f.token}` }) },
  { name: 'the valid token in the query string only (?access_token=)', status: 401, credentials: (f) => ({ query: `access_token=${encodeURIComponent(f.token)}` }), anonymous: true },
  { name: 'expired an hour ago', status: 401, credentials: (f) => ({ authorization: bearer(sign({ ...f.claims, iat: now() - 2 * hour, exp: now() - hour })) }) },
  { name: 'expired two minutes ago (beyond clock tolerance)', status: 401, credentials: (f) => ({ authorization: bearer(sign({ ...f.claims, iat: now() - 720, exp: now() - 120 })) }) },
  { name: 'not valid before an hour from now (nbf)', status: 401, credentials: (f) => ({ authorization: bearer(sign({ ...fresh(f.claims), nbf: now() + hour, exp: now() + 2 * hour })) }) },
  { name: 'issued an hour in the future (iat)', status: 401, credentials: (f) => ({ authorization: bearer(sign({ ...f.claims, iat: now() + hour, exp: now() + hour + 600 })) }) },
  { name: 'signed with HS512 and the real key', status: 401, credentials: (f) => ({ authorization: bearer(sign(fresh(f.claims), { alg: 'HS512' })) }) },
  { name: 'signed with HS384 and the real key', status: 401, credentials: (f) => ({ authorization: bearer(sign(fresh(f.claims), { alg: 'HS384' })) }) },
  { name: 'alg none, unsigned', status: 401, credentials: (f) => ({ authorization: bearer(sign(fresh(f.claims), { alg: 'none' })) }) },
  {
    name: 'alg none, the real signature kept',
    status: 401,
    credentials: (f) => {
      const [, payload, signature] = f.token.split('.');
      return { authorization: bearer(`${b64({ alg: 'none', typ: 'JWT' })}.${payload}.${signature}`) };
    },
  },
  { name: 'tampered: one payload byte changed', status: 401, credentials: (f) => ({ authorization: bearer(flipPayloadByte(f.token)) }) },
  { name: 'tampered: sub changed, not re-signed', status: 401, credentials: (f) => ({ authorization: bearer(reencode(f.token, { sub: f.otherSubject })) }) },
  { name: 'tampered: exp extended, not re-signed', status: 401, credentials: (f) => ({ authorization: bearer(reencode(f.token, { exp: now() + 365 * 24 * hour })) }) },
  { name: 'signed with another key', status: 401, credentials: (f) => ({ authorization: bearer(sign(fresh(f.claims), { key: randomBytes(32).toString('base64url') })) }) },
  { name: 'signed with an empty key', status: 401, credentials: (f) => ({ authorization: bearer(sign(fresh(f.claims), { key: '' })) }) },
  { name: 'another audience', status: 401, credentials: (f) => ({ authorization: bearer(sign({ ...fresh(f.claims), aud: 'another-api' })) }) },
  { name: 'an audience list without ours', status: 401, credentials: (f) => ({ authorization: bearer(sign({ ...fresh(f.claims), aud: ['another-api'] })) }) },
  { name: 'another issuer', status: 401, credentials: (f) => ({ authorization: bearer(sign({ ...fresh(f.claims), iss: 'https://evil.example' })) }) },
  ...(['exp', 'iat', 'sub', 'aud', 'iss', 'sid', 'kind'] as const).map(
    (claim): BadCredential => ({ name: `no ${claim} claim`, status: 401, credentials: (f) => ({ authorization: bearer(sign(without(f.claims, claim))) }) }),
  ),
  { name: 'a well-signed token for a session that does not exist', status: 401, credentials: (f) => ({ authorization: bearer(sign({ ...fresh(f.claims), sid: randomUUID() })) }) },
  { name: 'a well-signed token whose sid is not a UUID', status: 401, credentials: (f) => ({ authorization: bearer(sign({ ...fresh(f.claims), sid: 'not-a-session' })) }) },
  { name: 'a well-signed token whose sub is not a UUID', status: 401, credentials: (f) => ({ authorization: bearer(sign({ ...fresh(f.claims), sub: 'not-a-subject' })) }) },
  { name: 'a well-signed token whose sub is a number', status: 401, credentials: (f) => ({ authorization: bearer(sign({ ...fresh(f.claims), sub: 42 })) }) },
  { name: "a well-signed token of someone else on the owner's session", status: 401, credentials: (f) => ({ authorization: bearer(sign({ ...fresh(f.claims), sub: f.otherSubject })) }) },
  { name: 'a token of a revoked session', status: 401, credentials: (f) => ({ authorization: bearer(f.revokedToken) }) },
  { name: 'a token of the other kind of principal', status: 403, credentials: (f) => ({ authorization: bearer(f.wrongPrincipalToken) }) },
  { name: 'a token of a person who erased themselves', status: 401, only: ['person'], credentials: (f) => ({ authorization: bearer(f.goneToken as string) }) },
];

function expectRefused(response: LightMyRequestResponse, status: 401 | 403) {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = response.json();
  expect(body.status).toBe(status);
  expect(body.type).toBe(PROBLEM_BASE + (status === 401 ? 'invalid-token' : 'wrong-principal'));
  expect(typeof body.title).toBe('string');
  expect(typeof body.detail).toBe('string');
  expect(body.detail.length).toBeGreaterThan(0);
  expect(response.body).not.toMatch(/\n\s+at |node_modules|FAST_JWT/);
  if (status === 401) expect(String(response.headers['www-authenticate'])).toMatch(/^Bearer realm="[^"]+", error="invalid_token"$/);
}

// ---------------------------------------------------------------------------------------------

describe('the contract has operations to check', () => {
  it('finds the secured operations, and each has a valid example body where it takes one', () => {
    expect(secured.length).toBeGreaterThan(0);
    expect(secured.map((op) => op.operationId)).toEqual(expect.arrayContaining(['getMe', 'eraseMe', 'getProfile', 'replaceProfile', 'createNeed', 'patchNeed']));
    for (const op of secured) jsonBodyFor(op);
  });

  it("the forger is faithful: a forged copy of a live session's claims is accepted", async () => {
    for (const principal of ['person', 'vendor'] as const) {
      const f = fixtures[principal];
      const copy = sign(fresh(f.claims));
      for (const op of secured.filter((o) => o.principal === principal && o.method === 'get')) {
        const response = await server.request(requestFor(op, { authorization: bearer(copy) }, f.pathValues));
        expect(response.statusCode, `${op.operationId}: ${response.body}`).toBeLessThan(400);
      }
    }
    expect((await server.request({ method: 'GET', url: '/v1/me', headers: { authorization: bearer(sign(fresh(fixtures.person.claims))) } })).json().id).toBe(owner.id);
    // A forged copy of the vendor's claims gets past signature and claim checks to the principal check.
    expectRefused(await server.request({ method: 'GET', url: '/v1/me', headers: { authorization: bearer(sign(fresh(fixtures.vendor.claims))) } }), 403);
    // And the claims checked are the ones the server issues.
    expect(fixtures.person.claims).toMatchObject({ aud: TOKEN_AUDIENCE, iss: server.ctx.config.publicUrl, sub: owner.id, kind: 'person' });
  });
});

describe('verified tokens are kept, but never past their expiry', () => {
  it('verifies a repeated token once, and refuses it once it expires although it was cached', async () => {
    const repeated = sign(fresh(fixtures.person.claims));
    // fast-jwt's cache hands back the payload it kept: the same object for the same token.
    expect(server.app.jwt.verify(repeated)).toBe(server.app.jwt.verify(repeated));

    // Within the clock tolerance (30 s) for about three more seconds, then expired.
    const expiresAt = (now() - 27) * 1000 + 30_000;
    const closeToExpiry = sign({ ...fixtures.person.claims, iat: now() - 600, exp: now() - 27 });
    const get = () => server.request({ method: 'GET', url: '/v1/me', headers: { authorization: bearer(closeToExpiry) } });
    expect((await get()).statusCode).toBe(200);
    expect((await get()).statusCode).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now()) + 250));
    expectRefused(await get(), 401);
  });
});

describe.each(secured.map((op) => [`${op.method.toUpperCase()} ${op.path} (${op.operationId}, ${op.principal})`, op] as const))('%s', (_, op) => {
  const cases = BAD_CREDENTIALS.filter((c) => (!c.only || c.only.includes(op.principal)) && !(op.principalOptional && c.anonymous));
  it.each(cases.map((c) => [c.name, c] as const))('refuses %s', async (_name, bad) => {
    const f = fixtures[op.principal];
    expectRefused(await server.request(requestFor(op, bad.credentials(f), f.pathValues)), bad.status);
  });

  it("accepts the principal's own valid token (sanity)", async () => {
    let authorization: string;
    let pathValues: Record<string, string> = {};
    if (op.principal === 'person') {
      const someone = await server.person();
      const need = await server.request({ method: 'POST', url: '/v1/me/needs', headers: someone.auth, payload: { title: 'A kettle', category: 'home' } });
      expect(need.statusCode).toBe(201);
      authorization = someone.auth.authorization;
      pathValues = { needId: need.json().id };
    } else {
      authorization = (await server.vendor('Sanity Vendor')).auth.authorization;
    }
    const response = await server.request(requestFor(op, { authorization }, pathValues));
    expect([401, 403], response.body).not.toContain(response.statusCode);
    expect(response.statusCode, response.body).toBeLessThan(500);
  });
});

describe('refused requests changed nothing', () => {
  it("the owner's account, profile, needs, events and sessions are as before", async () => {
    const after = await ownerSnapshot();
    expect(after.me).toEqual(ownerBaseline.me);
    expect(after.profile).toEqual(ownerBaseline.profile);
    // The access log grows by the reads made with valid tokens (the forger's control and the
    // sanity checks); refused requests add nothing to it, and nothing else may differ.
    const { accessLog, ...rest } = after.export as { accessLog: { vendor: { id: string }; fields: string[] }[] };
    const { accessLog: _before, ...restBefore } = ownerBaseline.export as { accessLog: unknown[] };
    expect(rest).toEqual(restBefore);
    expect(accessLog.every((entry) => entry.vendor.id === ownerVendor.id && entry.fields.join() === 'name')).toBe(true);
    const exported = after.export as { needs: { id: string; version: number; status: string }[]; sessions: { revoked: boolean }[]; profile: { version: number } };
    expect(exported.profile.version).toBe(1);
    expect(exported.needs.map((n) => [n.id, n.version, n.status])).toEqual([[ownerNeedId, 1, 'open']]);
    expect(exported.sessions.every((s) => !s.revoked)).toBe(true);
  });

  it("the owner vendor's session still stands", async () => {
    const refreshed = await server.request({
      method: 'POST',
      url: '/v1/token',
      payload: { grant_type: 'refresh_token', refresh_token: ownerVendor.refreshToken, client_id: ownerVendor.clientId, client_secret: ownerVendor.clientSecret },
    });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
  });

  it('a refused PUT /v1/me/profile left the profile version alone', async () => {
    const expired = sign({ ...fixtures.person.claims, iat: now() - 2 * hour, exp: now() - hour });
    const refused = await server.request({ method: 'PUT', url: '/v1/me/profile', headers: { authorization: bearer(expired) }, payload: { name: { given: 'Mallory' } } });
    expectRefused(refused, 401);
    const profile = await server.request({ method: 'GET', url: '/v1/me/profile', headers: { ...owner.auth, accept: 'application/json' } });
    expect(profile.headers['profile-version']).toBe(ownerBaseline.profile.version);
    expect(profile.json()).toEqual({ name: { given: 'Ada' }, locale: 'en-GB' });
  });
});
