import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Proffer,
  ProfferProblem,
  ProfferUnreachable,
  verifyWebhook,
  WebhookVerificationError,
  type FetchLike,
  type OfferInput,
  type PersonClient,
  type SubscriptionRequest,
  type TermsInput,
  type Tokens,
  type VendorClient,
} from '../../clients/sdk/index.js';
import { startTestServer, TEST_PASSWORD, uniqueHandle, type TestServer } from '../helpers/server.js';

// The SDK against a real listening server (127.0.0.1, a random port), through the global fetch:
// the flows a person's app and a vendor's back end go through, and how failures surface.

let server: TestServer;
let baseUrl: string;
let proffer: Proffer;
let issuer: string;

beforeAll(async () => {
  // With the webhook dispatcher, allowed to deliver to a receiver on 127.0.0.1 over plain http.
  server = await startTestServer({ worker: true, env: { PROFFER_WEBHOOK_ALLOW_HTTP_LOOPBACK: 'true', PROFFER_WEBHOOK_POLL_MS: '50' } });
  baseUrl = await server.app.listen({ host: '127.0.0.1', port: 0 });
  proffer = new Proffer({ baseUrl });
  issuer = server.ctx.config.publicUrl;
});
afterAll(() => server?.close());

/** A fetch that counts what goes through it, by method and path. */
function countingFetch(): { fetch: FetchLike; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    fetch: (request) => {
      calls.push(`${request.method} ${new URL(request.url).pathname}`);
      return fetch(request);
    },
  };
}

/** The same access token, but expired an hour ago (signed with the server's key, so only `exp` is wrong). */
function expire(accessToken: string): string {
  const claims = JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString());
  const now = Math.floor(Date.now() / 1000);
  const input = `${Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify({ ...claims, iat: now - 7200, exp: now - 3600 })).toString('base64url')}`;
  return `${input}.${createHmac('sha256', server.ctx.tokenKey).update(input).digest('base64url')}`;
}

async function signedUp(): Promise<{ handle: string; person: PersonClient }> {
  const handle = uniqueHandle('sdk');
  await proffer.signUp({ handle, password: TEST_PASSWORD });
  return { handle, person: await proffer.loginPerson(handle, TEST_PASSWORD) };
}

const SHOP = { name: 'Velo Lyon', homepage: 'https://velo-lyon.example', contact: 'privacy@velo-lyon.example' };

async function registeredShop(name = SHOP.name): Promise<VendorClient> {
  const credentials = await proffer.registerVendor({ ...SHOP, name });
  return proffer.loginVendor(credentials.client_id, credentials.client_secret);
}

/** A page that must have been read (a first read, or one after a change). */
function read<T extends { notModified: boolean }>(page: T): Extract<T, { notModified: false }> {
  if (page.notModified) throw new Error('expected a page, got "not modified"');
  return page as Extract<T, { notModified: false }>;
}

/** Terms that give any vendor the name for fulfillment at once, under no third-party sharing. */
const NAME_FOR_ORDERS: TermsInput = { rules: [{ id: 'orders', effect: 'permit', fields: ['name'], purposes: ['fulfillment'], duties: { noThirdPartySharing: true } }] };
const NAME = { path: 'name', purpose: 'fulfillment', required: true, retentionDays: 30 } as const;

