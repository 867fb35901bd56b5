import { randomBytes, randomUUID } from 'node:crypto';
import type { InjectOptions } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
interface Offer {
  id: string;
  intentId?: string;
  needId?: string;
  vendor?: { id: string; name: string; homepage: string };
  message: string;
  price?: { amount: number; currency: string };
  validUntil?: string;
  request: { fields: Json[]; needs?: Json; accepts?: Json };
  status: string;
  statusReason?: string;
  subscription: { id: string; status: string } | null;
  createdAt: string;
  updatedAt: string;
  decidedAt: string | null;
}

const P = 'https://proffer.dev/problems/';
const NAME = { path: 'name', purpose: 'fulfillment', required: true, retentionDays: 30 };
const offerBody = (message = 'A 54 cm road bike, serviced, delivered in Lyon.', extra: Json = {}) => ({
  message,
  price: { amount: 550, currency: 'EUR' },
  request: { fields: [NAME], accepts: { duties: { noThirdPartySharing: true } } },
  ...extra,
});

/** Terms that let any vendor have the name for fulfillment at once, under no third-party sharing. */
const nameForOrders = {
  rules: [{ id: 'orders', effect: 'permit', fields: ['name'], purposes: ['fulfillment'], duties: { noThirdPartySharing: true } }],
};

interface Cast {
  person: TestPerson;
  needId: string;
  intentId: string;
}

/** A person with a profile and a public need, and the intent id vendors see it under. */
async function castNeed(person?: TestPerson, need: Json = {}): Promise<Cast> {
  const owner = person ?? (await server.person());
  const profile = await server.request({ method: 'PUT', url: '/v1/me/profile', headers: owner.auth, payload: { name: { given: `Ada${randomBytes(3).toString('hex')}` } } });
  expect(profile.statusCode).toBe(200);
  const category = `t${randomBytes(5).toString('hex')}/bikes`;
  const created = await server.request({ method: 'POST', url: '/v1/me/needs', headers: owner.auth, payload: { title: 'A road bike', category, visibility: 'public', ...need } });
  expect(created.statusCode, created.body).toBe(201);
  const feed = await server.request({ method: 'GET', url: `/v1/intents?format=json&category=${category}` });
  const [item] = feed.json().items as { _proffer: { id: string } }[];
  return { person: owner, needId: created.json().id, intentId: item?._proffer.id ?? '' };
}

const offer = (vendor: TestVendor, intentId: string, body: Json = offerBody()) =>
  server.request({ method: 'POST', url: `/v1/intents/${intentId}/offers`, headers: vendor.auth, payload: body });

