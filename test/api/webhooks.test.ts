import { randomBytes } from 'node:crypto';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../helpers/problems.js';
import { startTestServer, type TestPerson, type TestServer, type TestVendor } from '../helpers/server.js';
import { startReceiver, verifySignature, type Delivery, type Receiver } from '../helpers/webhook-receiver.js';

/**
 * Webhooks end to end: a real dispatcher delivers to a real receiver on 127.0.0.1 (allowed by
 * PROFFER_WEBHOOK_ALLOW_HTTP_LOOPBACK), with short retry delays so that "down for a while" takes
 * a fraction of a second. Nothing is mocked: registrations, changes and acknowledgements go
 * through HTTP, deliveries through sockets.
 */

const FAST = {
  PROFFER_WEBHOOK_ALLOW_HTTP_LOOPBACK: 'true',
  PROFFER_WEBHOOK_POLL_MS: '50',
  PROFFER_WEBHOOK_RETRY_BASE_MS: '40',
  PROFFER_WEBHOOK_RETRY_CAP_MS: '200',
  PROFFER_WEBHOOK_TIMEOUT_MS: '800',
};
const P = 'https://proffer.dev/problems/';

let server: TestServer;
const receivers: Receiver[] = [];
beforeAll(async () => {
  server = await startTestServer({ worker: true, env: FAST });
});
afterAll(async () => {
  await server?.close();
});
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
});

async function newReceiver(): Promise<Receiver> {
  const r = await startReceiver();
  receivers.push(r);
  return r;
}

type Json = Record<string, unknown>;
const validateMessage = () => server.ctx.contract.createAjv().getSchema('https://proffer.dev/schemas/webhook.json#/$defs/message');

const as = (who: { auth: { authorization: string } } | undefined, options: InjectOptions) =>
  server.request({ ...options, headers: { ...(who?.auth ?? {}), ...(options.headers ?? {}) } });

const TERMS = {
  title: 'Shops may deliver',
  rules: [
    { id: 'contact', effect: 'permit', fields: ['name', 'emails', 'addresses.*'], purposes: ['fulfillment'], duties: { deleteOnRevoke: true } },
    { id: 'bikes', effect: 'permit', needs: { categories: ['sports/*'] }, purposes: ['offers'] },
    { id: 'phones-ask', effect: 'permit', fields: ['phones'], purposes: ['fulfillment'], approval: 'ask' },
  ],
};
const field = (path: string, required = true) => ({ path, purpose: 'fulfillment', required, retentionDays: 30 });

async function personWithTerms(terms: unknown = TERMS): Promise<{ person: TestPerson; version: number }> {
  const person = await server.person();
  const response = await as(person, { method: 'PUT', url: '/v1/me/terms', payload: terms as object });
  expect(response.statusCode, response.body).toBe(200);
  return { person, version: response.json().version };
}

async function subscribe(vendor: TestVendor, person: TestPerson, version: number, fields = [field('name'), field('emails.personal')], status = 'active'): Promise<string> {
  const response = await as(vendor, {
    method: 'POST',
    url: '/v1/subscriptions',
    payload: {
      person: person.handle,
      fields,
      needs: { categories: ['sports/cycling'], purpose: 'offers', retentionDays: 30, required: false },
      accepts: { termsVersion: version, duties: { deleteOnRevoke: true } },
    },
  });
  expect(response.statusCode, response.body).toBe(201);
  expect(response.json().status).toBe(status);
  return response.json().id;
}

const putWebhook = (vendor: TestVendor | undefined, id: string, body: Json) => as(vendor, { method: 'PUT', url: `/v1/subscriptions/${id}/webhook`, payload: body });
const getWebhook = (vendor: TestVendor | undefined, id: string) => as(vendor, { method: 'GET', url: `/v1/subscriptions/${id}/webhook` });

async function register(vendor: TestVendor, id: string, url: string): Promise<string> {
  const response = await putWebhook(vendor, id, { url });
  expect(response.statusCode, response.body).toBe(201);
  return response.json().secret;
}

/** A person with terms, a vendor with an active grant (name, emails.personal, needs in sports/cycling) and a webhook. */
async function pushed(r: Receiver, path = `/h/${randomBytes(4).toString('hex')}`) {
  const { person, version } = await personWithTerms();
  const vendor = await server.vendor('Velo Lyon');
  const id = await subscribe(vendor, person, version);
  const secret = await register(vendor, id, r.url(path));
  const mine = (d: Delivery[]) => d.filter((x) => x.path === path);
  return { person, vendor, id, secret, path, mine, version };
}

const patchProfile = async (person: TestPerson, patch: Json) => {
  const response = await as(person, { method: 'PATCH', url: '/v1/me/profile', headers: { 'content-type': 'application/merge-patch+json' }, payload: JSON.stringify(patch) });
  expect(response.statusCode, response.body).toBe(200);
  return Number(response.headers['profile-version']);
};

const revoke = async (person: TestPerson, id: string) => {
  const response = await as(person, { method: 'POST', url: `/v1/me/subscriptions/${id}/revoke` });
  expect(response.statusCode, response.body).toBe(200);
};

async function accessLog(person: TestPerson): Promise<{ what: string; fields: string[]; subscription: string; address: string }[]> {
  const response = await as(person, { method: 'GET', url: '/v1/me/access-log' });
  expect(response.statusCode, response.body).toBe(200);
  return response.json().items;
}

