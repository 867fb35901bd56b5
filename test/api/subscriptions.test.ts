import { randomUUID } from 'node:crypto';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromXml } from '../../server/xml/index.js';
import { expectProblem } from '../helpers/problems.js';
import { startTestServer, type TestPerson, type TestServer, type TestVendor } from '../helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

// ---------------------------------------------------------------------------------------------
// Helpers

type Json = Record<string, unknown>;
type Field = { path: string; purpose: string; required: boolean; retentionDays: number };
interface Subscription {
  id: string;
  person: string;
  vendor: { id: string; name: string; homepage: string };
  status: string;
  statusReason?: string;
  request: { fields: Field[]; accepts: Json };
  decision: {
    outcome: string;
    termsVersion: number;
    fields: { path: string; purpose: string; required: boolean; decision: string; rule: string | null; reason: string; code: string }[];
    explanation: string[];
  };
  grant: { fields: string[]; categories: string[]; duties: Json; termsVersion: number; expiresAt: string | null };
  createdAt: string;
  updatedAt: string;
  decidedAt: string | null;
  endedAt: string | null;
}
interface LogEntry {
  id: string;
  at: string;
  vendor: { id: string; name: string };
  subscription: string;
  what?: string;
  fields: string[];
  address: string;
}

const P = 'https://proffer.dev/problems/';
const DUTIES = { noThirdPartySharing: true, noProfiling: true, deleteOnRevoke: true };
const ADDRESS = '203.0.113.7';

const f = (path: string, purpose = 'fulfillment', required = true, retentionDays = 30): Field => ({ path, purpose, required, retentionDays });

/** Terms that grant contact details for orders automatically, ask for phones, and never give the birth date. */
const fulfilmentTerms = (duties: Json = {}) => ({
  title: 'Shops may deliver to me',
  rules: [
    {
      id: 'deliveries',
      effect: 'permit',
      fields: ['name', 'emails', 'addresses.*'],
      purposes: ['fulfillment', 'delivery', 'support'],
      duties: { maxRetentionDays: 90, noThirdPartySharing: true, ...duties },
    },
    { id: 'phone-ask', effect: 'permit', fields: ['phones'], purposes: ['fulfillment'], approval: 'ask' },
    { id: 'never-birthday', effect: 'deny', fields: ['birthDate'] },
  ],
});

// Every profile set in this file, so that the final check can look for any value of any of them.
const profiles: Json[] = [];
let profileCounter = 0;

/** A profile whose every value is distinctive, so that a value found in a response can only have come from it. */
function richProfile(): Json {
  const n = ++profileCounter;
  const tag = `q${n}x${randomUUID().slice(0, 4)}`;
  return {
    name: { given: `Zenobia${tag}`, family: `Quornwhistle${tag}` },
    emails: { personal: `zenobia.${tag}@personal.example`, work: `z.${tag}@work.example` },
    phones: { mobile: `+44 20 ${7000 + n} 0101`, home: `+33 1 ${5000 + n} 0202` },
    addresses: {
      home: { lines: [`${n} Quorn Lane ${tag}`], locality: `Homeford${tag}`, postalCode: `HF${n} 7ZZ`, country: 'GB' },
      work: { lines: [`${n} Office Park ${tag}`], locality: `Workington${tag}`, postalCode: `WK${n} 9AA`, country: 'FR' },
    },
    birthDate: `19${String(10 + (n % 80)).padStart(2, '0')}-02-03`,
    locale: 'en-GB',
    preferences: { sizes: { shoe: `EU 4${n % 10} ${tag}` }, diet: [`pescatarian-${tag}`], contactChannels: ['post'] },
    custom: { 'secret-hobby': `falconry-${tag}`, 'lucky-number': 7000 + n },
  };
}

/** The string leaves of a document (long enough to be distinctive). */
function leaves(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') {
    if (value.length >= 5) out.push(value);
  } else if (Array.isArray(value)) {
    for (const item of value) leaves(item, out);
  } else if (value && typeof value === 'object') {
    for (const item of Object.values(value)) leaves(item, out);
  }
  return out;
}

/** Every response a vendor got in this file, with the profile values it was allowed to contain. */
const vendorResponses: { label: string; body: string; allowed: unknown }[] = [];

async function asVendor(vendor: TestVendor, options: InjectOptions, allowed: unknown = {}): Promise<LightMyRequestResponse> {
  const response = await server.request({ ...options, headers: { ...vendor.auth, ...(options.headers ?? {}) } });
  vendorResponses.push({ label: `${options.method} ${options.url} → ${response.statusCode}`, body: response.body, allowed });
  return response;
}

const asPerson = (person: TestPerson, options: InjectOptions) =>
  server.request({ ...options, headers: { ...person.auth, ...(options.headers ?? {}) } });

async function putTerms(person: TestPerson, terms: unknown): Promise<number> {
  const response = await asPerson(person, { method: 'PUT', url: '/v1/me/terms', payload: terms as object });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ version: number }>().version;
}

async function putProfile(person: TestPerson, profile: Json): Promise<void> {
  const response = await asPerson(person, { method: 'PUT', url: '/v1/me/profile', payload: profile });
  expect(response.statusCode, response.body).toBe(200);
  profiles.push(profile);
}

/** A person with a rich profile and, if given, terms; answers the person, the profile and the terms version. */
async function personWith(terms?: unknown): Promise<{ person: TestPerson; profile: Json; version: number }> {
  const person = await server.person();
  const profile = richProfile();
  await putProfile(person, profile);
  const version = terms === undefined ? 1 : await putTerms(person, terms);
  return { person, profile, version };
}

function subscribe(vendor: TestVendor, body: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return asVendor(vendor, { method: 'POST', url: '/v1/subscriptions', headers, payload: body as object });
}

const requestBody = (person: TestPerson, version: number, fields: Field[]) => ({ person: person.handle, fields, accepts: { termsVersion: version, duties: DUTIES } });