describe("the person's flow", () => {
  it('signs up, logs in, keeps a profile (JSON and XML), needs, terms, and exports', async () => {
    const handle = uniqueHandle('ada');
    const account = await proffer.signUp({ handle, password: TEST_PASSWORD, displayName: 'Ada' });
    expect(account).toMatchObject({ handle, displayName: 'Ada' });
    const ada = await proffer.loginPerson(handle, TEST_PASSWORD);
    expect(await ada.me()).toEqual(account);

    expect(await ada.setProfile({ name: { given: 'Ada', family: 'Lovelace' }, emails: { personal: 'ada@example.org' } })).toEqual({
      name: { given: 'Ada', family: 'Lovelace' },
      emails: { personal: 'ada@example.org' },
    });
    expect(await ada.patchProfile({ emails: { work: 'ada@analytical.example' } })).toMatchObject({ emails: { personal: 'ada@example.org', work: 'ada@analytical.example' } });
    expect(await ada.getProfileXml()).toMatch(/<given>Ada<\/given>[\s\S]*<work>ada@analytical.example<\/work>/);
    const storedXml = await ada.setProfileXml('<profile xmlns="https://proffer.dev/ns/1"><name><given>Augusta</given></name></profile>');
    expect(storedXml).toContain('<given>Augusta</given>');
    expect(await ada.getProfile()).toEqual({ name: { given: 'Augusta' } });

    const bikeInput = { title: 'A road bike, 54 cm', category: 'sports/cycling', budget: { max: 600, currency: 'EUR' }, visibility: 'subscribers' } as const;
    const key = randomUUID();
    const bike = await ada.createNeed(bikeInput, { idempotencyKey: key });
    // A retry under the key (its answer lost, say) is the same need; so is one in XML, under its own key.
    expect((await ada.createNeed(bikeInput, { idempotencyKey: key })).id).toBe(bike.id);
    const booksXml = '<need xmlns="https://proffer.dev/ns/1"><title>Babbage, collected</title><category>books</category><visibility>subscribers</visibility></need>';
    const xmlKey = randomUUID();
    const books = await ada.createNeedXml(booksXml, { idempotencyKey: xmlKey });
    expect((await ada.createNeedXml(booksXml, { idempotencyKey: xmlKey })).id).toBe(books.id);
    await expect(ada.createNeed({ ...bikeInput, title: 'Another bike' }, { idempotencyKey: key })).rejects.toMatchObject({ code: 'idempotency-key-reused', status: 422 });
    expect(books).toMatchObject({ title: 'Babbage, collected', category: 'books', status: 'open' });
    expect((await ada.listNeeds()).items.map((need) => need.id)).toEqual([books.id, bike.id]);
    expect((await ada.closeNeed(bike.id)).status).toBe('fulfilled');
    expect((await ada.allNeeds({ status: 'open' })).map((need) => need.id)).toEqual([books.id]);
    await ada.deleteNeed(books.id);
    expect((await ada.allNeeds()).map((need) => need.id)).toEqual([bike.id]);

    expect((await ada.getTerms()).version).toBe(1);
    const templates = await proffer.termsTemplates();
    expect(templates.map((template) => template.id)).toContain('fulfillment-only');
    const terms = await ada.applyTemplate('fulfillment-only');
    expect(terms).toMatchObject({ version: 2, title: 'Fulfillment only' });
    await expect(ada.applyTemplate('no-such-template')).rejects.toThrow(/No terms template "no-such-template"; the templates are: .*fulfillment-only/);
    expect((await ada.termsVersions()).items.map((version) => version.version)).toEqual([2, 1]);
    const dryRun = await ada.evaluateTerms({
      request: {
        fields: [
          { path: 'name', purpose: 'fulfillment', required: true, retentionDays: 30 },
          { path: 'birthDate', purpose: 'marketing', required: false, retentionDays: 30 },
        ],
        accepts: { duties: { noThirdPartySharing: true, noProfiling: true, deleteOnRevoke: true } },
      },
    });
    expect(dryRun.fields.map((field) => [field.path, field.decision])).toEqual([
      ['name', 'permit'],
      ['birthDate', 'deny'],
    ]);
    expect((await proffer.publicTerms(handle)).version).toBe(2);

    expect(await ada.myFeed({ format: 'json' })).toContain('https://jsonfeed.org/version/1.1');
    const exported = await ada.exportData();
    expect(exported).toMatchObject({ format: 'proffer-export/1', person: { handle }, profile: { document: { name: { given: 'Augusta' } } } });
    expect(await ada.exportXml()).toContain(`<handle>${handle}</handle>`);

    await ada.erase();
    await expect(ada.me()).rejects.toMatchObject({ status: 401, code: 'invalid-token' });
    await expect(proffer.loginPerson(handle, TEST_PASSWORD)).rejects.toMatchObject({ status: 400, code: 'oauth/invalid-grant' });
  });

  it('renews an expired access token with one refresh for concurrent requests, and keeps the rotated refresh token', async () => {
    const { person } = await signedUp();
    const first = person.tokens;
    const counted = countingFetch();
    const saved: Tokens[] = [];
    const client = new Proffer({ baseUrl, fetch: counted.fetch }).person({ ...first, accessToken: expire(first.accessToken) }, { onTokens: (tokens) => void saved.push(tokens) });

    const answers = await Promise.all([client.me(), client.getProfile(), client.listNeeds(), client.getTerms(), client.me()]);
    expect(answers[0].handle).toBe(answers[4].handle);
    expect(counted.calls.filter((call) => call === 'POST /v1/token')).toHaveLength(1);
    expect(saved).toHaveLength(1);
    expect(saved[0]).toEqual(client.tokens);
    expect(client.tokens.refreshToken).not.toBe(first.refreshToken);

    // A request with a body is repeated whole after the renewal.
    const needsBefore = (await client.allNeeds()).length;
    const renewed = new Proffer({ baseUrl }).person({ ...client.tokens, accessToken: expire(client.tokens.accessToken) });
    expect((await renewed.createNeed({ title: 'Sent once, answered once', category: 'books', visibility: 'subscribers' })).title).toBe('Sent once, answered once');
    expect((await client.allNeeds()).length).toBe(needsBefore + 1);
  });

  it('lets the 401 stand when the session itself has ended', async () => {
    const { person } = await signedUp();
    await person.logout();
    const counted = countingFetch();
    const client = new Proffer({ baseUrl, fetch: counted.fetch }).person(person.tokens);
    const refused = await client.me().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ProfferProblem);
    expect(refused).toMatchObject({ status: 401, type: 'https://proffer.dev/problems/invalid-token', title: 'Invalid token' });
    // One refresh attempt (refused: the session is over), and the request is not repeated.
    expect(counted.calls).toEqual(['GET /v1/me', 'POST /v1/token']);
  });

  it('renews through coordinateRenewal, which may answer tokens renewed elsewhere, and throws its failure rather than the 401', async () => {
    const { handle, person } = await signedUp();
    const counted = countingFetch();
    // Tokens another process renewed meanwhile: taken as they are, no refresh sent.
    const elsewhere = (await new Proffer({ baseUrl }).loginPerson(handle, TEST_PASSWORD)).tokens;
    const adopting = new Proffer({ baseUrl, fetch: counted.fetch }).person({ ...person.tokens, accessToken: expire(person.tokens.accessToken) }, {
      coordinateRenewal: async (_renew, current) => {
        expect(current.refreshToken).toBe(person.tokens.refreshToken);
        return elsewhere;
      },
    });
    expect((await adopting.me()).handle).toBe(handle);
    expect(counted.calls).toEqual(['GET /v1/me', 'GET /v1/me']);
    expect(adopting.tokens).toEqual(elsewhere);

    const failing = new Proffer({ baseUrl }).person({ ...elsewhere, accessToken: expire(elsewhere.accessToken) }, {
      coordinateRenewal: () => Promise.reject(new Error('the shared store is locked')),
    });
    await expect(failing.me()).rejects.toThrow('the shared store is locked');
  });
});

