import { createHmac } from 'node:crypto';
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
  type PersonClient,
  type SubscriptionRequest,
  type TermsInput,
  type Tokens,
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

    const bike = await ada.createNeed({ title: 'A road bike, 54 cm', category: 'sports/cycling', budget: { max: 600, currency: 'EUR' }, visibility: 'subscribers' });
    const books = await ada.createNeedXml('<need xmlns="https://proffer.dev/ns/1"><title>Babbage, collected</title><category>books</category><visibility>subscribers</visibility></need>');
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
