import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestPerson, type TestServer, type TestVendor } from '../helpers/server.js';

/**
 * The access matrix of the subscription endpoints: each row is an endpoint, each column a
 * principal (the owner, another person, the granted vendor, another vendor, vendors whose grant
 * is pending, rejected, revoked, ended or expired, no token, a tampered token), each cell the
 * expected status. Every body answered is then walked for profile values outside the grant.
 * (Token problems on every endpoint are in auth-matrix.test.ts.)
 */
let server: TestServer;
let owner: TestPerson;
let otherPerson: TestPerson;
const vendors: Record<string, TestVendor> = {};
const subscriptionOf: Record<string, string> = {};

const PROFILE = {
  name: { given: 'Philippa', family: 'Fawcett' },
  emails: { personal: 'philippa@example.org', work: 'pf@newnham.example' },
  phones: { mobile: '+44 1223 000000' },
  addresses: { home: { lines: ['Newnham College'], locality: 'Cambridge', country: 'GB' }, work: { lines: ['Senate House'], locality: 'Cambridge' } },
  birthDate: '1868-04-04',
  custom: { wrangler: 'senior' },
};
const GRANTED = ['name', 'addresses.home'];
const SECRET_VALUES = ['philippa@example.org', 'pf@newnham.example', '+44 1223 000000', 'Senate House', '1868-04-04', 'senior'];
const OTHER_PERSON_VALUES = ['Otherwise Private', 'other@example.org'];

const STATES = ['granted', 'pending', 'rejected', 'revoked', 'ended', 'expired'] as const;
type State = (typeof STATES)[number];

beforeAll(async () => {
  server = await startTestServer();
  owner = await server.person();
  otherPerson = await server.person();
  await server.request({ method: 'PUT', url: '/v1/me/profile', headers: owner.auth, payload: PROFILE });
  await server.request({ method: 'PUT', url: '/v1/me/profile', headers: otherPerson.auth, payload: { name: { given: OTHER_PERSON_VALUES[0] }, emails: { personal: OTHER_PERSON_VALUES[1] } } });
  // Name and home address are granted automatically; a birth date is never given; the rest asks.
  const terms = await server.request({
    method: 'PUT',
    url: '/v1/me/terms',
    headers: owner.auth,
    payload: {
      rules: [
        { id: 'deliveries', effect: 'permit', fields: ['name', 'addresses.home'], purposes: ['fulfillment'] },
        { id: 'no-birthday', effect: 'deny', fields: ['birthDate'] },
        { id: 'ask', effect: 'permit', fields: ['*'], approval: 'ask' },
      ],
    },
  });
  expect(terms.statusCode).toBe(200);
  const ask = (vendor: TestVendor, fields: { path: string; required: boolean }[]) =>
    server.request({
      method: 'POST',
      url: '/v1/subscriptions',
      headers: vendor.auth,
      payload: { person: owner.handle, fields: fields.map((f) => ({ ...f, purpose: 'fulfillment', retentionDays: 30 })), accepts: { termsVersion: 2, duties: {} } },
    });
  const granted = GRANTED.map((path) => ({ path, required: true }));
  for (const state of [...STATES, 'other'] as const) vendors[state] = await server.vendor(`Vendor ${state}`);
  for (const state of STATES) {
    const fields = state === 'rejected' ? [...granted, { path: 'birthDate', required: true }] : state === 'pending' ? [...granted, { path: 'phones', required: false }] : granted;
    const response = await ask(vendors[state] as TestVendor, fields);
    expect(response.statusCode, response.body).toBe(201);
    subscriptionOf[state] = response.json().id;
  }
  const id = (state: State) => subscriptionOf[state] as string;
  expect((await server.request({ method: 'POST', url: `/v1/me/subscriptions/${id('revoked')}/revoke`, headers: owner.auth })).statusCode).toBe(200);
  expect((await server.request({ method: 'DELETE', url: `/v1/subscriptions/${id('ended')}`, headers: (vendors.ended as TestVendor).auth })).statusCode).toBe(200);
  await server.ctx.db.updateTable('subscriptions').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', id('expired')).execute();
  // The expired grant is marked so by its next read.
  expect((await server.request({ method: 'GET', url: `/v1/subscriptions/${id('expired')}/profile`, headers: (vendors.expired as TestVendor).auth })).statusCode).toBe(403);
});
afterAll(() => server?.close());

type Principal = 'owner' | 'other person' | `vendor ${State}` | 'other vendor' | 'no token' | 'tampered token';
const PRINCIPALS: Principal[] = ['owner', 'other person', ...STATES.map((s) => `vendor ${s}` as const), 'other vendor', 'no token', 'tampered token'];

function headersOf(principal: Principal): Record<string, string> {
  if (principal === 'owner') return owner.auth;
  if (principal === 'other person') return otherPerson.auth;
  if (principal === 'no token') return {};
  if (principal === 'tampered token') {
    const [header, payload, signature] = owner.accessToken.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    return { authorization: `Bearer ${header}.${Buffer.from(JSON.stringify({ ...claims, sub: otherPerson.id })).toString('base64url')}.${signature}` };
  }
  const vendor = principal === 'other vendor' ? vendors.other : vendors[principal.slice('vendor '.length)];
  return (vendor as TestVendor).auth;
}

