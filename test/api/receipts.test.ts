import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProfferProblem, type Receipt, type SubscriptionRequest, type TermsInput } from '../../clients/sdk/index.js';
import { startTestServer, type TestPerson, type TestServer, type TestVendor } from '../helpers/server.js';

// Written with the SDK (clients/sdk): its person and vendor clients, and its receipt verification.

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

const TERMS: TermsInput = {
  rules: [
    { id: 'deliveries', effect: 'permit', fields: ['name', 'emails', 'addresses.*'], purposes: ['fulfillment'], duties: { maxRetentionDays: 90, noThirdPartySharing: true } },
    { id: 'sizes-ask', effect: 'permit', fields: ['preferences'], purposes: ['personalization'], approval: 'ask' },
  ],
};
const FIELDS: SubscriptionRequest['fields'] = [
  { path: 'name', purpose: 'fulfillment', required: true, retentionDays: 30 },
  { path: 'addresses.home', purpose: 'fulfillment', required: true, retentionDays: 30 },
];

async function setUp(fields = FIELDS): Promise<{ person: TestPerson; vendor: TestVendor; id: string; status: string }> {
  const person = await server.person();
  const vendor = await server.vendor('Receipt Shop');
  expect((await person.client.setTerms(TERMS)).version).toBe(2);
  // The typed client underneath the helpers, to see the status itself: 201 (created), not 200 (a retry).
  const { data, response } = await vendor.client.api.POST('/v1/subscriptions', {
    body: { person: person.handle, fields, accepts: { termsVersion: 2, duties: { noThirdPartySharing: true } } },
  });
  expect(response.status).toBe(201);
  return { person, vendor, id: data!.id, status: data!.status };
}

const issuer = () => server.ctx.config.publicUrl;
const receiptsOf = async (person: TestPerson) => (await person.client.receipts()).items;
const vendorView = (vendor: TestVendor, id: string) => vendor.client.getSubscription(id);
const events = (receipts: Receipt[]) => receipts.map((r) => r.receipt.event);

describe('consent receipts', () => {
  it('are issued when the terms grant, identical for both parties, and verify against the published keys', async () => {
    const { person, vendor, id, status } = await setUp();
    expect(status).toBe('active');
    const [mine] = await receiptsOf(person);
    const theirs = (await vendorView(vendor, id)).receipt;
    expect(theirs).toEqual(mine);
    const verified = await server.sdk.verifyReceipt(mine!.jws, { issuer: issuer() });
    expect(verified).toEqual(mine!.receipt);
    expect(verified).toMatchObject({ event: 'granted', status: 'active', subscription: id, piiPrincipalId: person.handle, termsVersion: 2 });
    const paths = verified.services.flatMap((s) => s.purposes.flatMap((p) => p.piiCategory));
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

    // The SDK resolves only on a 2xx, and every status the app answers in tests is one the spec
    // declares: for approve, revoke and terms that is 200 alone.
    expect((await person.client.approve(id, { fields: ['name', 'addresses.home', 'emails.personal'] })).status).toBe('active');
    let receipts = await receiptsOf(person);
    expect(events(receipts)).toEqual(['approved']);

    // New terms no longer give out emails: the optional email leaves the grant, the rest stays.
    await person.client.setTerms({ rules: [{ ...TERMS.rules[0]!, fields: ['name', 'addresses.*'] }] });
    expect((await vendorView(vendor, id)).grant.fields.sort()).toEqual(['addresses.home', 'name']);
    receipts = await receiptsOf(person);
    expect(events(receipts)).toEqual(['narrowed', 'approved']);

    expect((await person.client.revoke(id)).status).toBe('revoked');
    receipts = await receiptsOf(person);
    expect(receipts.map((r) => [r.receipt.event, r.receipt.status])).toEqual([
      ['revoked', 'revoked'],
      ['narrowed', 'active'],
      ['approved', 'active'],
    ]);
    expect((await vendorView(vendor, id)).receipt).toEqual(receipts[0]);
    for (const receipt of receipts) expect(await server.sdk.verifyReceipt(receipt.jws, { issuer: issuer() })).toEqual(receipt.receipt);
  });

  it('page by cursor: every receipt once, newest first, as the full list has them', async () => {
    const { person, id } = await setUp([
      ...FIELDS,
      { path: 'emails.personal', purpose: 'fulfillment', required: false, retentionDays: 30 },
      { path: 'preferences.sizes', purpose: 'personalization', required: false, retentionDays: 30 },
    ]);
    await person.client.approve(id, { fields: ['name', 'addresses.home', 'emails.personal'] });
    await person.client.setTerms({ rules: [{ ...TERMS.rules[0]!, fields: ['name', 'addresses.*'] }] });
    await person.client.revoke(id);
    const all = (await person.client.receipts({ limit: 100 })).items;
    expect(events(all)).toEqual(['revoked', 'narrowed', 'approved']);
    const walked: Receipt[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 10; pages += 1) {
      const page = await person.client.receipts({ limit: 1, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(1);
      walked.push(...page.items);
      if (!page.next) break;
      cursor = page.next;
    }
    expect(walked).toEqual(all);
  });

  it("are nobody else's business", async () => {
    const { vendor, id } = await setUp();
    const stranger = await server.person();
    expect(await receiptsOf(stranger)).toEqual([]);
    const otherVendor = await server.vendor('Nosy Shop');
    await expect(otherVendor.client.getSubscription(id)).rejects.toMatchObject({ status: 404, code: 'not-found' });
    expect((await vendorView(vendor, id)).receipt).toBeDefined();
  });
});

describe('the export', () => {
  it('holds the subscriptions, the access log and the receipts, as JSON and XML', async () => {
    const { person, vendor, id } = await setUp();
    await person.client.setProfile({ name: { given: 'Hypatia' } });
    expect(await vendor.client.readProfile(id)).toEqual({ name: { given: 'Hypatia' } });
    const exported = await person.client.exportData();
    expect(exported.subscriptions.map((s) => s.id)).toEqual([id]);
    expect(exported.accessLog).toHaveLength(1);
    expect(exported.accessLog[0]).toMatchObject({ subscription: id, fields: ['name', 'addresses.home'] });
    expect(exported.receipts).toHaveLength(1);
    const xml = await person.client.exportXml();
    expect(xml).toMatch(/^<\?xml/);
    expect(xml).toContain(`<id>${id}</id>`);
  });
});

describe('a grant past its expiry that nobody has read since', () => {
  it('lists as expired, not active, and can no longer be revoked or ended', async () => {
    const { person, vendor, id } = await setUp();
    await server.ctx.db.updateTable('subscriptions').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', id).execute();
    const list = async (status: 'expired' | 'active') => (await person.client.listSubscriptions({ status })).items.map((s) => s.id);
    expect(await list('expired')).toEqual([id]);
    expect(await list('active')).toEqual([]);
    const revoke = await person.client.revoke(id).catch((error: unknown) => error);
    expect(revoke).toBeInstanceOf(ProfferProblem);
    expect(revoke).toMatchObject({ status: 409, type: 'https://proffer.dev/problems/invalid-state', extensions: { subscriptionStatus: 'expired' } });
    await expect(vendor.client.endSubscription(id)).rejects.toMatchObject({ status: 409 });
  });
});