/** Requests and expects the subscription in this status. */
async function subscribed(vendor: TestVendor, person: TestPerson, version: number, fields: Field[], status: string): Promise<Subscription> {
  const response = await subscribe(vendor, requestBody(person, version, fields));
  expect(response.statusCode, response.body).toBe(201);
  const subscription = response.json<Subscription>();
  expect(subscription.status).toBe(status);
  return subscription;
}

const readProfile = (vendor: TestVendor, id: string, allowed: unknown, headers: Record<string, string> = {}) =>
  asVendor(vendor, { method: 'GET', url: `/v1/subscriptions/${id}/profile`, headers, remoteAddress: ADDRESS }, allowed);

const vendorView = async (vendor: TestVendor, id: string): Promise<Subscription> => {
  const response = await asVendor(vendor, { method: 'GET', url: `/v1/subscriptions/${id}` });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<Subscription>();
};

const personView = async (person: TestPerson, id: string): Promise<Subscription> => {
  const response = await asPerson(person, { method: 'GET', url: `/v1/me/subscriptions/${id}` });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<Subscription>();
};

const decide = (person: TestPerson, id: string, action: 'approve' | 'reject' | 'revoke', body?: unknown) =>
  asPerson(person, { method: 'POST', url: `/v1/me/subscriptions/${id}/${action}`, ...(body === undefined ? {} : { payload: body as object }) });

async function rowCount(where: { vendorId?: string; id?: string } = {}): Promise<number> {
  let query = server.ctx.db.selectFrom('subscriptions').select((eb) => eb.fn.countAll<string>().as('n'));
  if (where.vendorId) query = query.where('vendor_id', '=', where.vendorId);
  if (where.id) query = query.where('id', '=', where.id);
  return Number((await query.executeTakeFirstOrThrow()).n);
}

/** Expects a 403 grant-inactive naming the status the subscription is in. */
function expectInactive(response: LightMyRequestResponse, status: string): void {
  const problem = expectProblem(response, 403) as unknown as { type: string; subscriptionStatus: string };
  expect(problem.type).toBe(`${P}grant-inactive`);
  expect(problem.subscriptionStatus).toBe(status);
}

function expectType(response: LightMyRequestResponse, status: number, type: string): Json {
  const problem = expectProblem(response, status);
  expect(problem.type).toBe(`${P}${type}`);
  return problem as unknown as Json;
}

async function accessLog(person: TestPerson, query = ''): Promise<LogEntry[]> {
  const response = await asPerson(person, { method: 'GET', url: `/v1/me/access-log${query}` });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ items: LogEntry[] }>().items;
}

/** The parts of a profile under these top-level-or-nested paths (a tiny reference for the expected subsets). */
function pick(profile: Json, paths: string[]): Json {
  const out: Json = {};
  for (const path of paths) {
    const [head, ...rest] = path.split('.');
    if (head === undefined || !(head in profile)) continue;
    if (rest.length === 0) out[head] = structuredClone(profile[head]);
    else {
      const inner = pick(profile[head] as Json, [rest.join('.')]);
      if (Object.keys(inner).length) out[head] = { ...((out[head] as Json | undefined) ?? {}), ...inner };
    }
  }
  return out;
}

/**
 * Lets the event loop turn once (no time passes). With inject and the embedded database every step
 * of a read settles as a microtask, so a loop of reads would otherwise keep a request with a body
 * (whose stream is read in a later phase of the loop) from ever starting; over a socket it cannot.
 */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

const profileFromXml = (text: string) =>
  fromXml(text, { root: 'profile', schemaRef: 'https://proffer.dev/schemas/profile.json', schemas: server.ctx.contract.xmlSchemas });

// ---------------------------------------------------------------------------------------------