async function until<T>(probe: () => Promise<T | undefined | false>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const ok = (d: Delivery[]) => d.filter((x) => typeof x.answer === 'number' && x.answer >= 200 && x.answer < 300);
const types = (d: Delivery[]) => d.map((x) => x.message.type);

function expectType(response: LightMyRequestResponse, status: number, type: string): Json {
  const problem = expectProblem(response, status);
  expect(problem.type).toBe(`${P}${type}`);
  return problem as unknown as Json;
}

// ---------------------------------------------------------------------------------------------

describe('registering a webhook', () => {
  it('generates a secret shown once, keeps it when the URL changes, and uses a given one', async () => {
    const r = await newReceiver();
    const { person, version } = await personWithTerms();
    const vendor = await server.vendor();
    const id = await subscribe(vendor, person, version);

    const created = await putWebhook(vendor, id, { url: r.url('/first') });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.headers.location).toBe(`http://proffer.test/v1/subscriptions/${id}/webhook`);
    expect(created.headers['cache-control']).toBe('no-store');
    const secret: string = created.json().secret;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    expect(created.json()).toMatchObject({ subscription: id, url: r.url('/first'), delivery: { pending: 0, attempts: 0, lastError: null } });

    const shown = await getWebhook(vendor, id);
    expect(shown.statusCode).toBe(200);
    expect(shown.json().secret).toBeUndefined();
    expect(shown.body).not.toContain(secret.slice(6));

    // Replaced without a secret: the URL changes, the secret stays (deliveries verify with it).
    const replaced = await putWebhook(vendor, id, { url: r.url('/second') });
    expect(replaced.statusCode, replaced.body).toBe(200);
    expect(replaced.json().secret).toBeUndefined();
    await patchProfile(person, { name: { given: 'Ada' } });
    await r.waitFor((d) => ok(d).length === 1);
    expect(r.deliveries[0]?.path).toBe('/second');
    expect(verifySignature(secret, r.deliveries[0] as Delivery)).toMatchObject({ type: 'profile.updated' });

    // A secret of the vendor's own.
    const own = `whsec_${randomBytes(48).toString('base64')}`;
    expect((await putWebhook(vendor, id, { url: r.url('/third'), secret: own })).statusCode).toBe(200);
    await patchProfile(person, { name: { given: 'Ada', family: 'Lovelace' } });
    await r.waitFor((d) => ok(d).length === 2);
    const second = r.deliveries[1] as Delivery;
    expect(second.path).toBe('/third');
    expect(verifySignature(own, second)).toMatchObject({ type: 'profile.updated' });
    expect(() => verifySignature(secret, second)).toThrow();
  });

  it('refuses bad input with a problem, and changes nothing', async () => {
    const { person, version } = await personWithTerms();
    const vendor = await server.vendor();
    const id = await subscribe(vendor, person, version);
    const url = 'https://93.184.216.34/hook';
    const tooLong = `whsec_${randomBytes(65).toString('base64')}`;
    const tooShort = `whsec_${randomBytes(16).toString('base64')}`;
    expectProblem(await putWebhook(vendor, id, { url, secret: tooLong }), 400, '/secret');
    expectProblem(await putWebhook(vendor, id, { url, secret: tooShort }), 400, '/secret');
    expectProblem(await putWebhook(vendor, id, { url, secret: 'whsec_not base64 at all!!!!!!!!!!!!!!!!!' }), 400, '/secret');
    expectProblem(await putWebhook(vendor, id, { url, events: ['all'] }), 400);
    expectProblem(await putWebhook(vendor, id, {}), 400);
    expectType(await putWebhook(vendor, id, { url: 'not a url' }), 422, 'webhook-target-refused');
    expectType(await putWebhook(vendor, id, { url: 'ftp://93.184.216.34/hook' }), 422, 'webhook-target-refused');
    expectType(await putWebhook(vendor, id, { url: 'https://user:pw@93.184.216.34/hook' }), 422, 'webhook-target-refused');
    expectType(await getWebhook(vendor, id), 404, 'not-found');
    // Only live subscriptions: a revoked one has nothing more to deliver.
    await revoke(person, id);
    const refused = expectType(await putWebhook(vendor, id, { url }), 409, 'invalid-state');
    expect(refused.subscriptionStatus).toBe('revoked');
    expectType(await getWebhook(vendor, id), 404, 'not-found');
  });

  it('belongs to the subscription\'s vendor alone', async () => {
    const { person, version } = await personWithTerms();
    const vendor = await server.vendor();
    const other = await server.vendor('Other Shop');
    const id = await subscribe(vendor, person, version);
    const url = 'https://93.184.216.34/hook';
    expect((await putWebhook(vendor, id, { url })).statusCode).toBe(201);

    expectType(await putWebhook(other, id, { url: 'https://93.184.216.35/steal' }), 404, 'not-found');
    expectType(await getWebhook(other, id), 404, 'not-found');
    expectType(await as(other, { method: 'DELETE', url: `/v1/subscriptions/${id}/webhook` }), 404, 'not-found');
    expectType(await as(person, { method: 'GET', url: `/v1/subscriptions/${id}/webhook` }), 403, 'wrong-principal');
    expectType(await as(person, { method: 'PUT', url: `/v1/subscriptions/${id}/webhook`, payload: { url } }), 403, 'wrong-principal');
    expectType(await as(undefined, { method: 'GET', url: `/v1/subscriptions/${id}/webhook` }), 401, 'invalid-token');
    expectType(await as(undefined, { method: 'DELETE', url: `/v1/subscriptions/${id}/webhook` }), 401, 'invalid-token');
    // Untouched by any of that.
    expect((await getWebhook(vendor, id)).json().url).toBe(url);

    const deleted = await as(vendor, { method: 'DELETE', url: `/v1/subscriptions/${id}/webhook` });
    expect(deleted.statusCode).toBe(204);
    expectType(await getWebhook(vendor, id), 404, 'not-found');
    expectType(await as(vendor, { method: 'DELETE', url: `/v1/subscriptions/${id}/webhook` }), 404, 'not-found');
  });
});

