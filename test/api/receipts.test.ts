import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyReceipt } from '../../server/services/receipts.js';
import { startTestServer, type TestPerson, type TestServer, type TestVendor } from '../helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

const TERMS = {
  rules: [
    { id: 'deliveries', effect: 'permit', fields: ['name', 'emails', 'addresses.*'], purposes: ['fulfillment'], duties: { maxRetentionDays: 90, noThirdPartySharing: true } },
    { id: 'sizes-ask', effect: 'permit', fields: ['preferences'], purposes: ['personalization'], approval: 'ask' },
  ],
};
const FIELDS = [
  { path: 'name', purpose: 'fulfillment', required: true, retentionDays: 30 },
  { path: 'addresses.home', purpose: 'fulfillment', required: true, retentionDays: 30 },
];

async function setUp(fields = FIELDS): Promise<{ person: TestPerson; vendor: TestVendor; id: string; status: string }> {
  const person = await server.person();
  const vendor = await server.vendor('Receipt Shop');
  const terms = await server.request({ method: 'PUT', url: '/v1/me/terms', headers: person.auth, payload: TERMS });
  expect(terms.statusCode).toBe(200);
  const subscription = await server.request({
    method: 'POST',
    url: '/v1/subscriptions',
    headers: vendor.auth,
    payload: { person: person.handle, fields, accepts: { termsVersion: 2, duties: { noThirdPartySharing: true } } },
  });
  expect(subscription.statusCode, subscription.body).toBe(201);
  return { person, vendor, id: subscription.json().id, status: subscription.json().status };
}

const jwks = async () => (await server.request({ method: 'GET', url: '/.well-known/jwks.json' })).json();
const receiptsOf = async (person: TestPerson) => (await server.request({ method: 'GET', url: '/v1/me/receipts', headers: person.auth })).json().items;
const vendorView = async (vendor: TestVendor, id: string) => (await server.request({ method: 'GET', url: `/v1/subscriptions/${id}`, headers: vendor.auth })).json();

describe('consent receipts', () => {
  it('are issued when the terms grant, identical for both parties, and verify against the published keys', async () => {
    const { person, vendor, id, status } = await setUp();
    expect(status).toBe('active');
    const [mine] = await receiptsOf(person);
    const theirs = (await vendorView(vendor, id)).receipt;
    expect(theirs).toEqual(mine);
    const verified = await verifyReceipt(await jwks(), mine.jws, { issuer: server.ctx.config.publicUrl });
    expect(verified).toEqual(mine.receipt);
    expect(verified).toMatchObject({ event: 'granted', status: 'active', subscription: id, piiPrincipalId: person.handle, termsVersion: 2 });
    const paths = (verified.services as { purposes: { piiCategory: string[] }[] }[]).flatMap((s) => s.purposes.flatMap((p) => p.piiCategory));
    expect(paths.sort()).toEqual(['addresses.home', 'name']);
  });

  it('follow every change: approval (narrowed), narrowing by new terms, revocation', async () => {
    const { person, vendor, id, status } = await setUp([
      ...FIELDS,
      { path: 'emails.personal', purpose: 'fulfillment', required: false, retentionDays: 30 },
      { path: 'preferences.sizes', purpose: 'personalization', required: false, retentionDays: 30 },
    ]);
    expect(status).toBe('pending');
    expect(await receiptsOf(person)).toEqual([]);

    const approved = await server.request({ method: 'POST', url: `/v1/me/subscriptions/${id}/approve`, headers: person.auth, payload: { fields: ['name', 'addresses.home', 'emails.personal'] } });
    expect(approved.statusCode).toBe(200);
    let receipts = await receiptsOf(person);
    expect(receipts.map((r: { receipt: { event: string } }) => r.receipt.event)).toEqual(['approved']);

    // New terms no longer give out emails: the optional email leaves the grant, the rest stays.
    const narrowed = await server.request({ method: 'PUT', url: '/v1/me/terms', headers: person.auth, payload: { rules: [{ ...TERMS.rules[0], fields: ['name', 'addresses.*'] }] } });
    expect(narrowed.statusCode).toBe(200);
    expect((await vendorView(vendor, id)).grant.fields.sort()).toEqual(['addresses.home', 'name']);
    receipts = await receiptsOf(person);
    expect(receipts.map((r: { receipt: { event: string } }) => r.receipt.event)).toEqual(['narrowed', 'approved']);

    const revoked = await server.request({ method: 'POST', url: `/v1/me/subscriptions/${id}/revoke`, headers: person.auth });
    expect(revoked.statusCode).toBe(200);
    receipts = await receiptsOf(person);
    expect(receipts.map((r: { receipt: { event: string; status: string } }) => [r.receipt.event, r.receipt.status])).toEqual([
      ['revoked', 'revoked'],
      ['narrowed', 'active'],
      ['approved', 'active'],
    ]);
    expect((await vendorView(vendor, id)).receipt).toEqual(receipts[0]);
    for (const receipt of receipts) await verifyReceipt(await jwks(), receipt.jws, { issuer: server.ctx.config.publicUrl });
  });

  it("are nobody else's business", async () => {
    const { vendor, id } = await setUp();
    const stranger = await server.person();
    expect(await receiptsOf(stranger)).toEqual([]);
    const otherVendor = await server.vendor('Nosy Shop');
    expect((await server.request({ method: 'GET', url: `/v1/subscriptions/${id}`, headers: otherVendor.auth })).statusCode).toBe(404);
    expect((await vendorView(vendor, id)).receipt).toBeDefined();
  });
});