describe('POST /v1/subscriptions: the terms decide at once', () => {
  let vendor: TestVendor;
  beforeAll(async () => {
    vendor = await server.vendor('Velo Lyon');
  });

  it('is active when the terms permit everything required automatically; a denied optional field is left out', async () => {
    const { person, version } = await personWith(fulfilmentTerms());
    expect(version).toBe(2);
    const response = await subscribe(
      vendor,
      requestBody(person, version, [f('name'), f('addresses.home', 'delivery'), f('emails', 'marketing', false), f('birthDate', 'fulfillment', false)]),
    );
    expect(response.statusCode, response.body).toBe(201);
    const subscription = response.json<Subscription>();
    expect(response.headers.location).toBe(`http://proffer.test/v1/subscriptions/${subscription.id}`);
    expect(subscription).toMatchObject({ person: person.handle, vendor: { id: vendor.id, name: 'Velo Lyon' }, status: 'active' });
    expect(subscription.decision.outcome).toBe('active');
    expect(subscription.decision.fields.map((d) => [d.path, d.decision, d.rule])).toEqual([
      ['name', 'permit', 'deliveries'],
      ['addresses.home', 'permit', 'deliveries'],
      ['emails', 'deny', null],
      ['birthDate', 'deny', 'never-birthday'],
    ]);
    expect(subscription.grant).toMatchObject({ fields: ['name', 'addresses.home'], termsVersion: 2, expiresAt: null });
    expect(subscription.grant.duties).toMatchObject({ maxRetentionDays: 90, noThirdPartySharing: true });
    expect(subscription.decidedAt).not.toBeNull();
    expect(await vendorView(vendor, subscription.id)).toEqual(subscription);
    expect(await personView(person, subscription.id)).toEqual(subscription);
  });

  it('is pending under the default terms: every field asks the person, nothing is granted yet', async () => {
    const { person, version } = await personWith();
    const subscription = await subscribed(vendor, person, version, [f('name'), f('emails.personal', 'account')], 'pending');
    expect(subscription.decision.outcome).toBe('pending');
    expect(subscription.decision.fields.every((d) => d.decision === 'ask' && d.code === 'approval_required')).toBe(true);
    expect(subscription.grant.fields).toEqual([]);
    expect(subscription.decidedAt).toBeNull();
  });

  it('is rejected when a required field is denied, and the decision names the field, the rule and why', async () => {
    const { person, version } = await personWith(fulfilmentTerms());
    const subscription = await subscribed(vendor, person, version, [f('name'), f('birthDate')], 'rejected');
    expect(subscription.decision.outcome).toBe('rejected');
    const denied = subscription.decision.fields.find((d) => d.path === 'birthDate');
    expect(denied).toMatchObject({ decision: 'deny', rule: 'never-birthday', code: 'denied_by_rule', required: true });
    expect(denied?.reason).toContain('never-birthday');
    expect(denied?.reason).toContain('birthDate');
    expect(subscription.grant.fields).toEqual([]);
    // A retention longer than the rule allows is a reason too.
    const tooLong = await subscribed(vendor, person, version, [f('name', 'fulfillment', true, 365)], 'rejected');
    expect(tooLong.decision.fields[0]).toMatchObject({ decision: 'deny', rule: 'deliveries', code: 'retention_too_long' });
  });

  it('refuses an outdated terms version with 409 terms-outdated naming the current one, and stores nothing', async () => {
    const { person, version } = await personWith(fulfilmentTerms());
    const before = await rowCount();
    const response = await subscribe(vendor, requestBody(person, version - 1, [f('name')]));
    const problem = expectType(response, 409, 'terms-outdated');
    expect(problem.currentTermsVersion).toBe(version);
    expect(await rowCount()).toBe(before);
  });

  it('answers 404 for an unknown handle and stores nothing', async () => {
    const before = await rowCount();
    const response = await subscribe(vendor, { person: 'nobody-by-this-name', fields: [f('name')], accepts: { termsVersion: 1, duties: DUTIES } });
    expectType(response, 404, 'not-found');
    expect(await rowCount()).toBe(before);
  });

  it('refuses malformed bodies with 400 and stores nothing', async () => {
    const { person } = await personWith();
    const good = requestBody(person, 1, [f('name')]);
    const bodies: [string, unknown, string?][] = [
      ['no accepts', { person: person.handle, fields: [f('name')] }],
      ['an unknown property', { ...good, sneaky: true }, '/sneaky'],
      ['a retention as text', { ...good, fields: [{ ...f('name'), retentionDays: '30' }] }, '/fields/0/retentionDays'],
      ['no fields', { ...good, fields: [] }, '/fields'],
      ['an unknown purpose', { ...good, fields: [f('name', 'world-domination')] }],
      ['no termsVersion', { ...good, accepts: { duties: DUTIES } }],
    ];
    const before = await rowCount();
    for (const [name, body, pointer] of bodies) {
      const response = await subscribe(vendor, body);
      expect(response.statusCode, name).toBe(400);
      expectProblem(response, 400, pointer);
    }
    expect(await rowCount()).toBe(before);
  });

  describe('Idempotency-Key', () => {
    it('answers a retry with the same key and body with 200 and the same subscription, stored once', async () => {
      const keyed = await server.vendor('Keyed Shop');
      const { person, version } = await personWith(fulfilmentTerms());
      const body = requestBody(person, version, [f('name'), f('addresses.home')]);
      const first = await subscribe(keyed, body, { 'idempotency-key': 'order-1' });
      expect(first.statusCode, first.body).toBe(201);
      // Key order does not make another request.
      const reordered = { accepts: body.accepts, fields: body.fields, person: body.person };
      const retry = await subscribe(keyed, reordered, { 'idempotency-key': 'order-1' });
      expect(retry.statusCode, retry.body).toBe(200);
      expect(retry.json<Subscription>().id).toBe(first.json<Subscription>().id);
      expect(await rowCount({ vendorId: keyed.id })).toBe(1);
      // Another key is another request.
      const other = await subscribe(keyed, body, { 'idempotency-key': 'order-2' });
      expect(other.statusCode).toBe(201);
      expect(other.json<Subscription>().id).not.toBe(first.json<Subscription>().id);
      expect(await rowCount({ vendorId: keyed.id })).toBe(2);
    });

    it('refuses the same key with another body: 422 idempotency-key-reused, nothing stored', async () => {
      const keyed = await server.vendor('Keyed Shop');
      const { person, version } = await personWith(fulfilmentTerms());
      expect((await subscribe(keyed, requestBody(person, version, [f('name')]), { 'idempotency-key': 'k' })).statusCode).toBe(201);
      const reused = await subscribe(keyed, requestBody(person, version, [f('emails')]), { 'idempotency-key': 'k' });
      expectType(reused, 422, 'idempotency-key-reused');
      expect(await rowCount({ vendorId: keyed.id })).toBe(1);
    });

    it('creates exactly one subscription for ten simultaneous attempts with one key', async () => {
      const keyed = await server.vendor('Keyed Shop');
      const { person, version } = await personWith(fulfilmentTerms());
      const body = requestBody(person, version, [f('name')]);
      const responses = await Promise.all(Array.from({ length: 10 }, () => subscribe(keyed, body, { 'idempotency-key': 'burst' })));
      for (const response of responses) expect(response.statusCode, response.body).toBeLessThan(300);
      expect(responses.filter((r) => r.statusCode === 201)).toHaveLength(1);
      expect(responses.filter((r) => r.statusCode === 200)).toHaveLength(9);
      expect(new Set(responses.map((r) => r.json<Subscription>().id)).size).toBe(1);
      expect(await rowCount({ vendorId: keyed.id })).toBe(1);
    });
  });
});