describe('target checks', () => {
  let strict: TestServer;
  let vendor: TestVendor;
  let id: string;
  beforeAll(async () => {
    // The default configuration: no loopback, https only.
    strict = await startTestServer();
    const person = await strict.person();
    vendor = await strict.vendor();
    const subscription = await strict.request({
      method: 'POST',
      url: '/v1/subscriptions',
      headers: vendor.auth,
      payload: { person: person.handle, fields: [field('name')], accepts: { termsVersion: 1, duties: {} } },
    });
    expect(subscription.statusCode, subscription.body).toBe(201);
    id = subscription.json().id;
  });
  afterAll(() => strict?.close());

  const register = (url: string) => strict.request({ method: 'PUT', url: `/v1/subscriptions/${id}/webhook`, headers: vendor.auth, payload: { url } });

  it.each([
    ['http://93.184.216.34/hook', 'https-only'],
    ['https://10.0.0.1/hook', 'address'],
    ['https://172.16.5.4/hook', 'address'],
    ['https://192.168.1.1/hook', 'address'],
    ['https://127.0.0.1/hook', 'address'],
    ['https://127.1.2.3:8443/hook', 'address'],
    ['https://[::1]/hook', 'address'],
    ['https://169.254.169.254/latest/meta-data', 'address'],
    ['https://[fe80::1]/hook', 'address'],
    ['https://[fc00::1]/hook', 'address'],
    ['https://[fd12:3456::1]/hook', 'address'],
    ['https://224.0.0.1/hook', 'address'],
    ['https://[ff02::1]/hook', 'address'],
    ['https://0.0.0.0/hook', 'address'],
    ['https://[::]/hook', 'address'],
    ['https://[::ffff:10.0.0.1]/hook', 'address'],
    ['https://[::ffff:127.0.0.1]/hook', 'address'],
    ['https://[::ffff:169.254.169.254]/hook', 'address'],
    ['https://100.64.0.1/hook', 'address'],
    ['https://localhost/hook', 'address'],
    ['https://2130706433/hook', 'address'],
    ['https://0x7f.1/hook', 'address'],
    ['https://no-such-host.invalid/hook', 'unresolvable'],
  ])('refuses %s (%s) with 422 webhook-target-refused', async (url, reason) => {
    const problem = expectType(await register(url), 422, 'webhook-target-refused');
    expect(problem.reason).toBe(reason);
    expect((await strict.request({ method: 'GET', url: `/v1/subscriptions/${id}/webhook`, headers: vendor.auth })).statusCode).toBe(404);
  });

  it('accepts https to a public address, and plain http to loopback only when the setting allows it', async () => {
    expect((await register('https://93.184.216.34/hook')).statusCode).toBe(201);
    expect((await register('https://[2606:2800:220:1:248:1893:25c8:1946]/hook')).statusCode).toBe(200);
    // With PROFFER_WEBHOOK_ALLOW_HTTP_LOOPBACK (the main server of this file): loopback, and nothing else, over http.
    const { person, version } = await personWithTerms();
    const loopbackVendor = await server.vendor();
    const sub = await subscribe(loopbackVendor, person, version);
    expect((await putWebhook(loopbackVendor, sub, { url: 'http://127.0.0.1:9/hook' })).statusCode).toBe(201);
    expect((await putWebhook(loopbackVendor, sub, { url: 'http://[::1]:9/hook' })).statusCode).toBe(200);
    expect((await putWebhook(loopbackVendor, sub, { url: 'http://localhost:9/hook' })).statusCode).toBe(200);
    expect(expectType(await putWebhook(loopbackVendor, sub, { url: 'http://93.184.216.34/hook' }), 422, 'webhook-target-refused').reason).toBe('https-only');
    expect(expectType(await putWebhook(loopbackVendor, sub, { url: 'http://10.0.0.1/hook' }), 422, 'webhook-target-refused').reason).toBe('address');
    expect(expectType(await putWebhook(loopbackVendor, sub, { url: 'https://[::ffff:192.168.0.1]/hook' }), 422, 'webhook-target-refused').reason).toBe('address');
  });
});

// ---------------------------------------------------------------------------------------------