describe("the vendor's flow", () => {
  const request = (handle: string, termsVersion: number): SubscriptionRequest => ({
    person: handle,
    fields: [
      { path: 'name', purpose: 'fulfillment', required: true, retentionDays: 30 },
      { path: 'addresses.home', purpose: 'fulfillment', required: true, retentionDays: 30 },
      { path: 'preferences.sizes', purpose: 'personalization', required: false, retentionDays: 30 },
    ],
    accepts: { termsVersion, duties: { noThirdPartySharing: true } },
  });
  const TERMS: TermsInput = {
    rules: [
      { id: 'deliveries', effect: 'permit', fields: ['name', 'addresses.*'], purposes: ['fulfillment'], duties: { noThirdPartySharing: true } },
      { id: 'ask-me', effect: 'permit', fields: ['*'], purposes: ['personalization'], approval: 'ask' },
    ],
  };

  it('registers, subscribes, reads exactly the grant (profile and feed with ETag), verifies receipts, and is refused once revoked', async () => {
    const { handle, person } = await signedUp();
    await person.setTerms(TERMS);
    await person.setProfile({ name: { given: 'Ada' }, addresses: { home: { locality: 'London', country: 'GB' } }, preferences: { sizes: { shoe: 'EU 38' } }, birthDate: '1815-12-10' });

    const credentials = await proffer.registerVendor(SHOP);
    expect(credentials.client_secret).toEqual(expect.any(String));
    const shop = await proffer.loginVendor(credentials.client_id, credentials.client_secret);
    const published = await shop.publicTerms(handle);
    expect(published.version).toBe(2);
    const { fields, accepts } = request(handle, 2);
    expect((await shop.previewTerms(handle, { fields, accepts })).outcome).toBe('pending');

    const subscription = await shop.requestSubscription(request(handle, published.version), { idempotencyKey: `order-${handle}` });
    expect(subscription.status).toBe('pending');
    const retried = await shop.requestSubscription(request(handle, published.version), { idempotencyKey: `order-${handle}` });
    expect(retried.id).toBe(subscription.id);
    expect((await shop.listSubscriptions()).items.map((s) => s.id)).toEqual([subscription.id]);

    expect((await person.listSubscriptions({ status: 'pending' })).items.map((s) => s.id)).toEqual([subscription.id]);
    const approved = await person.approve(subscription.id, { fields: ['name', 'addresses.home'] });
    expect(approved.grant.fields).toEqual(['name', 'addresses.home']);

    expect(await shop.readProfile(subscription.id)).toEqual({ name: { given: 'Ada' }, addresses: { home: { locality: 'London', country: 'GB' } } });
    const xml = await shop.readProfileXml(subscription.id);
    expect(xml).toContain('<locality>London</locality>');
    expect(xml).not.toContain('EU 38');
    const log = await person.accessLog({ subscription: subscription.id });
    expect(log.items.map((entry) => [entry.what, entry.fields])).toEqual([
      ['profile', ['name', 'addresses.home']],
      ['profile', ['name', 'addresses.home']],
    ]);

    // The feed: a JSON Feed page, then a revalidation that answers "not modified" until something changes.
    const page = await shop.readFeed(subscription.id, { format: 'json' });
    if (page.notModified) throw new Error('a first read cannot be "not modified"');
    expect(page.etag).toEqual(expect.any(String));
    expect(page.feed?.version).toBe('https://jsonfeed.org/version/1.1');
    expect(page.text).not.toContain('EU 38');
    expect(await shop.readFeed(subscription.id, { format: 'json', etag: page.etag })).toEqual({ notModified: true, etag: page.etag });
    await person.patchProfile({ name: { family: 'Lovelace' } });
    const changed = await shop.readFeed(subscription.id, { format: 'json', etag: page.etag });
    expect(changed.notModified).toBe(false);
    expect(changed.etag).not.toBe(page.etag);
    expect(changed.notModified === false && changed.text).toContain('Lovelace');

    // Receipts: the vendor's and the person's are one, and verify against the server's keys.
    const [receipt] = (await person.receipts()).items;
    expect((await shop.getSubscription(subscription.id)).receipt).toEqual(receipt);
    expect(await proffer.verifyReceipt(receipt!.jws, { issuer })).toEqual(receipt!.receipt);
    await expect(proffer.verifyReceipt(receipt!.jws, { issuer: 'https://impostor.example' })).rejects.toThrow(/iss/);
    const [header, payload, signature] = receipt!.jws.split('.');
    const forged = Buffer.from(JSON.stringify({ ...receipt!.receipt, piiControllers: [] })).toString('base64url');
    expect(forged).not.toBe(payload);
    await expect(proffer.verifyReceipt(`${header}.${forged}.${signature}`, { issuer })).rejects.toThrow(/signature/);

    await person.revoke(subscription.id, 'Moved away.');
    const refused = await shop.readProfile(subscription.id).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ProfferProblem);
    expect(refused).toMatchObject({ status: 403, code: 'grant-inactive' });
    await expect(shop.readFeed(subscription.id, { etag: changed.etag })).rejects.toMatchObject({ status: 403, code: 'grant-inactive' });
  });

  it('logs in again with its client credentials when its session has ended', async () => {
    const credentials = await proffer.registerVendor(SHOP);
    const counted = countingFetch();
    const shop = await new Proffer({ baseUrl, fetch: counted.fetch }).loginVendor(credentials.client_id, credentials.client_secret);
    const before = shop.tokens;
    await shop.logout();
    expect((await shop.listSubscriptions()).items).toEqual([]);
    expect(shop.tokens.accessToken).not.toBe(before.accessToken);
    // Refresh refused (the session is over), then client credentials, then the request again.
    expect(counted.calls.slice(-4)).toEqual(['GET /v1/subscriptions', 'POST /v1/token', 'POST /v1/token', 'GET /v1/subscriptions']);
  });
});