describe('the person decides', () => {
  let vendor: TestVendor;
  let person: TestPerson;
  let profile: Json;
  const asked = [f('name'), f('emails.personal', 'account'), f('addresses.home', 'delivery'), f('phones', 'support', false)];
  const ask = () => subscribed(vendor, person, 1, asked, 'pending');

  beforeAll(async () => {
    vendor = await server.vendor('Asking Shop');
    ({ person, profile } = await personWith());
  });

  it('lists the requests waiting for a decision, filtered by status, newest first', async () => {
    const a = await ask();
    const b = await ask();
    const c = await ask();
    expect((await decide(person, c.id, 'reject')).statusCode).toBe(200);
    const response = await asPerson(person, { method: 'GET', url: '/v1/me/subscriptions?status=pending' });
    expect(response.statusCode).toBe(200);
    const items = response.json<{ items: Subscription[] }>().items;
    expect(items.every((s) => s.status === 'pending')).toBe(true);
    const ids = items.map((s) => s.id);
    expect(ids).toEqual(expect.arrayContaining([a.id, b.id]));
    expect(ids).not.toContain(c.id);
    expect(ids.indexOf(b.id)).toBeLessThan(ids.indexOf(a.id));
    const rejected = (await asPerson(person, { method: 'GET', url: '/v1/me/subscriptions?status=rejected' })).json<{ items: Subscription[] }>();
    expect(rejected.items.map((s) => s.id)).toEqual([c.id]);
  });

  it('pages through the list by cursor: every subscription once, newest first', async () => {
    await ask();
    await ask();
    const all = (await asPerson(person, { method: 'GET', url: '/v1/me/subscriptions?limit=100' })).json<{ items: Subscription[] }>().items.map((s) => s.id);
    expect(all.length).toBeGreaterThanOrEqual(2);
    const walked: string[] = [];
    let url: string | undefined = '/v1/me/subscriptions?limit=1';
    while (url) {
      const response = await asPerson(person, { method: 'GET', url });
      expect(response.statusCode, response.body).toBe(200);
      const body = response.json<{ items: Subscription[]; next: string | null }>();
      walked.push(...body.items.map((s) => s.id));
      url = body.next ? `/v1/me/subscriptions?limit=1&cursor=${body.next}` : undefined;
    }
    expect(walked).toEqual(all);
  });

  it('shows a request: what is asked, how the terms decided and why', async () => {
    const pending = await ask();
    const seen = await personView(person, pending.id);
    expect(seen.request.fields).toEqual(asked);
    expect(seen.request.accepts).toEqual({ termsVersion: 1, duties: DUTIES });
    expect(seen.vendor).toMatchObject({ id: vendor.id, name: 'Asking Shop' });
    expect(seen.decision.fields.map((d) => [d.path, d.decision, d.rule])).toEqual(asked.map((a) => [a.path, 'ask', 'ask-everything']));
    expect(seen.decision.explanation.length).toBeGreaterThan(0);
    expect(seen.statusReason).toEqual(expect.any(String));
  });

  it('approves everything asked for', async () => {
    const pending = await ask();
    const response = await decide(person, pending.id, 'approve');
    expect(response.statusCode, response.body).toBe(200);
    const approved = response.json<Subscription>();
    expect(approved.status).toBe('active');
    expect(approved.grant.fields).toEqual(['name', 'emails.personal', 'addresses.home', 'phones']);
    expect(approved.decidedAt).not.toBeNull();
    const expected = pick(profile, approved.grant.fields);
    const read = await readProfile(vendor, pending.id, expected);
    expect(read.statusCode, read.body).toBe(200);
    expect(read.json()).toStrictEqual(expected);
  });

  it('approves narrowed to some fields: the grant holds those only', async () => {
    const pending = await ask();
    const approved = (await decide(person, pending.id, 'approve', { fields: ['name', 'addresses.home'] })).json<Subscription>();
    expect(approved.status).toBe('active');
    expect(approved.grant.fields).toEqual(['name', 'addresses.home']);
    expect((await vendorView(vendor, pending.id)).grant.fields).toEqual(['name', 'addresses.home']);
    const expected = pick(profile, ['name', 'addresses.home']);
    expect((await readProfile(vendor, pending.id, expected)).json()).toStrictEqual(expected);
  });

  it('approves narrowed to some purposes: the grant holds the fields asked for those purposes only', async () => {
    const pending = await ask();
    const approved = (await decide(person, pending.id, 'approve', { purposes: ['fulfillment', 'delivery'] })).json<Subscription>();
    expect(approved.grant.fields).toEqual(['name', 'addresses.home']);
    const expected = pick(profile, ['name', 'addresses.home']);
    expect((await readProfile(vendor, pending.id, expected)).json()).toStrictEqual(expected);
  });

  it('never widens by narrowing: a path not asked for is refused (400) and nothing changes', async () => {
    const pending = await ask();
    const before = await personView(person, pending.id);
    for (const body of [{ fields: ['birthDate'] }, { fields: ['name', 'custom'] }, { fields: ['addresses'] }]) {
      const refused = await decide(person, pending.id, 'approve', body);
      expectProblem(refused, 400, '/fields/' + String(body.fields.length - 1));
    }
    expect(await personView(person, pending.id)).toEqual(before);
    expectInactive(await readProfile(vendor, pending.id, {}), 'pending');
  });

  it('rejects a request with a reason the vendor sees; nothing can be read', async () => {
    const pending = await ask();
    const rejected = (await decide(person, pending.id, 'reject', { reason: 'Not today.' })).json<Subscription>();
    expect(rejected).toMatchObject({ status: 'rejected', statusReason: 'Not today.' });
    expect((await vendorView(vendor, pending.id)).status).toBe('rejected');
    expectInactive(await readProfile(vendor, pending.id, {}), 'rejected');
  });

  it('revokes an active grant and withdraws from a pending request', async () => {
    const active = await ask();
    await decide(person, active.id, 'approve');
    const revoked = (await decide(person, active.id, 'revoke', { reason: 'I no longer shop there.' })).json<Subscription>();
    expect(revoked).toMatchObject({ status: 'revoked', statusReason: 'I no longer shop there.' });
    expect(revoked.grant.fields).toEqual([]);
    expect(revoked.endedAt).not.toBeNull();
    const pending = await ask();
    expect((await decide(person, pending.id, 'revoke')).json<Subscription>().status).toBe('revoked');
  });

  it('refuses a decision the state does not allow: 409 invalid-state', async () => {
    const active = await ask();
    await decide(person, active.id, 'approve');
    expectType(await decide(person, active.id, 'approve'), 409, 'invalid-state');
    expectType(await decide(person, active.id, 'reject'), 409, 'invalid-state');
    await decide(person, active.id, 'revoke');
    expectType(await decide(person, active.id, 'reject'), 409, 'invalid-state');
    expectType(await decide(person, active.id, 'revoke'), 409, 'invalid-state');
    expectType(await decide(person, active.id, 'approve'), 409, 'invalid-state');
    expect((await personView(person, active.id)).status).toBe('revoked');
  });
});