/** Rows: an endpoint about the *granted* vendor's subscription, or about the principal's own. */
interface Row {
  name: string;
  request: (principal: Principal) => InjectOptions;
  expected: Partial<Record<Principal, number>> & { person: number; vendor: number };
}

const own = (principal: Principal): string => {
  if (principal.startsWith('vendor ')) return subscriptionOf[principal.slice('vendor '.length)] as string;
  return subscriptionOf.granted as string;
};

const ROWS: Row[] = [
  {
    name: "GET /v1/subscriptions/{granted}/profile: the granted vendor's form",
    request: () => ({ method: 'GET', url: `/v1/subscriptions/${subscriptionOf.granted}/profile` }),
    expected: { person: 403, vendor: 404, 'vendor granted': 200 },
  },
  {
    name: 'GET /v1/subscriptions/{own}/profile: each vendor reads its own subscription',
    request: (p) => ({ method: 'GET', url: `/v1/subscriptions/${own(p)}/profile` }),
    expected: { person: 403, vendor: 403, 'vendor granted': 200, 'other vendor': 404 },
  },
  {
    name: 'GET /v1/subscriptions/{granted}',
    request: () => ({ method: 'GET', url: `/v1/subscriptions/${subscriptionOf.granted}` }),
    expected: { person: 403, vendor: 404, 'vendor granted': 200 },
  },
  {
    name: 'GET /v1/subscriptions/{own}: every vendor sees its own, whatever its state',
    request: (p) => ({ method: 'GET', url: `/v1/subscriptions/${own(p)}` }),
    expected: { person: 403, vendor: 200, 'other vendor': 404 },
  },
  {
    name: 'GET /v1/subscriptions: a vendor lists its own',
    request: () => ({ method: 'GET', url: '/v1/subscriptions' }),
    expected: { person: 403, vendor: 200 },
  },
  {
    name: 'GET /v1/me/subscriptions/{granted}',
    request: () => ({ method: 'GET', url: `/v1/me/subscriptions/${subscriptionOf.granted}` }),
    expected: { person: 404, owner: 200, vendor: 403 },
  },
  {
    name: 'GET /v1/me/subscriptions',
    request: () => ({ method: 'GET', url: '/v1/me/subscriptions' }),
    expected: { person: 200, vendor: 403 },
  },
  {
    name: "POST /v1/me/subscriptions/{pending}/reject by someone else: refused, the request stays pending",
    request: () => ({ method: 'POST', url: `/v1/me/subscriptions/${subscriptionOf.pending}/reject` }),
    expected: { person: 404, owner: -1, vendor: 403 },
  },
  {
    name: 'GET /v1/me/access-log',
    request: () => ({ method: 'GET', url: '/v1/me/access-log' }),
    expected: { person: 200, vendor: 403 },
  },
  {
    name: 'GET /v1/me/receipts',
    request: () => ({ method: 'GET', url: '/v1/me/receipts' }),
    expected: { person: 200, vendor: 403 },
  },
  {
    name: 'GET /v1/me/profile',
    request: () => ({ method: 'GET', url: '/v1/me/profile' }),
    expected: { person: 200, vendor: 403 },
  },
];

function expectedStatus(row: Row, principal: Principal): number {
  if (principal === 'no token' || principal === 'tampered token') return 401;
  const specific = row.expected[principal];
  if (specific !== undefined) return specific;
  return principal === 'owner' || principal === 'other person' ? row.expected.person : row.expected.vendor;
}

const answered: { principal: Principal; row: string; response: LightMyRequestResponse }[] = [];

describe.each(ROWS.map((row) => [row.name, row] as const))('%s', (_name, row) => {
  it.each(PRINCIPALS.filter((p) => expectedStatus(row, p) !== -1).map((p) => [p, expectedStatus(row, p)] as const))('%s → %i', async (principal, status) => {
    const request = row.request(principal);
    const response = await server.request({ ...request, headers: { ...headersOf(principal), ...(request.headers ?? {}) } });
    answered.push({ principal, row: row.name, response });
    expect(response.statusCode, response.body).toBe(status);
  });
});

describe('what was answered', () => {
  it('the pending request is still pending after everyone else tried to reject it', async () => {
    const seen = await server.request({ method: 'GET', url: `/v1/me/subscriptions/${subscriptionOf.pending}`, headers: owner.auth });
    expect(seen.json().status).toBe('pending');
  });

  it('no body ever carried a profile value outside the grant, nor anyone else’s', () => {
    expect(answered.length).toBeGreaterThan(ROWS.length * 5);
    for (const { principal, row, response } of answered) {
      for (const value of OTHER_PERSON_VALUES) {
        if (principal !== 'other person') expect(response.body, `${row} as ${principal}`).not.toContain(value);
      }
      if (principal === 'owner') continue;
      for (const value of SECRET_VALUES) expect(response.body, `${row} as ${principal}`).not.toContain(value);
      if (principal !== 'vendor granted') {
        for (const value of ['Philippa', 'Fawcett', 'Newnham College']) expect(response.body, `${row} as ${principal}`).not.toContain(value);
      }
    }
  });
});