describe('failures', () => {
  it('a refused body is a ProfferProblem with its field errors, and changes nothing', async () => {
    const { person } = await signedUp();
    await person.setProfile({ name: { given: 'Ada' } });
    const refused = await person.setProfile({ name: { given: 'Ada' }, emails: { personal: 42 } } as never).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ProfferProblem);
    const problem = refused as ProfferProblem;
    expect(problem).toMatchObject({ status: 400, code: 'validation', title: 'Invalid request' });
    expect(problem.errors).toEqual(expect.arrayContaining([expect.objectContaining({ in: 'body', pointer: '/emails/personal' })]));
    expect(problem.message).toBe(problem.detail);
    expect(await person.getProfile()).toEqual({ name: { given: 'Ada' } });
  });

  it('a wrong password is the OAuth error, with its RFC 6749 members as extensions', async () => {
    const { handle } = await signedUp();
    const refused = await proffer.loginPerson(handle, 'not the password at all').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ProfferProblem);
    expect(refused).toMatchObject({ status: 400, code: 'oauth/invalid-grant', extensions: { error: 'invalid_grant' } });
  });

  it("wrong principals: no token, a person's token on a vendor operation, another person's or vendor's subscription", async () => {
    const { handle, person } = await signedUp();
    await person.applyTemplate('fulfillment-only');
    const shop = await proffer.loginVendor(...(await proffer.registerVendor(SHOP).then((c) => [c.client_id, c.client_secret] as const)));
    const other = await proffer.loginVendor(...(await proffer.registerVendor(SHOP).then((c) => [c.client_id, c.client_secret] as const)));
    const { id } = await shop.requestSubscription({ person: handle, fields: [{ path: 'name', purpose: 'fulfillment', required: true, retentionDays: 30 }], accepts: { termsVersion: 2, duties: { noThirdPartySharing: true, noProfiling: true, deleteOnRevoke: true } } });

    const anonymous = await proffer.api.GET('/v1/me');
    expect(anonymous.response.status).toBe(401);
    expect(anonymous.error).toMatchObject({ type: 'https://proffer.dev/problems/invalid-token' });
    const asPerson = await person.api.GET('/v1/subscriptions/{subscriptionId}', { params: { path: { subscriptionId: id } } });
    expect(asPerson.error).toMatchObject({ status: 403, type: 'https://proffer.dev/problems/wrong-principal' });
    await expect(other.readProfile(id)).rejects.toMatchObject({ status: 404, code: 'not-found' });
    const stranger = (await signedUp()).person;
    await expect(stranger.getSubscription(id)).rejects.toMatchObject({ status: 404, code: 'not-found' });
    await expect(stranger.revoke(id)).rejects.toMatchObject({ status: 404 });
    expect((await shop.getSubscription(id)).status).toBe('active');
  });

  it('an unreachable server is a ProfferUnreachable naming the address', async () => {
    const closed = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const nowhere = new Proffer({ baseUrl: `http://127.0.0.1:${closed}` });
    const failed = await nowhere.signUp({ handle: uniqueHandle(), password: TEST_PASSWORD }).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(ProfferUnreachable);
    expect((failed as Error).message).toBe(`Cannot reach the Proffer server at http://127.0.0.1:${closed}: connection refused.`);
  });
});