describe('GET /v1/subscriptions/{id}/profile: the vendor reads the grant, nothing else', () => {
  let vendor: TestVendor;
  beforeAll(async () => {
    vendor = await server.vendor('Reading Shop');
  });

  it('returns exactly the granted fields, as JSON and as XML', async () => {
    const { person, profile, version } = await personWith(fulfilmentTerms());
    const subscription = await subscribed(vendor, person, version, [f('name'), f('addresses.home'), f('emails.work', 'support')], 'active');
    const expected = pick(profile, ['name', 'addresses.home', 'emails.work']);
    expect(expected).toEqual({ name: profile.name, addresses: { home: (profile.addresses as Json).home }, emails: { work: (profile.emails as Json).work } });

    const json = await readProfile(vendor, subscription.id, expected);
    expect(json.statusCode, json.body).toBe(200);
    expect(json.headers['content-type']).toMatch(/^application\/json/);
    expect(json.headers['cache-control']).toBe('private, no-store');
    expect(json.json()).toStrictEqual(expected);
    for (const value of leaves(pick(profile, ['emails.personal', 'addresses.work', 'phones', 'birthDate', 'preferences', 'custom']))) {
      expect(json.body).not.toContain(value);
    }

    const xml = await readProfile(vendor, subscription.id, expected, { accept: 'application/xml' });
    expect(xml.statusCode, xml.body).toBe(200);
    expect(xml.headers['content-type']).toMatch(/^application\/xml/);
    expect(profileFromXml(xml.body)).toStrictEqual(expected);
    for (const value of leaves(pick(profile, ['emails.personal', 'addresses.work', 'phones', 'birthDate', 'preferences', 'custom']))) {
      expect(xml.body).not.toContain(value);
    }
  });

  it('follows the profile as it changes, still within the grant', async () => {
    const { person, version } = await personWith(fulfilmentTerms());
    const subscription = await subscribed(vendor, person, version, [f('name')], 'active');
    const changed = richProfile();
    await putProfile(person, changed);
    const expected = pick(changed, ['name']);
    expect((await readProfile(vendor, subscription.id, expected)).json()).toStrictEqual(expected);
  });

  it('refuses reads under a pending, rejected, revoked or ended subscription: 403 grant-inactive', async () => {
    const { person, profile, version } = await personWith(fulfilmentTerms());
    const pending = await subscribed(vendor, person, version, [f('phones')], 'pending');
    expectInactive(await readProfile(vendor, pending.id, {}), 'pending');
    const rejected = await subscribed(vendor, person, version, [f('birthDate')], 'rejected');
    expectInactive(await readProfile(vendor, rejected.id, {}), 'rejected');

    const active = await subscribed(vendor, person, version, [f('name')], 'active');
    expect((await readProfile(vendor, active.id, pick(profile, ['name']))).statusCode).toBe(200);
    expect((await decide(person, active.id, 'revoke')).statusCode).toBe(200);
    expectInactive(await readProfile(vendor, active.id, {}), 'revoked');

    const ended = await subscribed(vendor, person, version, [f('name')], 'active');
    const end = await asVendor(vendor, { method: 'DELETE', url: `/v1/subscriptions/${ended.id}` });
    expect(end.statusCode, end.body).toBe(200);
    expect(end.json<Subscription>()).toMatchObject({ status: 'ended', grant: { fields: [] } });
    expect(end.json<Subscription>().endedAt).not.toBeNull();
    expectInactive(await readProfile(vendor, ended.id, {}), 'ended');
    expect((await personView(person, ended.id)).status).toBe('ended');
    expectType(await asVendor(vendor, { method: 'DELETE', url: `/v1/subscriptions/${ended.id}` }), 409, 'invalid-state');
    // The person cannot revive what the vendor ended.
    expectType(await decide(person, ended.id, 'revoke'), 409, 'invalid-state');
  });

  it('honours a revocation on the very next read', async () => {
    const { person, profile, version } = await personWith(fulfilmentTerms());
    const subscription = await subscribed(vendor, person, version, [f('name'), f('emails')], 'active');
    const expected = pick(profile, ['name', 'emails']);
    expect((await readProfile(vendor, subscription.id, expected)).json()).toStrictEqual(expected);
    await decide(person, subscription.id, 'revoke');
    expectInactive(await readProfile(vendor, subscription.id, {}), 'revoked');
  });

  it('narrows at once when the person narrows their terms, and the grant shrinks', async () => {
    const { person, profile, version } = await personWith(fulfilmentTerms());
    const subscription = await subscribed(vendor, person, version, [f('name'), f('emails', 'fulfillment', false), f('addresses.home')], 'active');
    const before = pick(profile, ['name', 'emails', 'addresses.home']);
    expect((await readProfile(vendor, subscription.id, before)).json()).toStrictEqual(before);

    // The e-mail addresses (optional in the request) are no longer shared.
    const narrower = fulfilmentTerms();
    narrower.rules[0] = { ...narrower.rules[0]!, fields: ['name', 'addresses.*'] };
    const v3 = await putTerms(person, narrower);
    const after = pick(profile, ['name', 'addresses.home']);
    const read = await readProfile(vendor, subscription.id, after);
    expect(read.statusCode).toBe(200);
    expect(read.json()).toStrictEqual(after);
    expect(read.json()).not.toHaveProperty('emails');
    const seen = await vendorView(vendor, subscription.id);
    expect(seen).toMatchObject({ status: 'active', grant: { fields: ['name', 'addresses.home'], termsVersion: v3 } });
    expect(seen.decision.termsVersion).toBe(v3);

    // Terms that deny a required field reject the request as a whole, as they would at request time: revoked, and said so.
    narrower.rules[0] = { ...narrower.rules[0]!, fields: ['name'] };
    await putTerms(person, narrower);
    expect(await vendorView(vendor, subscription.id)).toMatchObject({
      status: 'revoked',
      statusReason: 'The person changed their terms; a field this subscription requires is no longer granted.',
    });
    expectInactive(await readProfile(vendor, subscription.id, {}), 'revoked');
  });

  it('never widens a grant when the terms widen: the vendor must ask again', async () => {
    const narrow = { rules: [{ id: 'name-only', effect: 'permit', fields: ['name'], purposes: ['fulfillment'] }] };
    const { person, profile, version } = await personWith(narrow);
    const subscription = await subscribed(vendor, person, version, [f('name'), f('emails', 'fulfillment', false)], 'active');
    expect(subscription.grant.fields).toEqual(['name']);
    await putTerms(person, fulfilmentTerms());
    const seen = await vendorView(vendor, subscription.id);
    expect(seen.grant.fields).toEqual(['name']);
    const expected = pick(profile, ['name']);
    expect((await readProfile(vendor, subscription.id, expected)).json()).toStrictEqual(expected);
    // Asking again gets the wider grant.
    const again = await subscribed(vendor, person, version + 1, [f('name'), f('emails', 'fulfillment', false)], 'active');
    expect(again.grant.fields).toEqual(['name', 'emails']);
  });

  it('ends a grant at its expiry: 403 and the subscription reads expired', async () => {
    const { person, profile, version } = await personWith(fulfilmentTerms({ grantExpiryDays: 1 }));
    const before = Date.now();
    const subscription = await subscribed(vendor, person, version, [f('name')], 'active');
    const after = Date.now();
    expect(subscription.grant.duties).toMatchObject({ grantExpiryDays: 1 });
    const expiresAt = Date.parse(subscription.grant.expiresAt ?? '');
    expect(expiresAt).toBeGreaterThanOrEqual(before + 86_400_000 - 1000);
    expect(expiresAt).toBeLessThanOrEqual(after + 86_400_000 + 1000);
    const expected = pick(profile, ['name']);
    expect((await readProfile(vendor, subscription.id, expected)).statusCode).toBe(200);

    await server.ctx.db.updateTable('subscriptions').set({ expires_at: new Date(Date.now() - 60_000) }).where('id', '=', subscription.id).execute();
    expect((await vendorView(vendor, subscription.id)).status).toBe('expired');
    expectInactive(await readProfile(vendor, subscription.id, {}), 'expired');
    const seen = await personView(person, subscription.id);
    expect(seen.status).toBe('expired');
    expect(seen.grant.fields).toEqual([]);
    expectInactive(await readProfile(vendor, subscription.id, {}), 'expired');
    expectType(await decide(person, subscription.id, 'revoke'), 409, 'invalid-state');
  });

  it('approval starts the expiry clock of an ask rule too', async () => {
    const { person, version } = await personWith({ rules: [{ id: 'ask-short', effect: 'permit', fields: ['name'], approval: 'ask', duties: { grantExpiryDays: 2 } }] });
    const pending = await subscribed(vendor, person, version, [f('name')], 'pending');
    expect(pending.grant.expiresAt).toBeNull();
    const approved = (await decide(person, pending.id, 'approve')).json<Subscription>();
    expect(Date.parse(approved.grant.expiresAt ?? '') - Date.now()).toBeGreaterThan(86_400_000);
  });

  it('limits reads per day: the third of two is 429 read-limit, and is not logged', async () => {
    const { person, profile, version } = await personWith(fulfilmentTerms({ maxReadsPerDay: 2 }));
    const subscription = await subscribed(vendor, person, version, [f('name')], 'active');
    const expected = pick(profile, ['name']);
    expect((await readProfile(vendor, subscription.id, expected)).statusCode).toBe(200);
    expect((await readProfile(vendor, subscription.id, expected)).statusCode).toBe(200);
    const third = await readProfile(vendor, subscription.id, {});
    expectType(third, 429, 'read-limit');
    expect(Number(third.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(third.headers['retry-after'])).toBeLessThanOrEqual(86_400);
    expect(await accessLog(person)).toHaveLength(2);
  });
});

describe('GET /v1/me/access-log', () => {
  let person: TestPerson;
  let shopA: TestVendor;
  let shopB: TestVendor;
  let subA: Subscription;
  let subB: Subscription;
  let profile: Json;

  beforeAll(async () => {
    shopA = await server.vendor('Shop A');
    shopB = await server.vendor('Shop B');
    let version: number;
    ({ person, profile, version } = await personWith(fulfilmentTerms()));
    subA = await subscribed(shopA, person, version, [f('name'), f('emails')], 'active');
    subB = await subscribed(shopB, person, version, [f('addresses.home')], 'active');
    // A, B, A, B, A: five reads in a known order.
    for (const [shop, sub, paths] of [
      [shopA, subA, ['name', 'emails']],
      [shopB, subB, ['addresses.home']],
      [shopA, subA, ['name', 'emails']],
      [shopB, subB, ['addresses.home']],
      [shopA, subA, ['name', 'emails']],
    ] as const) {
      const read = await readProfile(shop, sub.id, pick(profile, [...paths]));
      expect(read.statusCode).toBe(200);
    }
  });

  it('records every read, newest first: who, under which subscription, which fields, when, from where', async () => {
    const items = await accessLog(person);
    expect(items.map((e) => e.subscription)).toEqual([subA.id, subB.id, subA.id, subB.id, subA.id]);
    expect(items.map((e) => e.vendor)).toEqual([
      { id: shopA.id, name: 'Shop A' },
      { id: shopB.id, name: 'Shop B' },
      { id: shopA.id, name: 'Shop A' },
      { id: shopB.id, name: 'Shop B' },
      { id: shopA.id, name: 'Shop A' },
    ]);
    expect(items[0]).toMatchObject({ what: 'profile', fields: ['name', 'emails'], address: ADDRESS });
    expect(items[1]).toMatchObject({ what: 'profile', fields: ['addresses.home'], address: ADDRESS });
    const ids = items.map((e) => BigInt(e.id));
    expect([...ids].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0))).toEqual(ids);
    const times = items.map((e) => Date.parse(e.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    for (const entry of items) expect(Number.isNaN(Date.parse(entry.at))).toBe(false);
  });

  it('pages, and filters by vendor and by subscription', async () => {
    const all = await accessLog(person);
    const paged: LogEntry[] = [];
    let url: string | undefined = '/v1/me/access-log?limit=2';
    let pages = 0;
    while (url) {
      const page = await asPerson(person, { method: 'GET', url });
      expect(page.statusCode, page.body).toBe(200);
      const body = page.json<{ items: LogEntry[]; next: string | null }>();
      paged.push(...body.items);
      pages++;
      url = body.next ? `/v1/me/access-log?limit=2&cursor=${body.next}` : undefined;
    }
    expect(pages).toBe(3);
    expect(paged).toEqual(all);

    const byVendor = await accessLog(person, `?vendor=${shopB.id}`);
    expect(byVendor).toEqual(all.filter((e) => e.vendor.id === shopB.id));
    expect(byVendor).toHaveLength(2);
    const bySubscription = await accessLog(person, `?subscription=${subA.id}`);
    expect(bySubscription).toEqual(all.filter((e) => e.subscription === subA.id));
    expect(bySubscription).toHaveLength(3);
    expect(await accessLog(person, `?vendor=${randomUUID()}`)).toEqual([]);
    expectProblem(await asPerson(person, { method: 'GET', url: '/v1/me/access-log?cursor=not-ours' }), 400);
  });

  it('does not log refused reads as reads', async () => {
    const count = (await accessLog(person)).length;
    const { version } = { version: (await personView(person, subA.id)).grant.termsVersion };
    const pending = await subscribed(shopA, person, version, [f('phones')], 'pending');
    expectInactive(await readProfile(shopA, pending.id, {}), 'pending');
    expectProblem(await readProfile(shopB, subA.id, {}), 404);
    expect(await accessLog(person)).toHaveLength(count);
  });

  it('is the person’s own: another person never sees these entries', async () => {
    const other = await server.person();
    expect(await accessLog(other)).toEqual([]);
    expect(await accessLog(other, `?subscription=${subA.id}`)).toEqual([]);
    expect(await accessLog(other, `?vendor=${shopA.id}`)).toEqual([]);
    // A vendor cannot read it either.
    expect((await asVendor(shopA, { method: 'GET', url: '/v1/me/access-log' })).statusCode).toBe(403);
  });
});

describe('wrong principals learn nothing', () => {
  let owner: TestVendor;
  let stranger: TestVendor;
  let person: TestPerson;
  let otherPerson: TestPerson;
  let active: Subscription;
  let pending: Subscription;
  let profile: Json;

  beforeAll(async () => {
    owner = await server.vendor('Owner Shop');
    stranger = await server.vendor('Stranger Shop');
    let version: number;
    ({ person, profile, version } = await personWith(fulfilmentTerms()));
    otherPerson = await server.person();
    active = await subscribed(owner, person, version, [f('name')], 'active');
    pending = await subscribed(owner, person, version, [f('phones')], 'pending');
  });

  /** A 404 exactly like the one for an id that does not exist. */
  async function expectSameAsUnknown(response: LightMyRequestResponse, unknown: LightMyRequestResponse) {
    expectProblem(response, 404);
    expect(unknown.statusCode).toBe(404);
    expect(response.json()).toEqual(unknown.json());
  }

  it("another vendor gets 404 on this vendor's subscription (get, delete, profile), as for an unknown id", async () => {
    const ghost = randomUUID();
    for (const [method, suffix] of [['GET', ''], ['DELETE', ''], ['GET', '/profile']] as const) {
      const theirs = await asVendor(stranger, { method, url: `/v1/subscriptions/${active.id}${suffix}` });
      const unknown = await asVendor(stranger, { method, url: `/v1/subscriptions/${ghost}${suffix}` });
      await expectSameAsUnknown(theirs, unknown);
    }
    const list = await asVendor(stranger, { method: 'GET', url: '/v1/subscriptions' });
    expect(list.json<{ items: Subscription[] }>().items.map((s) => s.id)).not.toContain(active.id);
    // Nothing changed for the owner.
    expect((await vendorView(owner, active.id)).status).toBe('active');
    const expected = pick(profile, ['name']);
    expect((await readProfile(owner, active.id, expected)).json()).toStrictEqual(expected);
  });

  it("another person gets 404 on this person's subscription (get, approve, reject, revoke)", async () => {
    const ghost = randomUUID();
    for (const target of [active, pending]) {
      const theirs = await asPerson(otherPerson, { method: 'GET', url: `/v1/me/subscriptions/${target.id}` });
      await expectSameAsUnknown(theirs, await asPerson(otherPerson, { method: 'GET', url: `/v1/me/subscriptions/${ghost}` }));
      for (const action of ['approve', 'reject', 'revoke'] as const) {
        await expectSameAsUnknown(await decide(otherPerson, target.id, action), await decide(otherPerson, ghost, action));
      }
    }
    const list = await asPerson(otherPerson, { method: 'GET', url: '/v1/me/subscriptions' });
    expect(list.json<{ items: Subscription[] }>().items).toEqual([]);
    expect((await personView(person, active.id)).status).toBe('active');
    expect((await personView(person, pending.id)).status).toBe('pending');
  });

  it('a person token on vendor endpoints and a vendor token on person endpoints: 403 (sanity check)', async () => {
    expectProblem(await asPerson(person, { method: 'POST', url: '/v1/subscriptions', payload: requestBody(person, 2, [f('name')]) }), 403);
    expectProblem(await asPerson(person, { method: 'GET', url: `/v1/subscriptions/${active.id}/profile` }), 403);
    expectProblem(await asVendor(owner, { method: 'GET', url: '/v1/me/subscriptions' }), 403);
    expectProblem(await asVendor(owner, { method: 'POST', url: `/v1/me/subscriptions/${pending.id}/approve` }), 403);
    expect((await personView(person, pending.id)).status).toBe('pending');
  });
});

describe('concurrency', () => {
  let vendor: TestVendor;
  beforeAll(async () => {
    vendor = await server.vendor('Racing Shop');
  });

  it('approve racing revoke: revoke always holds in the end, approve only if it came first (20 rounds)', async () => {
    const { person } = await personWith();
    for (let round = 0; round < 20; round++) {
      const pending = await subscribed(vendor, person, 1, [f('name')], 'pending');
      const [approve, revoke] = await Promise.all([decide(person, pending.id, 'approve'), decide(person, pending.id, 'revoke')]);
      // Revocation is allowed from pending and from active, so it always succeeds; approval only if it ran first.
      expect(revoke.statusCode, revoke.body).toBe(200);
      if (approve.statusCode !== 200) expectType(approve, 409, 'invalid-state');
      const final = await personView(person, pending.id);
      expect(final).toMatchObject({ status: 'revoked', grant: { fields: [] } });
      expectInactive(await readProfile(vendor, pending.id, {}), 'revoked');
    }
  });

  it('approve racing reject: exactly one wins each time, and the final state is the winner’s (20 rounds)', async () => {
    const { person, profile } = await personWith();
    for (let round = 0; round < 20; round++) {
      const pending = await subscribed(vendor, person, 1, [f('name')], 'pending');
      const [approve, reject] = await Promise.all([decide(person, pending.id, 'approve'), decide(person, pending.id, 'reject')]);
      const winners = [approve, reject].filter((r) => r.statusCode === 200);
      expect(winners, `${approve.statusCode} ${reject.statusCode}`).toHaveLength(1);
      const loser = approve.statusCode === 200 ? reject : approve;
      expectType(loser, 409, 'invalid-state');
      const final = await personView(person, pending.id);
      if (approve.statusCode === 200) {
        expect(final).toMatchObject({ status: 'active', grant: { fields: ['name'] } });
        const expected = pick(profile, ['name']);
        expect((await readProfile(vendor, pending.id, expected)).json()).toStrictEqual(expected);
      } else {
        expect(final).toMatchObject({ status: 'rejected', grant: { fields: [] } });
        expectInactive(await readProfile(vendor, pending.id, {}), 'rejected');
      }
    }
  });

  it('reads racing a revocation: once the revocation has answered, every later read is refused', async () => {
    const { person, profile, version } = await personWith(fulfilmentTerms());
    const expected = pick(profile, ['name', 'emails']);
    for (let round = 0; round < 5; round++) {
      const subscription = await subscribed(vendor, person, version, [f('name'), f('emails')], 'active');
      let revoked = false;
      const worker = async () => {
        let after = 0;
        for (let i = 0; i < 200 && after < 5; i++) {
          await turn();
          const startedAfterRevoke = revoked;
          const read = await readProfile(vendor, subscription.id, expected);
          if (startedAfterRevoke) {
            after++;
            expectInactive(read, 'revoked');
          } else if (read.statusCode === 200) {
            expect(read.json()).toStrictEqual(expected);
          } else {
            expectInactive(read, 'revoked');
          }
        }
        expect(after).toBe(5);
      };
      const revoke = decide(person, subscription.id, 'revoke').then((response) => {
        expect(response.statusCode).toBe(200);
        revoked = true;
      });
      await Promise.all([worker(), worker(), worker(), revoke]);
    }
  });

  it('a terms change during reads: no read that began after the change answered returns a removed field', async () => {
    const { person, profile, version } = await personWith(fulfilmentTerms());
    const full = pick(profile, ['name', 'emails']);
    const narrowed = pick(profile, ['name']);
    const subscription = await subscribed(vendor, person, version, [f('name'), f('emails', 'fulfillment', false)], 'active');
    const terms = fulfilmentTerms();
    terms.rules[0] = { ...terms.rules[0]!, fields: ['name', 'addresses.*'] };
    let changed = false;
    const worker = async () => {
      let after = 0;
      for (let i = 0; i < 200 && after < 5; i++) {
        await turn();
        const startedAfterChange = changed;
        // Before the change either answer is possible; after it, only the narrowed one.
        const read = await readProfile(vendor, subscription.id, startedAfterChange ? narrowed : full);
        expect(read.statusCode, read.body).toBe(200);
        if (startedAfterChange) {
          after++;
          expect(read.json()).toStrictEqual(narrowed);
        } else {
          expect([full, narrowed]).toContainEqual(read.json());
        }
      }
      expect(after).toBe(5);
    };
    const change = putTerms(person, terms).then(() => {
      changed = true;
    });
    await Promise.all([worker(), worker(), worker(), change]);
    expect((await vendorView(vendor, subscription.id)).grant.fields).toEqual(['name']);
  });
});

describe('no vendor-side response carries a profile value outside the grant', () => {
  it('walks every response a vendor got in this file', () => {
    expect(vendorResponses.length).toBeGreaterThan(100);
    const everything = new Set(profiles.flatMap((p) => leaves(p)));
    for (const { label, body, allowed } of vendorResponses) {
      const granted = new Set(leaves(allowed));
      for (const value of everything) {
        if (granted.has(value)) continue;
        // XML escapes nothing in these values (no &, <, > or quotes), so one check covers both forms.
        expect(body.includes(value), `${label} leaks ${value}`).toBe(false);
      }
    }
  });
});