async function madeOffer(vendor: TestVendor, intentId: string, body?: Json): Promise<Offer> {
  const response = await offer(vendor, intentId, body);
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

const needOffers = (cast: Cast, query = '') => server.request({ method: 'GET', url: `/v1/me/needs/${cast.needId}/offers${query}`, headers: cast.person.auth });
const act = (cast: Cast, offerId: string, action: 'accept' | 'decline', payload?: Json) =>
  server.request({
    method: 'POST',
    url: `/v1/me/needs/${cast.needId}/offers/${offerId}/${action}`,
    headers: cast.person.auth,
    ...(payload ? { payload } : {}),
  });

// ---------------------------------------------------------------------------------------------

describe('making an offer', () => {
  it('answers a public intent without learning who cast it', async () => {
    const cast = await castNeed();
    const shop = await server.vendor('Velo Lyon');
    const response = await offer(shop, cast.intentId, offerBody('Yours for 550.', { validUntil: '2099-01-01T00:00:00Z' }));
    expect(response.statusCode, response.body).toBe(201);
    const made = response.json<Offer>();
    expect(response.headers.location).toBe(`${server.ctx.config.publicUrl}/v1/offers/${made.id}`);
    expect(made).toMatchObject({
      intentId: cast.intentId,
      message: 'Yours for 550.',
      price: { amount: 550, currency: 'EUR' },
      validUntil: '2099-01-01T00:00:00.000Z',
      status: 'open',
      subscription: null,
      decidedAt: null,
    });
    expect(made.needId).toBeUndefined();
    for (const secret of [cast.person.handle, cast.person.id, cast.needId]) expect(response.body).not.toContain(secret);
    const again = await server.request({ method: 'GET', url: `/v1/offers/${made.id}`, headers: shop.auth });
    expect(again.json()).toEqual(made);
  });

  it('keeps one open offer per vendor and intent: the same body again is that offer, another is refused naming it', async () => {
    const cast = await castNeed();
    const shop = await server.vendor();
    const first = await madeOffer(shop, cast.intentId);
    const retry = await offer(shop, cast.intentId, { request: offerBody().request, price: offerBody().price, message: offerBody().message });
    expect(retry.statusCode).toBe(200);
    expect(retry.json().id).toBe(first.id);
    const other = expectProblem(await offer(shop, cast.intentId, offerBody('Cheaper now.')), 409) as unknown as Json;
    expect(other.type).toBe(`${P}offer-exists`);
    expect(other.offerId).toBe(first.id);

    const withdrawn = await server.request({ method: 'DELETE', url: `/v1/offers/${first.id}`, headers: shop.auth });
    expect(withdrawn.statusCode).toBe(200);
    expect(withdrawn.json()).toMatchObject({ status: 'withdrawn', statusReason: 'Withdrawn by the vendor.' });
    const second = await madeOffer(shop, cast.intentId, offerBody('Cheaper now.'));
    expect(second.id).not.toBe(first.id);
    // Another vendor has its own place.
    await madeOffer(await server.vendor(), cast.intentId);
    const listed = (await needOffers(cast)).json().items as Offer[];
    expect(listed.map((o) => o.status).sort()).toEqual(['open', 'open', 'withdrawn']);
  });

  it('refuses bad offers, and a refused offer leaves nothing behind', async () => {
    const cast = await castNeed();
    const shop = await server.vendor();
    const past = new Date(Date.now() - 60_000).toISOString();
    for (const [body, pointer] of [
      [{ ...offerBody(), message: '' }, '/message'],
      [{ ...offerBody(), validUntil: past }, '/validUntil'],
      [{ ...offerBody(), validUntil: 'tomorrow' }, '/validUntil'],
      [{ ...offerBody(), price: { amount: -1, currency: 'EUR' } }, '/price/amount'],
      [{ ...offerBody(), request: { fields: [] } }, '/request/fields'],
      [{ ...offerBody(), request: { fields: [NAME], accepts: { termsVersion: 1, duties: {} } } }, '/request/accepts/termsVersion'],
      [{ ...offerBody(), person: cast.person.handle }, '/person'],
    ] as const) {
      expectProblem(await offer(shop, cast.intentId, body), 400, pointer);
    }
    expect((await needOffers(cast)).json().items).toEqual([]);
    expect((await server.request({ method: 'GET', url: '/v1/offers', headers: shop.auth })).json().items).toEqual([]);
  });

  it('finds no intent that is unknown, private, closed, or a need id, and says so alike', async () => {
    const shop = await server.vendor();
    const privateCast = await castNeed(undefined, { visibility: 'subscribers' });
    const privateIntent = await server.ctx.db.selectFrom('needs').select('intent_id').where('id', '=', privateCast.needId).executeTakeFirstOrThrow();
    const closed = await castNeed();
    expect((await server.request({ method: 'PATCH', url: `/v1/me/needs/${closed.needId}`, headers: closed.person.auth, payload: { status: 'fulfilled' } })).statusCode).toBe(200);
    const open = await castNeed();
    const details = new Set<string>();
    for (const intentId of [randomUUID(), privateIntent.intent_id, closed.intentId, open.needId]) {
      details.add(expectProblem(await offer(shop, intentId), 404).detail);
    }
    expect(details.size).toBe(1);
    expect((await server.request({ method: 'GET', url: '/v1/offers', headers: shop.auth })).json().items).toEqual([]);
  });
});

describe('who sees which offers', () => {
  it('a vendor sees only its own offers; a person only those on their own need', async () => {
    const cast = await castNeed();
    const otherCast = await castNeed();
    const shop = await server.vendor('Shop A');
    const rival = await server.vendor('Shop B');
    const mine = await madeOffer(shop, cast.intentId);
    const theirs = await madeOffer(rival, cast.intentId);
    await madeOffer(rival, otherCast.intentId);

    const shopList = (await server.request({ method: 'GET', url: '/v1/offers', headers: shop.auth })).json().items as Offer[];
    expect(shopList.map((o) => o.id)).toEqual([mine.id]);
    expectProblem(await server.request({ method: 'GET', url: `/v1/offers/${theirs.id}`, headers: shop.auth }), 404);
    expectProblem(await server.request({ method: 'DELETE', url: `/v1/offers/${theirs.id}`, headers: shop.auth }), 404);

    const personList = (await needOffers(cast)).json().items as Offer[];
    expect(personList.map((o) => o.id).sort()).toEqual([mine.id, theirs.id].sort());
    expect(personList.find((o) => o.id === mine.id)).toMatchObject({ needId: cast.needId, vendor: { id: shop.id, name: 'Shop A', homepage: 'https://vendor.example' } });
    // Someone else's need, or an offer under another need: not found.
    expectProblem(await server.request({ method: 'GET', url: `/v1/me/needs/${cast.needId}/offers`, headers: otherCast.person.auth }), 404);
    expectProblem(await server.request({ method: 'GET', url: `/v1/me/needs/${otherCast.needId}/offers/${mine.id}`, headers: otherCast.person.auth }), 404);
    expectProblem(await act(otherCast, mine.id, 'accept'), 404);
    expectProblem(await act(otherCast, mine.id, 'decline'), 404);
    expect((await server.request({ method: 'GET', url: `/v1/me/needs/${cast.needId}/offers/${mine.id}`, headers: cast.person.auth })).json().status).toBe('open');
  });

  const wrongPrincipals: [string, (c: { cast: Cast; shop: TestVendor; offerId: string }) => InjectOptions, 'person' | 'vendor'][] = [
    ['POST /v1/intents/{intentId}/offers', ({ cast }) => ({ method: 'POST', url: `/v1/intents/${cast.intentId}/offers`, payload: offerBody() }), 'vendor'],
    ['GET /v1/offers', () => ({ method: 'GET', url: '/v1/offers' }), 'vendor'],
    ['GET /v1/offers/{offerId}', ({ offerId }) => ({ method: 'GET', url: `/v1/offers/${offerId}` }), 'vendor'],
    ['DELETE /v1/offers/{offerId}', ({ offerId }) => ({ method: 'DELETE', url: `/v1/offers/${offerId}` }), 'vendor'],
    ['GET /v1/me/needs/{needId}/offers', ({ cast }) => ({ method: 'GET', url: `/v1/me/needs/${cast.needId}/offers` }), 'person'],
    ['GET /v1/me/needs/{needId}/offers/{offerId}', ({ cast, offerId }) => ({ method: 'GET', url: `/v1/me/needs/${cast.needId}/offers/${offerId}` }), 'person'],
    ['POST …/accept', ({ cast, offerId }) => ({ method: 'POST', url: `/v1/me/needs/${cast.needId}/offers/${offerId}/accept` }), 'person'],
    ['POST …/decline', ({ cast, offerId }) => ({ method: 'POST', url: `/v1/me/needs/${cast.needId}/offers/${offerId}/decline` }), 'person'],
  ];
  it.each(wrongPrincipals)('%s refuses no token (401) and the other kind of principal (403), and changes nothing', async (_name, build, principal) => {
    const cast = await castNeed();
    const shop = await server.vendor();
    const made = await madeOffer(shop, cast.intentId);
    const options = build({ cast, shop, offerId: made.id });
    expectProblem(await server.request(options), 401);
    const wrong = principal === 'vendor' ? cast.person.auth : shop.auth;
    expect(expectProblem(await server.request({ ...options, headers: wrong }), 403).type).toBe(`${P}wrong-principal`);
    const after = (await server.request({ method: 'GET', url: `/v1/offers/${made.id}`, headers: shop.auth })).json<Offer>();
    expect(after).toEqual(made);
    expect((await server.request({ method: 'GET', url: '/v1/offers', headers: shop.auth })).json().items).toHaveLength(1);
  });
});

describe('accepting an offer', () => {
  it('makes the subscription request the offer describes, decided by the terms (asked: pending)', async () => {
    const cast = await castNeed();
    const shop = await server.vendor('Velo Lyon');
    const made = await madeOffer(shop, cast.intentId, offerBody('Bike', { request: { fields: [NAME], needs: { categories: ['sports'], purpose: 'offers', retentionDays: 30, required: false } } }));
    const accepted = await act(cast, made.id, 'accept');
    expect(accepted.statusCode, accepted.body).toBe(200);
    const view = accepted.json<Offer>();
    expect(view).toMatchObject({ status: 'accepted', statusReason: 'Accepted by the person.', subscription: { status: 'pending' } });
    expect(view.decidedAt).not.toBeNull();

    const subscriptionId = view.subscription?.id as string;
    const subscription = await server.request({ method: 'GET', url: `/v1/subscriptions/${subscriptionId}`, headers: shop.auth });
    expect(subscription.statusCode).toBe(200);
    // From here on the vendor knows whom it deals with: accepting is consenting to that.
    expect(subscription.json()).toMatchObject({
      person: cast.person.handle,
      status: 'pending',
      request: { fields: [NAME], needs: { categories: ['sports'] }, accepts: { termsVersion: 1, duties: {} } },
    });
    const vendorView = (await server.request({ method: 'GET', url: `/v1/offers/${made.id}`, headers: shop.auth })).json<Offer>();
    expect(vendorView).toMatchObject({ status: 'accepted', subscription: { id: subscriptionId, status: 'pending' } });

    // The person decides the pending request as any other; both views follow the subscription.
    expect((await server.request({ method: 'POST', url: `/v1/me/subscriptions/${subscriptionId}/approve`, headers: cast.person.auth })).statusCode).toBe(200);
    expect((await server.request({ method: 'GET', url: `/v1/offers/${made.id}`, headers: shop.auth })).json().subscription).toEqual({ id: subscriptionId, status: 'active' });
  });

  it('binds the vendor to the terms current at acceptance, which may grant at once or refuse', async () => {
    const cast = await castNeed();
    const shop = await server.vendor();
    const made = await madeOffer(shop, cast.intentId);
    const terms = await server.request({ method: 'PUT', url: '/v1/me/terms', headers: cast.person.auth, payload: nameForOrders });
    expect(terms.json().version).toBe(2);
    const accepted = (await act(cast, made.id, 'accept')).json<Offer>();
    expect(accepted.subscription?.status).toBe('active');
    const subscription = (await server.request({ method: 'GET', url: `/v1/subscriptions/${accepted.subscription?.id}`, headers: shop.auth })).json();
    expect(subscription.grant).toMatchObject({ fields: ['name'], termsVersion: 2 });
    expect(subscription.request.accepts).toEqual({ termsVersion: 2, duties: { noThirdPartySharing: true } });
    expect((await server.request({ method: 'GET', url: `/v1/subscriptions/${accepted.subscription?.id}/profile`, headers: shop.auth })).statusCode).toBe(200);

    const refusing = await castNeed();
    await server.request({ method: 'PUT', url: '/v1/me/terms', headers: refusing.person.auth, payload: { rules: [{ id: 'no-names', effect: 'deny', fields: ['name'] }] } });
    const refused = (await act(refusing, (await madeOffer(shop, refusing.intentId)).id, 'accept')).json<Offer>();
    expect(refused).toMatchObject({ status: 'accepted', subscription: { status: 'rejected' } });
  });

  it('is answered as it is when repeated, even at once, and makes one request only', async () => {
    const cast = await castNeed();
    const shop = await server.vendor();
    const made = await madeOffer(shop, cast.intentId);
    const [a, b] = await Promise.all([act(cast, made.id, 'accept'), act(cast, made.id, 'accept')]);
    expect([a?.statusCode, b?.statusCode]).toEqual([200, 200]);
    expect(a?.json().subscription.id).toBe(b?.json().subscription.id);
    const again = await act(cast, made.id, 'accept');
    expect(again.json().subscription.id).toBe(a?.json().subscription.id);
    const subscriptions = (await server.request({ method: 'GET', url: '/v1/subscriptions', headers: shop.auth })).json().items as unknown[];
    expect(subscriptions).toHaveLength(1);
  });

  it('finishes an acceptance cut short after its request was made, without a second request', async () => {
    const cast = await castNeed();
    const shop = await server.vendor();
    const made = await madeOffer(shop, cast.intentId);
    const first = (await act(cast, made.id, 'accept')).json<Offer>();
    // As if the server had stopped between making the request and linking it.
    await sql`update offers set subscription_id = null where id = ${made.id}`.execute(server.ctx.db);
    const resumed = (await act(cast, made.id, 'accept')).json<Offer>();
    expect(resumed.subscription?.id).toBe(first.subscription?.id);
    expect((await server.request({ method: 'GET', url: '/v1/subscriptions', headers: shop.auth })).json().items).toHaveLength(1);
  });

  it('only an open offer: declined, withdrawn, accepted and lapsed ones are refused with their status', async () => {
    const cast = await castNeed();
    const [a, b, c, d] = await Promise.all([server.vendor(), server.vendor(), server.vendor(), server.vendor()]);
    const declined = await madeOffer(a as TestVendor, cast.intentId);
    const withdrawn = await madeOffer(b as TestVendor, cast.intentId);
    const accepted = await madeOffer(c as TestVendor, cast.intentId);
    const lapsing = await madeOffer(d as TestVendor, cast.intentId, offerBody('Soon gone', { validUntil: new Date(Date.now() + 3_600_000).toISOString() }));

    const declining = await act(cast, declined.id, 'decline', { reason: 'Found one already.' });
    expect(declining.statusCode).toBe(200);
    expect(declining.json()).toMatchObject({ status: 'declined', statusReason: 'Found one already.' });
    // The vendor is told, with the person's words.
    expect((await server.request({ method: 'GET', url: `/v1/offers/${declined.id}`, headers: (a as TestVendor).auth })).json()).toMatchObject({ status: 'declined', statusReason: 'Found one already.' });
    expect((await server.request({ method: 'DELETE', url: `/v1/offers/${withdrawn.id}`, headers: (b as TestVendor).auth })).statusCode).toBe(200);
    expect((await act(cast, accepted.id, 'accept')).statusCode).toBe(200);
    // The clock passes the offer's validUntil.
    await sql`update offers set valid_until = now() - interval '1 second' where id = ${lapsing.id}`.execute(server.ctx.db);

    for (const [offerId, status] of [[declined.id, 'declined'], [withdrawn.id, 'withdrawn'], [lapsing.id, 'expired']] as const) {
      const refused = expectProblem(await act(cast, offerId, 'accept'), 409) as unknown as Json;
      expect(refused).toMatchObject({ type: `${P}invalid-state`, offerStatus: status });
    }
    for (const [offerId, status] of [[declined.id, 'declined'], [accepted.id, 'accepted'], [lapsing.id, 'expired']] as const) {
      expect(expectProblem(await act(cast, offerId, 'decline'), 409) as unknown as Json).toMatchObject({ offerStatus: status });
    }
    expect(expectProblem(await server.request({ method: 'DELETE', url: `/v1/offers/${accepted.id}`, headers: (c as TestVendor).auth }), 409) as unknown as Json).toMatchObject({ offerStatus: 'accepted' });
    expect((await needOffers(cast, '?status=expired')).json().items.map((o: Offer) => o.id)).toEqual([lapsing.id]);
    expect((await needOffers(cast, '?status=open')).json().items).toEqual([]);
    // A lapsed offer holds no place: its vendor may offer again.
    expect((await offer(d as TestVendor, cast.intentId, offerBody('Renewed'))).statusCode).toBe(201);
  });

  it('refuses a bad decline body and changes nothing', async () => {
    const cast = await castNeed();
    const made = await madeOffer(await server.vendor(), cast.intentId);
    expectProblem(await act(cast, made.id, 'decline', { reason: 'x'.repeat(501) }), 400, '/reason');
    expectProblem(await act(cast, made.id, 'decline', { why: 'no' }), 400);
    expect((await needOffers(cast)).json().items[0].status).toBe('open');
  });
});

describe('an offer lives as long as its need', () => {
  it('goes when the need is deleted, or when the person erases themselves', async () => {
    const shop = await server.vendor();
    const deleted = await castNeed();
    const erased = await castNeed();
    const onDeleted = await madeOffer(shop, deleted.intentId);
    const onErased = await madeOffer(shop, erased.intentId);
    expect((await server.request({ method: 'DELETE', url: `/v1/me/needs/${deleted.needId}`, headers: deleted.person.auth })).statusCode).toBe(204);
    expect((await server.request({ method: 'DELETE', url: '/v1/me', headers: erased.person.auth })).statusCode).toBe(204);
    for (const id of [onDeleted.id, onErased.id]) expectProblem(await server.request({ method: 'GET', url: `/v1/offers/${id}`, headers: shop.auth }), 404);
    expect((await server.request({ method: 'GET', url: '/v1/offers', headers: shop.auth })).json().items).toEqual([]);
  });

  it('stays listed for the person after the need is closed, and pages', async () => {
    const cast = await castNeed();
    const vendors = await Promise.all([0, 1, 2].map(() => server.vendor()));
    for (const vendor of vendors) await madeOffer(vendor, cast.intentId);
    expect((await server.request({ method: 'PATCH', url: `/v1/me/needs/${cast.needId}`, headers: cast.person.auth, payload: { visibility: 'subscribers' } })).statusCode).toBe(200);
    const first = (await needOffers(cast, '?limit=2')).json();
    expect(first.items).toHaveLength(2);
    const second = (await needOffers(cast, `?limit=2&cursor=${first.next}`)).json();
    expect(second.items).toHaveLength(1);
    expect(second.next).toBeNull();
    expect(new Set([...first.items, ...second.items].map((o: Offer) => o.vendor?.id))).toEqual(new Set(vendors.map((v) => v.id)));
    expectProblem(await needOffers(cast, '?cursor=bm9wZQ'), 400, '/cursor');
  });
});