describe('webhook verification', () => {
  const secret = `whsec_${Buffer.from('a webhook secret of 24+ bytes!!').toString('base64')}`;
  const body = JSON.stringify({ type: 'person.erased', timestamp: new Date().toISOString(), data: { subscription: '7d1e6c2a-3b4f-4a5e-8f9a-0b1c2d3e4f5a' } });
  const signed = (payload: string, at = new Date()) => {
    const id = 'msg_2b3c';
    return { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(secret).sign(id, at, payload) };
  };

  it('answers the payload of a well-signed delivery (Node headers or fetch Headers)', () => {
    const headers = signed(body);
    expect(verifyWebhook(secret, body, headers)).toEqual({ id: 'msg_2b3c', message: JSON.parse(body) });
    expect(verifyWebhook(secret, Buffer.from(body), new Headers(headers)).message.type).toBe('person.erased');
  });

  it('refuses a changed body, another secret, a replayed (old) delivery and missing headers', () => {
    const headers = signed(body);
    expect(() => verifyWebhook(secret, body.replace('erased', 'unerased'), headers)).toThrow(WebhookVerificationError);
    expect(() => verifyWebhook(`whsec_${Buffer.from('another secret, also long enough').toString('base64')}`, body, headers)).toThrow(WebhookVerificationError);
    expect(() => verifyWebhook(secret, body, signed(body, new Date(Date.now() - 3600_000)))).toThrow(WebhookVerificationError);
    expect(() => verifyWebhook(secret, body, { 'webhook-id': 'msg_2b3c' })).toThrow(WebhookVerificationError);
  });
});