describe('the export', () => {
  it('holds the subscriptions, the access log and the receipts, as JSON and XML', async () => {
    const { person, vendor, id } = await setUp();
    await server.request({ method: 'PUT', url: '/v1/me/profile', headers: person.auth, payload: { name: { given: 'Hypatia' } } });
    expect((await server.request({ method: 'GET', url: `/v1/subscriptions/${id}/profile`, headers: vendor.auth })).statusCode).toBe(200);
    const json = await server.request({ method: 'GET', url: '/v1/me/export', headers: person.auth });
    expect(json.statusCode).toBe(200);
    const exported = json.json();
    expect(exported.subscriptions.map((s: { id: string }) => s.id)).toEqual([id]);
    expect(exported.accessLog).toHaveLength(1);
    expect(exported.accessLog[0]).toMatchObject({ subscription: id, fields: ['name', 'addresses.home'] });
    expect(exported.receipts).toHaveLength(1);
    const xml = await server.request({ method: 'GET', url: '/v1/me/export', headers: { ...person.auth, accept: 'application/xml' } });
    expect(xml.statusCode, xml.body.slice(0, 500)).toBe(200);
    expect(xml.body).toContain(`<id>${id}</id>`);
  });
});

describe('a grant past its expiry that nobody has read since', () => {
  it('lists as expired, not active, and can no longer be revoked or ended', async () => {
    const { person, vendor, id } = await setUp();
    await server.ctx.db.updateTable('subscriptions').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', id).execute();
    const list = async (status: string) =>
      (await server.request({ method: 'GET', url: `/v1/me/subscriptions?status=${status}`, headers: person.auth })).json().items.map((s: { id: string }) => s.id);
    expect(await list('expired')).toEqual([id]);
    expect(await list('active')).toEqual([]);
    const revoke = await server.request({ method: 'POST', url: `/v1/me/subscriptions/${id}/revoke`, headers: person.auth });
    expect(revoke.statusCode).toBe(409);
    expect(revoke.json()).toMatchObject({ type: 'https://proffer.dev/problems/invalid-state', subscriptionStatus: 'expired' });
    expect((await server.request({ method: 'DELETE', url: `/v1/subscriptions/${id}`, headers: vendor.auth })).statusCode).toBe(409);
  });
});