describe('delivery', () => {
  it('is signed per Standard Webhooks, redacted to the grant, in order; what the grant does not cover is not sent', async () => {
    const r = await newReceiver();
    const { person, secret, mine, id } = await pushed(r);
    await patchProfile(person, { name: { given: 'Ada' }, phones: { mobile: '+44 20 7946 0000' }, birthDate: '1815-12-10' });
    // Not granted at all: never sent (the next message arrives, and it is not this one).
    await patchProfile(person, { birthDate: '1815-12-11' });
    await patchProfile(person, { emails: { personal: 'ada@example.org', work: 'ada@work.example' } });
    const bike = await as(person, { method: 'POST', url: '/v1/me/needs', payload: { title: 'A road bike', category: 'sports/cycling' } });
    expect(bike.statusCode).toBe(201);
    const kettle = await as(person, { method: 'POST', url: '/v1/me/needs', payload: { title: 'A kettle', category: 'home/kitchen' } });
    expect(kettle.statusCode).toBe(201);
    expect((await as(person, { method: 'DELETE', url: `/v1/me/needs/${bike.json().id}` })).statusCode).toBe(204);
    expect((await as(person, { method: 'DELETE', url: `/v1/me/needs/${kettle.json().id}` })).statusCode).toBe(204);
    await patchProfile(person, { name: { given: 'Augusta Ada' } });

    await r.waitFor((d) => ok(mine(d)).length === 5);
    const got = mine(r.deliveries);
    expect(types(got)).toEqual(['profile.updated', 'profile.updated', 'need.created', 'need.deleted', 'profile.updated']);
    const validate = validateMessage();
    for (const delivery of got) {
      // The verifier of the standardwebhooks package accepts it with the secret, and only with it.
      expect(verifySignature(secret, delivery)).toEqual(delivery.message);
      expect(() => verifySignature(`whsec_${randomBytes(32).toString('base64')}`, delivery)).toThrow();
      expect(validate?.(delivery.message), JSON.stringify(validate?.errors)).toBe(true);
      expect(delivery.headers['webhook-id']).toMatch(/^msg_[0-9a-f]{32}$/);
      expect(delivery.headers['content-type']).toBe('application/json');
      expect(delivery.message.data.subscription).toBe(id);
      // Nothing outside the grant, anywhere in the body.
      expect(delivery.body).not.toMatch(/1815|\+44|work\.example|kettle|home\/kitchen/);
    }
    expect(new Set(got.map((d) => d.headers['webhook-id'])).size).toBe(5);
    const [first, second, created, deleted, last] = got.map((d) => d.message.data);
    expect(first).toMatchObject({ changed: ['name.given'], profile: { name: { given: 'Ada' } } });
    expect(second).toMatchObject({ changed: ['emails.personal'], profile: { name: { given: 'Ada' }, emails: { personal: 'ada@example.org' } } });
    expect(created).toMatchObject({ need: { id: bike.json().id, title: 'A road bike', category: 'sports/cycling' } });
    expect(deleted).toMatchObject({ need: { id: bike.json().id, category: 'sports/cycling' } });
    expect(last).toMatchObject({ profile: { name: { given: 'Augusta Ada' } } });
    // Event ids and versions go up, as in the feed.
    const versions = got.filter((d) => d.message.type === 'profile.updated').map((d) => d.message.data.version as number);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    const webhook = await getWebhook(undefined, id);
    expect(webhook.statusCode).toBe(401);
  });

  it('survives the receiver being down for a while: every message is delivered once it is back, in order', async () => {
    const r = await newReceiver();
    r.behave(() => ({ status: 503, body: 'down for maintenance' }));
    const { person, vendor, id, mine } = await pushed(r);
    const versions: number[] = [];
    for (let i = 1; i <= 6; i++) versions.push(await patchProfile(person, { name: { given: `Ada ${i}` } }));
    // Retried, and the failure is visible to the vendor.
    await r.waitFor((d) => mine(d).length >= 4, 15_000, 'several failed attempts');
    const failing = (await getWebhook(vendor, id)).json();
    expect(failing.delivery.pending).toBe(6);
    expect(failing.delivery.attempts).toBeGreaterThanOrEqual(1);
    expect(failing.delivery.lastError).toMatch(/^HTTP 503: down for maintenance/);
    expect(failing.delivery.lastDeliveredAt).toBeNull();
    // Only the oldest message was tried while it failed (head of line).
    expect(new Set(mine(r.deliveries).map((d) => d.headers['webhook-id'])).size).toBe(1);

    r.behave(() => ({ status: 200 }));
    await r.waitFor((d) => ok(mine(d)).length === 6);
    const delivered = ok(mine(r.deliveries));
    expect(delivered.map((d) => d.message.data.version)).toEqual(versions);
    expect(delivered.map((d) => (d.message.data.profile as Json).name)).toEqual(versions.map((_, i) => ({ given: `Ada ${i + 1}` })));
    // Every request, failed or not, came in order: never a later message before an earlier one was accepted.
    const seen = mine(r.deliveries).map((d) => d.message.data.version as number);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    const healthy = await until(async () => {
      const body = (await getWebhook(vendor, id)).json();
      return body.delivery.pending === 0 && body;
    }, 'the webhook to be drained');
    expect(healthy.delivery).toMatchObject({ pending: 0, attempts: 0, lastError: null, nextAttemptAt: null });
    expect(healthy.delivery.lastDeliveredAt).not.toBeNull();
  });

  it("one vendor's failing endpoint does not hold up another's", async () => {
    const r = await newReceiver();
    r.behave((path) => (path === '/broken' ? { status: 500 } : { status: 204 }));
    const { person, version } = await personWithTerms();
    const broken = await server.vendor('Broken Shop');
    const healthy = await server.vendor('Healthy Shop');
    const brokenId = await subscribe(broken, person, version);
    const healthyId = await subscribe(healthy, person, version);
    await register(broken, brokenId, r.url('/broken'));
    await register(healthy, healthyId, r.url('/healthy'));
    await patchProfile(person, { name: { given: 'Ada' } });
    await patchProfile(person, { name: { given: 'Ada', family: 'Lovelace' } });
    await r.waitFor((d) => ok(d).filter((x) => x.path === '/healthy').length === 2 && d.filter((x) => x.path === '/broken').length >= 2);
    expect((await getWebhook(broken, brokenId)).json().delivery.pending).toBe(2);
  });

  it('does not follow redirects, gives up on slow answers, and does not read huge ones', async () => {
    const r = await newReceiver();
    let mode: 'redirect' | 'slow' | 'huge-failure' | 'huge-success' | 'ok' = 'redirect';
    r.behave((path) => {
      if (path === '/elsewhere') return { status: 200 };
      if (mode === 'redirect') return { status: 307, headers: { location: r.url('/elsewhere') } };
      if (mode === 'slow') return { status: 200, delayMs: 5_000 };
      if (mode === 'huge-failure') return { status: 500, hugeBodyBytes: 50 * 1024 * 1024 };
      if (mode === 'huge-success') return { status: 200, hugeBodyBytes: 50 * 1024 * 1024 };
      return { status: 204 };
    });
    const { person, vendor, id, mine } = await pushed(r, '/hook');
    const lastError = () => getWebhook(vendor, id).then((response) => response.json().delivery.lastError as string | null);

    await patchProfile(person, { name: { given: 'Ada' } });
    expect(await until(async () => (await lastError())?.includes('redirects are not followed') && lastError(), 'a redirect failure')).toBe('HTTP 307: redirects are not followed');
    expect(r.deliveries.some((d) => d.path === '/elsewhere')).toBe(false);

    mode = 'slow';
    await until(async () => (await lastError())?.includes('no answer within 800 ms'), 'a timeout');
    expect(mine(r.deliveries).some((d) => d.answer === 'dropped')).toBe(true);

    mode = 'huge-failure';
    await until(async () => (await lastError())?.startsWith('HTTP 500: xxxx'), 'a failure with a huge body');
    // The dispatcher read a few hundred bytes and hung up: the receiver never wrote it all.
    await until(async () => r.hugeBodyWritten.length > 0, 'the huge body to be attempted');
    expect(Math.max(...r.hugeBodyWritten)).toBeLessThan(50 * 1024 * 1024);

    mode = 'huge-success';
    await r.waitFor((d) => ok(mine(d)).length === 1, 15_000, 'the delivery with a huge answer');
    // The receiver has answered; the dispatcher records the success a moment later.
    await until(async () => (await lastError()) === null, 'the success to be recorded');
    expect((await lastError()) ?? null).toBeNull();
    expect(Math.max(...r.hugeBodyWritten)).toBeLessThan(50 * 1024 * 1024);
    expect(r.deliveries.some((d) => d.path === '/elsewhere')).toBe(false);
  });

  it('checks the target again when connecting: an address that is no longer allowed is not called', async () => {
    const r = await newReceiver();
    r.behave(() => ({ status: 503 }));
    const { person, vendor, id, mine } = await pushed(r);
    await patchProfile(person, { name: { given: 'Ada' } });
    await r.waitFor((d) => mine(d).length >= 1);
    // As if the registered name now resolved to a private address (DNS rebinding): the stored
    // target is changed behind the registration check's back.
    await server.ctx.db.updateTable('webhooks').set({ url: 'http://10.1.2.3:9/hook' }).where('subscription_id', '=', id).execute();
    const error = await until(async () => {
      const e = (await getWebhook(vendor, id)).json().delivery.lastError as string | null;
      return e?.startsWith('target refused') && e;
    }, 'a refusal at connection time');
    expect(error).toMatch(/non-public address \(private\)/);
    expect((await getWebhook(vendor, id)).json().delivery.pending).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------

describe('grant changes', () => {
  it('tells of approval and narrowing, and redacts older queued events to the narrowed grant', async () => {
    const r = await newReceiver();
    const { person, version } = await personWithTerms();
    const vendor = await server.vendor();
    // Phones ask the person: pending until approved.
    const id = await subscribe(vendor, person, version, [field('name'), field('emails.personal', false), field('phones.mobile', false)], 'pending');
    const path = '/grant';
    await register(vendor, id, r.url(path));
    await patchProfile(person, { name: { given: 'Ada' }, emails: { personal: 'ada@example.org' } });
    const approved = await as(person, { method: 'POST', url: `/v1/me/subscriptions/${id}/approve` });
    expect(approved.statusCode, approved.body).toBe(200);
    await r.waitFor((d) => ok(d).length === 1);
    // Nothing of the profile went out while pending; then the approval.
    expect(types(r.deliveries)).toEqual(['subscription.approved']);
    expect(r.deliveries[0]?.message.data).toMatchObject({ subscription: id, status: 'active', grant: { fields: ['name', 'emails.personal', 'phones.mobile'] } });

    // The receiver is down while a change is queued and the terms then narrow the grant to the name.
    r.behave(() => ({ status: 503 }));
    await patchProfile(person, { emails: { personal: 'ada@new.example' } , name: { given: 'Ada', family: 'Lovelace' } });
    await r.waitFor((d) => d.length >= 2);
    const narrower = { title: 'Names only', rules: [{ id: 'names', effect: 'permit', fields: ['name'], purposes: ['fulfillment'] }] };
    expect((await as(person, { method: 'PUT', url: '/v1/me/terms', payload: narrower })).statusCode).toBe(200);
    r.behave(() => ({ status: 204 }));
    await r.waitFor((d) => ok(d).length === 3);
    const [, queued, narrowed] = ok(r.deliveries);
    expect(queued?.message.type).toBe('profile.updated');
    // Delivered after the narrowing: shown as the grant stands now.
    expect(queued?.message.data.profile).toEqual({ name: { given: 'Ada', family: 'Lovelace' } });
    expect(queued?.body).not.toContain('ada@new.example');
    expect(narrowed?.message).toMatchObject({ type: 'subscription.narrowed', data: { status: 'active', grant: { fields: ['name'] } } });
    expect(validateMessage()?.(narrowed?.message)).toBe(true);
  });

  it('after a revocation, delivers the revocation and nothing else, with a request to confirm deletion', async () => {
    const r = await newReceiver();
    r.behave(() => ({ status: 503 }));
    const { person, vendor, id, mine } = await pushed(r);
    await patchProfile(person, { name: { given: 'Ada' } });
    await patchProfile(person, { emails: { personal: 'ada@example.org' } });
    await r.waitFor((d) => mine(d).length >= 1);
    await revoke(person, id);
    // A change after the revocation is not even queued.
    await patchProfile(person, { name: { given: 'Ada', family: 'Lovelace' } });
    r.behave(() => ({ status: 200 }));
    await r.waitFor((d) => ok(mine(d)).length === 1);
    await until(async () => (await getWebhook(vendor, id)).json().delivery.pending === 0, 'the outbox to drain');
    expect(types(ok(mine(r.deliveries)))).toEqual(['subscription.revoked']);
    const revocation = ok(mine(r.deliveries))[0] as Delivery;
    expect(validateMessage()?.(revocation.message)).toBe(true);
    expect(revocation.message.data).toMatchObject({
      subscription: id,
      status: 'revoked',
      grant: { fields: [], categories: [], duties: { deleteOnRevoke: true } },
      acknowledgement: {
        kind: 'revocation',
        url: `http://proffer.test/v1/subscriptions/${id}/acknowledgements`,
        webhookId: revocation.headers['webhook-id'],
        fields: ['name', 'emails.personal'],
        acknowledgedAt: null,
        overdue: false,
      },
    });
    const { requestedAt, dueBy } = revocation.message.data.acknowledgement as { requestedAt: string; dueBy: string };
    expect(Date.parse(dueBy) - Date.parse(requestedAt)).toBe(30 * 86_400_000);
  });

  it('expires grants past their expiry without waiting for a read, with a receipt and a message', async () => {
    const r = await newReceiver();
    const { person, vendor, id, mine } = await pushed(r);
    // As if the grant's expiry had passed (grants expire after days).
    await server.ctx.db.updateTable('subscriptions').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', id).execute();
    await r.waitFor((d) => ok(mine(d)).length === 1);
    expect(ok(mine(r.deliveries))[0]?.message).toMatchObject({ type: 'subscription.expired', data: { status: 'expired', grant: { fields: [] } } });
    const stored = await server.ctx.db.selectFrom('subscriptions').select('status').where('id', '=', id).executeTakeFirstOrThrow();
    expect(stored.status).toBe('expired');
    const receipts = await as(person, { method: 'GET', url: '/v1/me/receipts' });
    expect(receipts.json().items.map((x: { receipt: { event: string } }) => x.receipt.event)).toEqual(['expired', 'granted']);
    expect((await as(vendor, { method: 'GET', url: `/v1/subscriptions/${id}` })).json().status).toBe('expired');
  });
});

// ---------------------------------------------------------------------------------------------

describe('acknowledgements', () => {
  const ack = (who: TestVendor | TestPerson | undefined, id: string, body: Json) =>
    as(who, { method: 'POST', url: `/v1/subscriptions/${id}/acknowledgements`, payload: body, remoteAddress: '203.0.113.9' });
  const list = (who: TestVendor | undefined, id: string) => as(who, { method: 'GET', url: `/v1/subscriptions/${id}/acknowledgements` });

  it('are recorded once, shown in the access log, and belong to the vendor asked', async () => {
    const r = await newReceiver();
    const { person, vendor, id, mine } = await pushed(r);
    const other = await server.vendor('Other Shop');
    // Nothing to acknowledge while the grant stands.
    expectType(await ack(vendor, id, { kind: 'revocation' }), 404, 'not-found');
    expect((await list(vendor, id)).json()).toEqual({ items: [] });
    await revoke(person, id);
    await r.waitFor((d) => ok(mine(d)).length === 1);
    const webhookId = ok(mine(r.deliveries))[0]?.headers['webhook-id'] as string;

    expectType(await ack(other, id, { webhookId }), 404, 'not-found');
    expectType(await list(other, id), 404, 'not-found');
    expectType(await ack(person, id, { webhookId }), 403, 'wrong-principal');
    expectType(await ack(undefined, id, { webhookId }), 401, 'invalid-token');
    expectProblem(await ack(vendor, id, {}), 400);
    expectProblem(await ack(vendor, id, { kind: 'deletion' }), 400, '/kind');
    expectType(await ack(vendor, id, { kind: 'erasure' }), 404, 'not-found');
    expectType(await ack(vendor, id, { kind: 'revocation', webhookId: 'msg_0000' }), 404, 'not-found');
    // None of those counted.
    expect((await accessLog(person)).filter((e) => e.what.startsWith('deletion'))).toEqual([]);

    const first = await ack(vendor, id, { webhookId });
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json()).toMatchObject({ subscription: id, kind: 'revocation', webhookId, fields: ['name', 'emails.personal'], overdue: false });
    expect(first.json().acknowledgedAt).not.toBeNull();
    const again = await ack(vendor, id, { kind: 'revocation' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(first.json());
    expect((await list(vendor, id)).json()).toEqual({ items: [first.json()] });

    const entries = (await accessLog(person)).filter((e) => e.what.startsWith('deletion'));
    expect(entries).toEqual([expect.objectContaining({ what: 'deletion-acknowledged', subscription: id, fields: ['name', 'emails.personal'], address: '203.0.113.9' })]);
  });

  it('are asked of vendors without a webhook too', async () => {
    const { person, version } = await personWithTerms();
    const vendor = await server.vendor();
    const id = await subscribe(vendor, person, version);
    await revoke(person, id);
    const [request] = (await list(vendor, id)).json().items;
    expect(request).toMatchObject({ kind: 'revocation', webhookId: null, acknowledgedAt: null, fields: ['name', 'emails.personal'] });
    expect((await ack(vendor, id, { kind: 'revocation' })).statusCode).toBe(201);
    // A pending request withdrawn: nothing was shared, nothing to delete.
    const pendingId = await subscribe(vendor, person, version, [field('name'), field('phones.mobile')], 'pending');
    await revoke(person, pendingId);
    expect((await list(vendor, pendingId)).json()).toEqual({ items: [] });
  });

  it('overdue ones show in the access log', async () => {
    const hurried = await startTestServer({ worker: true, env: { ...FAST, PROFFER_ACKNOWLEDGEMENT_DEADLINE: '1' } });
    try {
      const person = await hurried.person();
      const vendor = await hurried.vendor();
      const terms = await hurried.request({ method: 'PUT', url: '/v1/me/terms', headers: person.auth, payload: TERMS });
      const created = await hurried.request({
        method: 'POST',
        url: '/v1/subscriptions',
        headers: vendor.auth,
        payload: { person: person.handle, fields: [field('name')], accepts: { termsVersion: terms.json().version, duties: { deleteOnRevoke: true } } },
      });
      const id: string = created.json().id;
      expect((await hurried.request({ method: 'POST', url: `/v1/me/subscriptions/${id}/revoke`, headers: person.auth })).statusCode).toBe(200);
      const log = () => hurried.request({ method: 'GET', url: '/v1/me/access-log', headers: person.auth }).then((r) => r.json().items as { what: string; subscription: string; fields: string[]; address: string }[]);
      const overdue = await until(async () => (await log()).find((e) => e.what === 'deletion-overdue'), 'the overdue entry');
      expect(overdue).toMatchObject({ subscription: id, fields: ['name'], address: '' });
      const listed = await hurried.request({ method: 'GET', url: `/v1/subscriptions/${id}/acknowledgements`, headers: vendor.auth });
      expect(listed.json().items[0]).toMatchObject({ overdue: true, acknowledgedAt: null });
      // Late is better than never: recorded, and still overdue; marked overdue once only.
      const late = await hurried.request({ method: 'POST', url: `/v1/subscriptions/${id}/acknowledgements`, headers: vendor.auth, payload: { kind: 'revocation' } });
      expect(late.statusCode).toBe(201);
      expect(late.json().overdue).toBe(true);
      const whats = (await log()).map((e) => e.what);
      expect(whats.filter((w) => w === 'deletion-overdue')).toHaveLength(1);
      expect(whats).toContain('deletion-acknowledged');
    } finally {
      await hurried.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('erasure', () => {
  it('tells every vendor holding a grant, drops what was still queued, and keeps no personal data', async () => {
    const r = await newReceiver();
    const { person, version } = await personWithTerms();
    await patchProfile(person, { name: { given: 'Zenobia', family: 'Quornwhistle' }, emails: { personal: 'zenobia@quorn.example' } });
    const pushedVendor = await server.vendor('Pushed Shop');
    const quietVendor = await server.vendor('Quiet Shop');
    const askingVendor = await server.vendor('Asking Shop');
    const bystander = await server.vendor('Bystander');
    const pushedId = await subscribe(pushedVendor, person, version);
    const quietId = await subscribe(quietVendor, person, version);
    const askingId = await subscribe(askingVendor, person, version, [field('name'), field('phones.mobile')], 'pending');
    await register(pushedVendor, pushedId, r.url('/pushed'));
    await register(askingVendor, askingId, r.url('/asking'));

    // Changes queued while the receiver is down are moot once the person is gone.
    r.behave(() => ({ status: 503 }));
    await patchProfile(person, { name: { given: 'Zenobia', family: 'Q.' } });
    await r.waitFor((d) => d.length >= 1);
    expect((await as(person, { method: 'DELETE', url: '/v1/me' })).statusCode).toBe(204);
    r.behave(() => ({ status: 204 }));
    await r.waitFor((d) => ok(d).length === 2);
    await until(async () => (await getWebhook(pushedVendor, pushedId)).json().delivery.pending === 0, 'the outbox to drain');

    const delivered = ok(r.deliveries);
    expect(delivered.map((d) => [d.path, d.message.type]).sort()).toEqual([['/asking', 'person.erased'], ['/pushed', 'person.erased']]);
    const toPushed = delivered.find((d) => d.path === '/pushed') as Delivery;
    const toAsking = delivered.find((d) => d.path === '/asking') as Delivery;
    expect(toPushed.message.data).toMatchObject({
      subscription: pushedId,
      acknowledgement: { kind: 'erasure', webhookId: toPushed.headers['webhook-id'], fields: ['name', 'emails.personal'], acknowledgedAt: null },
    });
    // A pending request received nothing, so nothing is to be deleted: told, not asked.
    expect(toAsking.message.data).toEqual({ subscription: askingId });
    for (const d of delivered) expect(validateMessage()?.(d.message)).toBe(true);

    // Vendors without a webhook learn it from the subscription: 410, with the acknowledgement asked.
    const gone = expectType(await as(quietVendor, { method: 'GET', url: `/v1/subscriptions/${quietId}` }), 410, 'person-erased');
    expect(gone.acknowledgement).toMatchObject({ kind: 'erasure', url: `http://proffer.test/v1/subscriptions/${quietId}/acknowledgements`, webhookId: null });
    expect(expectType(await as(askingVendor, { method: 'GET', url: `/v1/subscriptions/${askingId}` }), 410, 'person-erased').acknowledgement).toBeUndefined();
    // And from the reads they poll: the feed (any format, conditional or not) and the profile.
    for (const url of [`/v1/subscriptions/${quietId}/feed`, `/v1/subscriptions/${quietId}/feed?format=json`, `/v1/subscriptions/${quietId}/profile`]) {
      expect(expectType(await as(quietVendor, { method: 'GET', url }), 410, 'person-erased'), url).toEqual(gone);
    }
    expectType(await as(quietVendor, { method: 'GET', url: `/v1/subscriptions/${quietId}/feed`, headers: { 'if-none-match': '"anything"' } }), 410, 'person-erased');
    expect(expectType(await as(askingVendor, { method: 'GET', url: `/v1/subscriptions/${askingId}/feed` }), 410, 'person-erased').acknowledgement).toBeUndefined();
    // To anyone else the id is still nothing.
    expectType(await as(bystander, { method: 'GET', url: `/v1/subscriptions/${quietId}` }), 404, 'not-found');
    expectType(await as(bystander, { method: 'GET', url: `/v1/subscriptions/${quietId}/feed` }), 404, 'not-found');
    expectType(await as(bystander, { method: 'GET', url: `/v1/subscriptions/${quietId}/profile` }), 404, 'not-found');
    expectType(await as(bystander, { method: 'POST', url: `/v1/subscriptions/${quietId}/acknowledgements`, payload: { kind: 'erasure' } }), 404, 'not-found');
    expectType(await putWebhook(quietVendor, quietId, { url: r.url('/late') }), 410, 'person-erased');

    // Acknowledged after the erasure: recorded, shown to no one.
    const acked = await as(quietVendor, { method: 'POST', url: `/v1/subscriptions/${quietId}/acknowledgements`, payload: { kind: 'erasure' } });
    expect(acked.statusCode, acked.body).toBe(201);
    expect(acked.json().acknowledgedAt).not.toBeNull();
    expect((await as(pushedVendor, { method: 'POST', url: `/v1/subscriptions/${pushedId}/acknowledgements`, payload: { webhookId: toPushed.headers['webhook-id'] } })).statusCode).toBe(201);
    const logged = await server.ctx.db.selectFrom('access_log').select('id').where('person_id', '=', person.id).execute();
    expect(logged).toEqual([]);

    // What survives the erasure names ids only: no handle, no profile value.
    const survivors = JSON.stringify([
      await server.ctx.db.selectFrom('webhooks').selectAll().where('subscription_id', 'in', [pushedId, quietId, askingId]).execute(),
      await server.ctx.db.selectFrom('webhook_outbox').selectAll().where('subscription_id', 'in', [pushedId, quietId, askingId]).execute(),
      await server.ctx.db.selectFrom('acknowledgements').selectAll().where('subscription_id', 'in', [pushedId, quietId, askingId]).execute(),
      await server.ctx.db.selectFrom('erased_subscriptions').selectAll().where('subscription_id', 'in', [pushedId, quietId, askingId]).execute(),
    ]);
    expect(survivors).toContain(pushedId);
    expect(survivors).not.toMatch(new RegExp(`${person.handle}|Zenobia|Quornwhistle|quorn\\.example`));
  });
});