describe('push, end to end', () => {
  it("delivers signed events that verifyWebhook accepts, redacted to the grant; the vendor acknowledges the deletion a revocation asks for", async () => {
    // A receiver on 127.0.0.1 that keeps every delivery as it came (raw body, headers).
    const deliveries: { body: string; headers: IncomingHttpHeaders }[] = [];
    const waiting: { type: string; resolve: (delivery: { body: string; headers: IncomingHttpHeaders }) => void }[] = [];
    const receiver = createHttpServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        const delivery = { body, headers: request.headers };
        deliveries.push(delivery);
        response.writeHead(204).end();
        const type = (JSON.parse(body) as { type: string }).type;
        for (const waiter of waiting.filter((w) => w.type === type)) {
          waiting.splice(waiting.indexOf(waiter), 1);
          waiter.resolve(delivery);
        }
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const delivered = (type: string) =>
      new Promise<{ body: string; headers: IncomingHttpHeaders }>((resolve) => {
        const already = deliveries.find((d) => (JSON.parse(d.body) as { type: string }).type === type);
        if (already) resolve(already);
        else waiting.push({ type, resolve });
      });

    try {
      const { handle, person } = await signedUp();
      await person.setTerms({ rules: [{ id: 'deliveries', effect: 'permit', fields: ['name'], purposes: ['fulfillment'] }] });
      await person.setProfile({ name: { given: 'Ada' }, birthDate: '1815-12-10' });
      const credentials = await proffer.registerVendor(SHOP);
      const shop = await proffer.loginVendor(credentials.client_id, credentials.client_secret);
      const subscription = await shop.requestSubscription({ person: handle, fields: [{ path: 'name', purpose: 'fulfillment', required: true, retentionDays: 30 }], accepts: { termsVersion: 2, duties: {} } });
      expect(subscription.status).toBe('active');

      const { port } = receiver.address() as { port: number };
      const webhook = await shop.setWebhook(subscription.id, { url: `http://127.0.0.1:${port}/proffer` });
      expect(webhook.secret).toMatch(/^whsec_/);
      expect((await shop.getWebhook(subscription.id)).secret).toBeUndefined();

      await person.patchProfile({ name: { family: 'Lovelace' }, birthDate: '1815-12-11' });
      const update = await delivered('profile.updated');
      const verified = verifyWebhook(webhook.secret!, update.body, update.headers);
      expect(verified.id).toBe(update.headers['webhook-id']);
      if (verified.message.type !== 'profile.updated') throw new Error(`unexpected ${verified.message.type}`);
      expect(verified.message.data.profile).toEqual({ name: { given: 'Ada', family: 'Lovelace' } }); // never the birth date
      expect(() => verifyWebhook(webhook.secret!, update.body.replace('Lovelace', 'Byron'), update.headers)).toThrow(WebhookVerificationError);

      await person.revoke(subscription.id);
      const revocation = await delivered('subscription.revoked');
      const { id: revocationId, message } = verifyWebhook(webhook.secret!, revocation.body, revocation.headers);
      expect(message.type).toBe('subscription.revoked');
      const [asked] = await shop.acknowledgements(subscription.id);
      expect(asked).toMatchObject({ kind: 'revocation', webhookId: revocationId, acknowledgedAt: null, fields: ['name'] });
      const acknowledged = await shop.acknowledgeDeletion(subscription.id, { webhookId: revocationId });
      expect(acknowledged.acknowledgedAt).toEqual(expect.any(String));
      expect((await person.accessLog()).items.map((entry) => entry.what)).toContain('deletion-acknowledged');
      await shop.deleteWebhook(subscription.id);
      await expect(shop.getWebhook(subscription.id)).rejects.toMatchObject({ status: 404 });
    } finally {
      receiver.closeAllConnections();
      await new Promise((resolve) => receiver.close(resolve));
    }
  });
});

describe('public intents and offers', () => {
  const bike: OfferInput = { message: 'A 54 cm road bike, serviced last month.', price: { amount: 550, currency: 'EUR' }, request: { fields: [NAME], accepts: { duties: { noThirdPartySharing: true } } } };

  it('reads the intent feed by filters (JSON Feed, revalidated by ETag), one intent, and nothing that names the person', async () => {
    const { handle, person } = await signedUp();
    // A category of this test's own: the feed is every public need on the server.
    const category = `sdk${randomBytes(4).toString('hex')}/bikes`;
    await person.createNeed({ title: 'A road bike', category, visibility: 'public', budget: { max: 600, currency: 'EUR' }, location: { locality: 'Lyon', country: 'FR' }, wantedBy: '2099-03-01' });
    await person.createNeed({ title: 'Kept to myself', category, visibility: 'subscribers' });

    const page = read(await proffer.intents({ category, format: 'json' }));
    expect(page.contentType).toMatch(/^application\/feed\+json/);
    const intents = page.feed!.items.map((item) => item._proffer);
    expect(intents).toEqual([expect.objectContaining({ title: 'A road bike', category, budget: { max: 600, currency: 'EUR' }, location: { locality: 'Lyon', country: 'FR' } })]);
    expect(page.text).not.toContain(handle);
    expect(await proffer.intents({ category, format: 'json', etag: page.etag })).toEqual({ notModified: true, etag: page.etag });
    expect(read(await proffer.intents({ category })).text).toMatch(/^<\?xml[\s\S]*<feed xmlns="http:\/\/www.w3.org\/2005\/Atom"[\s\S]*A road bike/);

    const count = async (filters: Parameters<Proffer['intents']>[0]) => read(await proffer.intents({ category, format: 'json', ...filters })).feed!.items.length;
    expect(await count({ country: 'FR', locality: 'lyon', currency: 'EUR', budgetMax: 700, wantedBefore: '2099-12-31' })).toBe(1);
    expect(await count({ country: 'GB' })).toBe(0);
    expect(await count({ currency: 'EUR', budgetMin: 601 })).toBe(0);
    expect(await count({ wantedBefore: '2099-01-01' })).toBe(0);
    await expect(proffer.intents({ budgetMin: 10 })).rejects.toMatchObject({ status: 400 }); // a budget needs its currency

    const intent = intents[0]!;
    expect(await proffer.intent(intent.id)).toEqual(intent);
    await expect(proffer.intent(randomUUID())).rejects.toMatchObject({ status: 404, code: 'not-found' });
  });

  it('a vendor offers on an intent; the person sees the offers under the need, accepts one (a subscription under their terms) and declines another', async () => {
    const { person } = await signedUp();
    await person.setTerms(NAME_FOR_ORDERS);
    await person.setProfile({ name: { given: 'Ada' }, birthDate: '1815-12-10' });
    const category = `sdk${randomBytes(4).toString('hex')}/bikes`;
    const need = await person.createNeed({ title: 'A road bike', category, visibility: 'public' });
    const intentId = read(await proffer.intents({ category, format: 'json' })).feed!.items[0]!._proffer!.id;
    const [shop, rival] = [await registeredShop(), await registeredShop('Cycles Rival')];

    const offer = await shop.createOffer(intentId, bike);
    expect(offer).toMatchObject({ intentId, status: 'open', subscription: null, price: { amount: 550, currency: 'EUR' } });
    expect((await shop.createOffer(intentId, bike)).id).toBe(offer.id); // the same offer again is the open one
    await expect(shop.createOffer(intentId, { ...bike, message: 'Another bike.' })).rejects.toMatchObject({ status: 409, code: 'offer-exists' });
    const rivalOffer = await rival.createOffer(intentId, { ...bike, message: 'A rival bike.' });
    expect((await shop.listOffers()).items.map((o) => o.id)).toEqual([offer.id]);
    expect((await rival.listOffers({ status: 'open' })).items.map((o) => o.id)).toEqual([rivalOffer.id]);

    const seen = await person.listNeedOffers(need.id);
    expect(seen.items.map((o) => [o.id, o.vendor.name])).toEqual([
      [rivalOffer.id, 'Cycles Rival'],
      [offer.id, SHOP.name],
    ]);
    expect(await person.getNeedOffer(need.id, offer.id)).toMatchObject({ needId: need.id, message: bike.message, status: 'open' });

    const accepted = await person.acceptOffer(need.id, offer.id);
    expect(accepted).toMatchObject({ status: 'accepted', subscription: { id: expect.any(String), status: 'active' } });
    expect((await shop.getOffer(offer.id)).subscription).toEqual(accepted.subscription);
    expect(await shop.readProfile(accepted.subscription!.id)).toEqual({ name: { given: 'Ada' } }); // never the birth date

    const declined = await person.declineOffer(need.id, rivalOffer.id, 'Found one, thanks.');
    expect(declined.status).toBe('declined');
    expect(await rival.getOffer(rivalOffer.id)).toMatchObject({ status: 'declined', statusReason: 'Found one, thanks.' });
    await expect(rival.withdrawOffer(rivalOffer.id)).rejects.toMatchObject({ status: 409, code: 'invalid-state', extensions: { offerStatus: 'declined' } });
    expect((await person.listNeedOffers(need.id, { status: 'open' })).items).toEqual([]);
  });

  it("a vendor withdraws an open offer; unknown offers and another vendor's are 404s; a person's token is not a vendor's", async () => {
    const { person } = await signedUp();
    const category = `sdk${randomBytes(4).toString('hex')}/books`;
    const need = await person.createNeed({ title: 'Babbage, collected', category, visibility: 'public' });
    const intentId = read(await proffer.intents({ category, format: 'json' })).feed!.items[0]!._proffer!.id;
    const [shop, other] = [await registeredShop(), await registeredShop('Another shop')];
    const offer = await shop.createOffer(intentId, bike);

    await expect(other.getOffer(offer.id)).rejects.toMatchObject({ status: 404, code: 'not-found' });
    await expect(other.withdrawOffer(offer.id)).rejects.toMatchObject({ status: 404 });
    await expect(shop.getOffer(randomUUID())).rejects.toMatchObject({ status: 404, detail: 'No offer with this id.' });
    await expect(person.getNeedOffer(need.id, randomUUID())).rejects.toMatchObject({ status: 404, detail: 'No offer with this id.' });
    const stranger = (await signedUp()).person;
    await expect(stranger.acceptOffer(need.id, offer.id)).rejects.toMatchObject({ status: 404 });
    await expect(stranger.listNeedOffers(need.id)).rejects.toMatchObject({ status: 404 });
    const asPerson = await person.api.GET('/v1/offers');
    expect(asPerson.error).toMatchObject({ status: 403, type: 'https://proffer.dev/problems/wrong-principal' });

    expect(await shop.withdrawOffer(offer.id)).toMatchObject({ id: offer.id, status: 'withdrawn' });
    expect((await person.getNeedOffer(need.id, offer.id)).status).toBe('withdrawn');
    await expect(person.acceptOffer(need.id, offer.id)).rejects.toMatchObject({ status: 409, code: 'invalid-state' });
  });
});

describe('capability feed links', () => {
  it('a vendor mints a link; anyone holding it reads the feed (revalidated); the person lists, rotates and kills it; each read is in the access log', async () => {
    const { handle, person } = await signedUp();
    await person.setTerms(NAME_FOR_ORDERS);
    await person.setProfile({ name: { given: 'Ada' }, birthDate: '1815-12-10' });
    const shop = await registeredShop();
    const { id } = await shop.requestSubscription({ person: handle, fields: [NAME], accepts: { termsVersion: 2, duties: { noThirdPartySharing: true } } });

    const minted = await shop.createFeedLink(id);
    expect(minted).toMatchObject({ subscription: id, live: true, rotatedAt: null, url: expect.stringMatching(/\/v1\/feeds\/[A-Za-z0-9_-]{43}$/) });
    const { url: _url, ...listed } = minted;
    expect(await shop.feedLinks(id)).toEqual([listed]);
    expect(await person.feedLinks(id)).toEqual([listed]);

    const page = read(await proffer.readFeedLink(minted.url, { format: 'json' }));
    expect(page.feed?.version).toBe('https://jsonfeed.org/version/1.1');
    expect(page.text).toContain('Ada');
    expect(page.text).not.toContain('1815');
    expect(await proffer.readFeedLink(minted.url, { format: 'json', etag: page.etag })).toEqual({ notModified: true, etag: page.etag });
    const capability = minted.url.split('/').pop()!;
    expect(read(await proffer.readFeedLink(capability, { format: 'json' })).text).toBe(page.text); // the capability alone will do
    await expect(proffer.readFeedLink('https://proffer.example/v1/subscriptions/x/feed')).rejects.toThrow(/^Not a feed link/);

    // The person's access log, and its feed, show each read through the link (not the 304).
    expect((await person.accessLog({ subscription: id })).items.map((entry) => entry.what)).toEqual(['feed-link', 'feed-link']);
    const log = read(await person.accessLogFeed({ format: 'json' }));
    expect(log.feed!.items.map((item) => item._proffer?.what)).toEqual(['feed-link', 'feed-link']);
    expect(await person.accessLogFeed({ format: 'json', etag: log.etag })).toEqual({ notModified: true, etag: log.etag });

    const rotated = await person.rotateFeedLink(id, minted.id);
    expect(rotated).toMatchObject({ id: minted.id, rotatedAt: expect.any(String) });
    expect(rotated.url).not.toBe(minted.url);
    await expect(proffer.readFeedLink(minted.url)).rejects.toMatchObject({ status: 404 });
    expect(read(await proffer.readFeedLink(rotated.url)).contentType).toMatch(/^application\/atom\+xml/);
    expect((await shop.feedLinks(id))[0]?.rotatedAt).toBe(rotated.rotatedAt);

    await person.deleteFeedLink(id, minted.id);
    await expect(proffer.readFeedLink(rotated.url)).rejects.toMatchObject({ status: 404 });
    expect(await shop.feedLinks(id)).toEqual([]);
    const second = await shop.createFeedLink(id);
    await shop.deleteFeedLink(id, second.id);
    await expect(proffer.readFeedLink(second.url)).rejects.toMatchObject({ status: 404 });
    await expect(shop.deleteFeedLink(id, second.id)).rejects.toMatchObject({ status: 404 });
  });

  it("another vendor's or person's subscription is not found; an inactive grant gets no link", async () => {
    const { handle, person } = await signedUp();
    await person.setTerms(NAME_FOR_ORDERS);
    const shop = await registeredShop();
    const { id } = await shop.requestSubscription({ person: handle, fields: [NAME], accepts: { termsVersion: 2, duties: { noThirdPartySharing: true } } });
    const link = await shop.createFeedLink(id);
    const other = await registeredShop('Another shop');
    await expect(other.createFeedLink(id)).rejects.toMatchObject({ status: 404, detail: 'No subscription with this id.' });
    await expect(other.deleteFeedLink(id, link.id)).rejects.toMatchObject({ status: 404 });
    const stranger = (await signedUp()).person;
    await expect(stranger.feedLinks(id)).rejects.toMatchObject({ status: 404 });
    await expect(stranger.rotateFeedLink(id, link.id)).rejects.toMatchObject({ status: 404 });

    await person.revoke(id);
    expect(await person.feedLinks(id)).toEqual([expect.objectContaining({ id: link.id, live: false })]);
    await expect(proffer.readFeedLink(link.url)).rejects.toMatchObject({ status: 404 });
    await expect(shop.createFeedLink(id)).rejects.toMatchObject({ status: 403, code: 'grant-inactive', extensions: { subscriptionStatus: 'revoked' } });
    await expect(person.rotateFeedLink(id, link.id)).rejects.toMatchObject({ status: 409 });
  });
});
