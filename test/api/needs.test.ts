import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromXml } from '../../server/xml/index.js';
import { expectProblem } from '../helpers/problems.js';
import { child, parseXmlTree } from '../helpers/xml.js';
import { startTestServer, type TestPerson, type TestServer } from '../helpers/server.js';

const NS = 'https://proffer.dev/ns/1';
const SCHEMAS = 'https://proffer.dev/schemas/';
const NEEDS = '/v1/me/needs';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PAST = '2000-01-01';
const FUTURE = '2999-12-31';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

// ---------------------------------------------------------------------------------------------
// Helpers

type Json = Record<string, unknown>;

interface Need {
  id: string;
  title: string;
  description?: string;
  category: string;
  quantity?: number;
  budget?: { min?: number; max?: number; currency: string };
  location?: Record<string, string>;
  wantedBy?: string;
  status: 'open' | 'fulfilled' | 'withdrawn' | 'expired';
  visibility: 'subscribers' | 'public';
  version: number;
  createdAt: string;
  updatedAt: string;
}

interface NeedList {
  items: Need[];
  next: string | null;
}

const BIKE: Json = {
  title: 'A second-hand road bike, 54 cm frame',
  description: 'Steel frame preferred.',
  category: 'sports/cycling',
  quantity: 1,
  budget: { min: 100, max: 600, currency: 'EUR' },
  location: { locality: 'Lyon', country: 'FR' },
  wantedBy: FUTURE,
  visibility: 'public',
};

const BIKE_XML = `<?xml version="1.0" encoding="UTF-8"?>
<need xmlns="${NS}">
  <title>A second-hand road bike, 54 cm frame</title>
  <description>Steel frame preferred.</description>
  <category>sports/cycling</category>
  <quantity>1</quantity>
  <budget><min>100</min><max>600</max><currency>EUR</currency></budget>
  <location><locality>Lyon</locality><country>FR</country></location>
  <wantedBy>${FUTURE}</wantedBy>
  <visibility>public</visibility>
</need>`;

const needUrl = (id: string) => `${NEEDS}/${id}`;

function body(payload: unknown): string {
  return typeof payload === 'string' ? payload : JSON.stringify(payload);
}

async function create(who: TestPerson, payload: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return server.request({ method: 'POST', url: NEEDS, headers: { 'content-type': 'application/json', ...who.auth, ...headers }, payload: body(payload) });
}

async function createOk(who: TestPerson, payload: unknown = { title: 'Something', category: 'misc' }): Promise<Need> {
  const response = await create(who, payload);
  expect(response.statusCode, response.body).toBe(201);
  return response.json<Need>();
}

async function getNeed(who: TestPerson, id: string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return server.request({ method: 'GET', url: needUrl(id), headers: { ...who.auth, ...headers } });
}

async function patch(who: TestPerson, id: string, payload: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return server.request({
    method: 'PATCH',
    url: needUrl(id),
    headers: { 'content-type': 'application/merge-patch+json', ...who.auth, ...headers },
    payload: body(payload),
  });
}

async function patchOk(who: TestPerson, id: string, payload: unknown): Promise<Need> {
  const response = await patch(who, id, payload);
  expect(response.statusCode, response.body).toBe(200);
  return response.json<Need>();
}

async function remove(who: TestPerson, id: string): Promise<LightMyRequestResponse> {
  return server.request({ method: 'DELETE', url: needUrl(id), headers: who.auth });
}

async function list(who: TestPerson, query = '', headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return server.request({ method: 'GET', url: `${NEEDS}${query}`, headers: { ...who.auth, ...headers } });
}

async function listOk(who: TestPerson, query = ''): Promise<NeedList> {
  const response = await list(who, query);
  expect(response.statusCode, response.body).toBe(200);
  return response.json<NeedList>();
}

/** Every page of the person's list, following `next`. */
async function walk(who: TestPerson, query: string): Promise<{ pages: NeedList[]; items: Need[] }> {
  const pages: NeedList[] = [];
  let next: string | null = null;
  do {
    const separator = query ? '&' : '';
    const page = await listOk(who, `?${query}${next ? `${separator}cursor=${next}` : ''}`);
    pages.push(page);
    next = page.next;
    expect(pages.length).toBeLessThan(50);
  } while (next !== null);
  return { pages, items: pages.flatMap((p) => p.items) };
}

/** Newest first: createdAt descending, then id descending for needs made in the same millisecond. */
function newestFirst(a: Need, b: Need): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** Everything stored for a person's needs: the rows and every event, oldest first. */
async function stored(who: TestPerson) {
  const { db } = server.ctx;
  const needs = await db
    .selectFrom('needs')
    .select(['id', 'document', 'status', 'visibility', 'category', 'wanted_by', 'version', 'updated_at'])
    .where('person_id', '=', who.id)
    .orderBy('id')
    .execute();
  const events = await db
    .selectFrom('events')
    .select(['id', 'kind', 'subject', 'version', 'data'])
    .where('person_id', '=', who.id)
    .orderBy('id')
    .execute();
  return { needs, events };
}



function fromNeedXml(text: string, root: 'need' | 'needs', schema: string): unknown {
  return fromXml(text, { root, schemaRef: SCHEMAS + schema, schemas: server.ctx.contract.xmlSchemas });
}

// ---------------------------------------------------------------------------------------------

describe('POST /v1/me/needs', () => {
  it('creates a need from JSON: 201, Location, open, version 1, a need.created event', async () => {
    const who = await server.person();
    const response = await create(who, BIKE);
    expect(response.statusCode, response.body).toBe(201);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const need = response.json<Need>();
    expect(need.id).toMatch(UUID);
    expect(response.headers.location).toBe(`http://proffer.test/v1/me/needs/${need.id}`);
    expect(need).toStrictEqual({ ...BIKE, id: need.id, status: 'open', version: 1, createdAt: need.createdAt, updatedAt: need.createdAt });
    expect(Date.parse(need.createdAt)).not.toBeNaN();

    const { needs, events } = await stored(who);
    expect(needs).toHaveLength(1);
    expect(needs[0]).toMatchObject({ id: need.id, status: 'open', visibility: 'public', category: 'sports/cycling', wanted_by: FUTURE, version: 1 });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: 'need.created', subject: need.id, version: 1 });
    expect((events[0]?.data as Json).need).toStrictEqual(need);
  });

  it('defaults visibility to subscribers', async () => {
    const who = await server.person();
    const need = await createOk(who, { title: 'Tea', category: 'food/tea' });
    expect(need).toStrictEqual({
      id: need.id,
      title: 'Tea',
      category: 'food/tea',
      status: 'open',
      visibility: 'subscribers',
      version: 1,
      createdAt: need.createdAt,
      updatedAt: need.createdAt,
    });
  });

  it.each([['application/xml'], ['text/xml']])('creates a need from XML sent as %s', async (contentType) => {
    const who = await server.person();
    const response = await create(who, BIKE_XML, { 'content-type': contentType });
    expect(response.statusCode, response.body).toBe(201);
    const need = response.json<Need>();
    expect(need).toStrictEqual({ ...BIKE, id: need.id, status: 'open', version: 1, createdAt: need.createdAt, updatedAt: need.createdAt });
    expect(response.headers.location).toBe(`http://proffer.test/v1/me/needs/${need.id}`);
    const read = await getNeed(who, need.id);
    expect(read.json()).toStrictEqual(need);
  });

  it('answers in XML when asked to', async () => {
    const who = await server.person();
    const response = await create(who, { title: 'Tea', category: 'food/tea', quantity: 3 }, { accept: 'application/xml' });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.headers['content-type']).toMatch(/^application\/xml/);
    const root = parseXmlTree(response.body);
    expect(root.local).toBe('need');
    expect(root.uri).toBe(NS);
    expect(child(root, 'status').text).toBe('open');
    expect(child(root, 'visibility').text).toBe('subscribers');
    expect(child(root, 'version').text).toBe('1');
    const need = fromNeedXml(response.body, 'need', 'need.json') as Need;
    expect(need).toMatchObject({ title: 'Tea', category: 'food/tea', quantity: 3, status: 'open', version: 1 });
    expect(response.headers.location).toBe(`http://proffer.test/v1/me/needs/${need.id}`);
  });

  it('refuses Accept text/html with 406 and creates nothing', async () => {
    const who = await server.person();
    expectProblem(await create(who, BIKE, { accept: 'text/html' }), 406);
    expect(await stored(who)).toEqual({ needs: [], events: [] });
  });
});

describe('POST /v1/me/needs with an Idempotency-Key', () => {
  it('a retry answers the first need, as it is now (200, no Location), and adds no need and no event', async () => {
    const who = await server.person();
    const key = randomUUID();
    const first = await create(who, BIKE, { 'idempotency-key': key });
    expect(first.statusCode, first.body).toBe(201);
    const need = first.json<Need>();
    const again = await create(who, BIKE, { 'idempotency-key': key });
    expect(again.statusCode, again.body).toBe(200);
    expect(again.headers.location).toBeUndefined();
    expect(again.json()).toStrictEqual(need);
    // The same need sent as XML, or with its keys in another order, is the same request.
    const asXml = await create(who, BIKE_XML, { 'idempotency-key': key, 'content-type': 'application/xml' });
    expect(asXml.statusCode, asXml.body).toBe(200);
    expect(asXml.json<Need>().id).toBe(need.id);
    const reordered = Object.fromEntries(Object.entries(BIKE).reverse());
    expect((await create(who, reordered, { 'idempotency-key': key })).json<Need>().id).toBe(need.id);
    // Changed since: the retry answers it as it stands.
    const changed = await patchOk(who, need.id, { status: 'fulfilled' });
    const late = await create(who, BIKE, { 'idempotency-key': key });
    expect(late.statusCode).toBe(200);
    expect(late.json()).toStrictEqual(changed);

    const { needs, events } = await stored(who);
    expect(needs.map((n) => n.id)).toEqual([need.id]);
    expect(events.map((e) => e.kind)).toEqual(['need.created', 'need.updated']);
  });

  it('the same key with another need is refused (422) and changes nothing', async () => {
    const who = await server.person();
    const key = randomUUID();
    const need = (await create(who, BIKE, { 'idempotency-key': key })).json<Need>();
    const before = await stored(who);
    expect(expectProblem(await create(who, { ...BIKE, title: 'A different bike' }, { 'idempotency-key': key }), 422).type).toBe('https://proffer.dev/problems/idempotency-key-reused');
    expect(await stored(who)).toEqual(before);
    expect(before.needs.map((n) => n.id)).toEqual([need.id]);
  });

  it('without a key, or under a new one, each request is a new need', async () => {
    const who = await server.person();
    await createOk(who, BIKE);
    await createOk(who, BIKE);
    expect((await create(who, BIKE, { 'idempotency-key': randomUUID() })).statusCode).toBe(201);
    expect((await create(who, BIKE, { 'idempotency-key': randomUUID() })).statusCode).toBe(201);
    expect((await stored(who)).needs).toHaveLength(4);
  });

  it("keys are each person's own: another person's same key makes their own need, and never answers A's", async () => {
    const a = await server.person();
    const b = await server.person();
    const key = randomUUID();
    const needOfA = (await create(a, BIKE, { 'idempotency-key': key })).json<Need>();
    const ofB = await create(b, BIKE, { 'idempotency-key': key });
    expect(ofB.statusCode, ofB.body).toBe(201);
    expect(ofB.json<Need>().id).not.toBe(needOfA.id);
    // And a different body under A's key is a third person's own first use.
    const c = await server.person();
    expect((await create(c, { title: 'Tea', category: 'food/tea' }, { 'idempotency-key': key })).statusCode).toBe(201);
    expect((await stored(a)).needs.map((n) => n.id)).toEqual([needOfA.id]);
  });

  it('two attempts with one key at once make one need', async () => {
    const who = await server.person();
    const key = randomUUID();
    const answers = await Promise.all(Array.from({ length: 4 }, () => create(who, BIKE, { 'idempotency-key': key })));
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 200, 200, 201]);
    expect(new Set(answers.map((r) => r.json<Need>().id)).size).toBe(1);
    const { needs, events } = await stored(who);
    expect(needs).toHaveLength(1);
    expect(events).toHaveLength(1);
  });

  it('a deleted need no longer holds its key', async () => {
    const who = await server.person();
    const key = randomUUID();
    const need = (await create(who, BIKE, { 'idempotency-key': key })).json<Need>();
    expect((await remove(who, need.id)).statusCode).toBe(204);
    const anew = await create(who, BIKE, { 'idempotency-key': key });
    expect(anew.statusCode, anew.body).toBe(201);
    expect(anew.json<Need>().id).not.toBe(need.id);
  });

  it.each([['', 'empty'], ['a'.repeat(201), 'too long'], ['has space', 'a space'], ['clé', 'not ASCII']])('refuses a key that is %s (%s) with 400 and creates nothing', async (key) => {
    const who = await server.person();
    expectProblem(await create(who, BIKE, { 'idempotency-key': key }), 400);
    expect(await stored(who)).toEqual({ needs: [], events: [] });
  });

  it('a bad need under a key creates nothing and leaves the key free', async () => {
    const who = await server.person();
    const key = randomUUID();
    expectProblem(await create(who, { ...BIKE, budget: { min: 700, max: 600, currency: 'EUR' } }, { 'idempotency-key': key }), 400);
    expect(await stored(who)).toEqual({ needs: [], events: [] });
    expect((await create(who, BIKE, { 'idempotency-key': key })).statusCode).toBe(201);
  });
});

describe('GET /v1/me/needs/{needId}', () => {
  it('reads a need as JSON and as XML, the same data', async () => {
    const who = await server.person();
    const created = await createOk(who, BIKE);
    const json = await getNeed(who, created.id);
    expect(json.statusCode).toBe(200);
    expect(json.headers['content-type']).toMatch(/^application\/json/);
    expect(json.json()).toStrictEqual(created);

    const xml = await getNeed(who, created.id, { accept: 'application/xml' });
    expect(xml.statusCode, xml.body).toBe(200);
    expect(xml.headers['content-type']).toMatch(/^application\/xml/);
    const root = parseXmlTree(xml.body);
    expect(root.local).toBe('need');
    expect(root.uri).toBe(NS);
    expect(child(root, 'id').text).toBe(created.id);
    expect(child(root, 'title').text).toBe(BIKE.title);
    expect(child(child(root, 'budget'), 'max').text).toBe('600');
    expect(fromNeedXml(xml.body, 'need', 'need.json')).toStrictEqual(created);
  });

  it('is 404 for an unknown id and 400 for an id that is not a UUID', async () => {
    const who = await server.person();
    expectProblem(await getNeed(who, randomUUID()), 404);
    expectProblem(await getNeed(who, 'not-a-uuid'), 400, '/needId');
    expectProblem(await getNeed(who, '123'), 400, '/needId');
  });
});

describe('GET /v1/me/needs', () => {
  let who: TestPerson;
  let created: Need[];
  beforeAll(async () => {
    who = await server.person();
    created = [];
    for (let i = 1; i <= 7; i++) created.push(await createOk(who, { title: `Need number ${i}`, category: 'books' }));
  });

  it('lists newest first on one page by default, with next null', async () => {
    const page = await listOk(who);
    expect(page.next).toBeNull();
    expect(page.items).toStrictEqual([...created].sort(newestFirst));
    expect(page.items.map((n) => n.title)).toHaveLength(7);
  });

  it('walks all pages with limit=3: every need exactly once, in order', async () => {
    const { pages, items } = await walk(who, 'limit=3');
    expect(pages.map((p) => p.items.length)).toEqual([3, 3, 1]);
    expect(pages.at(-1)?.next).toBeNull();
    expect(pages.slice(0, -1).every((p) => typeof p.next === 'string' && /^[A-Za-z0-9_-]+$/.test(p.next))).toBe(true);
    expect(items).toStrictEqual([...created].sort(newestFirst));
    expect(new Set(items.map((n) => n.id)).size).toBe(7);
  });

  it.each([[1], [2], [6], [7], [100]])('walks all pages with limit=%i', async (limit) => {
    const { pages, items } = await walk(who, `limit=${limit}`);
    expect(pages).toHaveLength(Math.max(1, Math.ceil(7 / limit)));
    expect(items).toStrictEqual([...created].sort(newestFirst));
  });

  it('lists as XML, the same page', async () => {
    const json = await listOk(who, '?limit=3');
    const xml = await list(who, '?limit=3', { accept: 'application/xml' });
    expect(xml.statusCode, xml.body).toBe(200);
    expect(xml.headers['content-type']).toMatch(/^application\/xml/);
    const root = parseXmlTree(xml.body);
    expect(root.local).toBe('needs');
    expect(root.uri).toBe(NS);
    expect(child(root, 'items').children.map((c) => c.local)).toEqual(['item', 'item', 'item']);
    expect(child(root, 'next').text).toBe(json.next);
    expect(fromNeedXml(xml.body, 'needs', 'need.json#/$defs/needList')).toStrictEqual(json);

    const empty = await list(await server.person(), '', { accept: 'application/xml' });
    expect(empty.statusCode).toBe(200);
    const emptyRoot = parseXmlTree(empty.body);
    expect(child(emptyRoot, 'items').children).toEqual([]);
    expect(child(emptyRoot, 'next').attributes.nil).toBe('true');
  });

  it.each<[string, string]>([
    ['limit=0', '/limit'],
    ['limit=101', '/limit'],
    ['limit=abc', '/limit'],
    ['limit=1.5', '/limit'],
    ['limit=-1', '/limit'],
    ['status=closed', '/status'],
    ['status=', '/status'],
    ['cursor=abc', '/cursor'],
    ['cursor=not%2Bvalid', '/cursor'],
    [`cursor=${'a'.repeat(201)}`, '/cursor'],
    [`cursor=${Buffer.from(JSON.stringify(['yesterday', 'x'])).toString('base64url')}`, '/cursor'],
    [`cursor=${Buffer.from(JSON.stringify({ createdAt: new Date().toISOString() })).toString('base64url')}`, '/cursor'],
    [`cursor=${Buffer.from(JSON.stringify([new Date().toISOString(), "' or 1=1 --'"])).toString('base64url')}`, '/cursor'],
  ])('refuses ?%s with 400 at %s', async (query, pointer) => {
    expectProblem(await list(who, `?${query}`), 400, pointer);
  });

  it('refuses an unknown query parameter', async () => {
    expectProblem(await list(who, '?sort=oldest'), 400);
    expectProblem(await list(who, '?limit=3&offset=3'), 400);
  });

  it('refuses Accept text/html with 406', async () => {
    expectProblem(await list(who, '', { accept: 'text/html' }), 406);
  });
});

describe('PATCH /v1/me/needs/{needId}', () => {
  it.each([['application/merge-patch+json'], ['application/json']])(
    'as %s: merges, null removes, the version bumps, a need.updated event is written',
    async (contentType) => {
      const who = await server.person();
      const need = await createOk(who, BIKE);
      // Objects merge: budget.min and location.locality/country are kept.
      const response = await patch(who, need.id, { description: null, budget: { max: 700, currency: 'EUR' }, location: { region: 'Rhône' } }, { 'content-type': contentType });
      expect(response.statusCode, response.body).toBe(200);
      const patched = response.json<Need>();
      const expected: Json = {
        ...need,
        budget: { min: 100, max: 700, currency: 'EUR' },
        location: { locality: 'Lyon', country: 'FR', region: 'Rhône' },
        version: 2,
        updatedAt: patched.updatedAt,
      };
      delete expected.description;
      expect(patched).toStrictEqual(expected);
      expect(patched.updatedAt >= need.updatedAt).toBe(true);
      expect((await getNeed(who, need.id)).json()).toStrictEqual(patched);

      const { events, needs } = await stored(who);
      expect(needs[0]).toMatchObject({ version: 2 });
      expect(events.map((e) => [e.kind, e.subject, e.version])).toEqual([
        ['need.created', need.id, 1],
        ['need.updated', need.id, 2],
      ]);
      expect((events[1]?.data as Json).need).toStrictEqual(patched);
    },
  );

  it('null removes whole optional objects and values', async () => {
    const who = await server.person();
    const need = await createOk(who, BIKE);
    const patched = await patchOk(who, need.id, { budget: null, location: null, quantity: null, wantedBy: null, description: null });
    expect(patched).toStrictEqual({
      id: need.id,
      title: BIKE.title,
      category: BIKE.category,
      status: 'open',
      visibility: 'public',
      version: 2,
      createdAt: need.createdAt,
      updatedAt: patched.updatedAt,
    });
    const { needs } = await stored(who);
    expect(needs[0]).toMatchObject({ wanted_by: null, version: 2 });
  });

  it('moves the status to fulfilled, withdrawn and open again, one version each', async () => {
    const who = await server.person();
    const need = await createOk(who, BIKE);
    expect(await patchOk(who, need.id, { status: 'fulfilled' })).toMatchObject({ status: 'fulfilled', version: 2 });
    expect(await patchOk(who, need.id, { status: 'withdrawn' })).toMatchObject({ status: 'withdrawn', version: 3 });
    expect(await patchOk(who, need.id, { status: 'open', visibility: 'subscribers' })).toMatchObject({ status: 'open', visibility: 'subscribers', version: 4 });
    const { events, needs } = await stored(who);
    expect(events.map((e) => [e.kind, e.version])).toEqual([
      ['need.created', 1],
      ['need.updated', 2],
      ['need.updated', 3],
      ['need.updated', 4],
    ]);
    expect(needs[0]).toMatchObject({ status: 'open', visibility: 'subscribers', version: 4 });
  });

  it('answers in XML when asked to', async () => {
    const who = await server.person();
    const need = await createOk(who, BIKE);
    const response = await patch(who, need.id, { status: 'fulfilled' }, { accept: 'application/xml' });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/xml/);
    expect(fromNeedXml(response.body, 'need', 'need.json')).toMatchObject({ id: need.id, status: 'fulfilled', version: 2 });
  });

  it('a patch that changes nothing keeps the version and writes no event', async () => {
    const who = await server.person();
    const need = await createOk(who, BIKE);
    const before = await stored(who);
    const response = await patch(who, need.id, { status: 'open', title: BIKE.title, budget: { currency: 'EUR', max: 600, min: 100 } });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toStrictEqual(need);
    expect(await stored(who)).toEqual(before);
  });

  it.each<[string, unknown, string | undefined]>([
    ['an empty title', { title: '' }, '/title'],
    ['a null title', { title: null }, '/title'],
    ['a null category', { category: null }, '/category'],
    ['budget.min above budget.max', { budget: { min: 900, max: 100, currency: 'EUR' } }, '/budget/min'],
    ['budget.min above the stored max', { budget: { min: 900, currency: 'EUR' } }, '/budget/min'],
    ['status expired', { status: 'expired' }, '/status'],
    ['status null', { status: null }, '/status'],
    ['an unknown status', { status: 'closed' }, '/status'],
    ['an unknown property', { colour: 'red' }, '/colour'],
    ['an unknown nested property', { location: { street: 'x' } }, undefined],
    ['a quantity as text', { quantity: '2' }, '/quantity'],
    ['a quantity of 0', { quantity: 0 }, '/quantity'],
    ['a bad currency', { budget: { max: 5, currency: 'euro' } }, '/budget/currency'],
    ['a bad visibility', { visibility: 'private' }, '/visibility'],
    ['a bad date', { wantedBy: '2027-02-30' }, '/wantedBy'],
    ['an empty patch', {}, undefined],
    ['an id', { id: randomUUID() }, '/id'],
    ['a version', { version: 7 }, '/version'],
    ['a character XML cannot carry', '{"title":"A\\u0000B"}', '/title'],
    ['a lone surrogate', '{"description":"\\ud800"}', '/description'],
  ])('refuses a patch with %s: 400, nothing changed', async (_label, payload, pointer) => {
    const who = await server.person();
    const need = await createOk(who, BIKE);
    const before = await stored(who);
    expectProblem(await patch(who, need.id, payload), 400, pointer);
    expect(await stored(who)).toEqual(before);
    expect((await getNeed(who, need.id)).json()).toStrictEqual(need);
  });

  it('refuses XML, malformed JSON and Accept text/html, nothing changed', async () => {
    const who = await server.person();
    const need = await createOk(who, BIKE);
    const before = await stored(who);
    expectProblem(await patch(who, need.id, `<need xmlns="${NS}"><status>fulfilled</status></need>`, { 'content-type': 'application/xml' }), 415);
    expectProblem(await patch(who, need.id, '{"status": "fulfilled"', {}), 400);
    expectProblem(await patch(who, need.id, { status: 'fulfilled' }, { accept: 'text/html' }), 406);
    expectProblem(await patch(who, need.id, { status: 'fulfilled' }, { 'content-type': 'text/plain' }), 415);
    expect(await stored(who)).toEqual(before);
  });

  it('is 404 for an unknown id and 400 for an id that is not a UUID', async () => {
    const who = await server.person();
    expectProblem(await patch(who, randomUUID(), { status: 'fulfilled' }), 404);
    expectProblem(await patch(who, 'nope', { status: 'fulfilled' }), 400, '/needId');
    expect(await stored(who)).toEqual({ needs: [], events: [] });
  });
});

describe('expired is computed', () => {
  it('an open need whose wantedBy has passed reads expired; a fulfilled one stays fulfilled', async () => {
    const who = await server.person();
    const stale = await createOk(who, { title: 'Concert tickets', category: 'events', wantedBy: FUTURE });
    const done = await createOk(who, { title: 'Winter tyres', category: 'cars/tyres', wantedBy: FUTURE });
    const current = await createOk(who, { title: 'A lamp', category: 'home/lighting', wantedBy: FUTURE });
    const undated = await createOk(who, { title: 'A rug', category: 'home/furniture' });

    // The schema allows a past wantedBy: the person may record a need late.
    const expired = await patchOk(who, stale.id, { wantedBy: PAST });
    expect(expired).toMatchObject({ status: 'expired', wantedBy: PAST, version: 2 });
    expect(await patchOk(who, done.id, { status: 'fulfilled' })).toMatchObject({ status: 'fulfilled' });
    expect(await patchOk(who, done.id, { wantedBy: PAST })).toMatchObject({ status: 'fulfilled', wantedBy: PAST, version: 3 });

    expect((await getNeed(who, stale.id)).json()).toMatchObject({ status: 'expired' });
    expect((await getNeed(who, done.id)).json()).toMatchObject({ status: 'fulfilled' });
    const xml = await getNeed(who, stale.id, { accept: 'application/xml' });
    expect(child(parseXmlTree(xml.body), 'status').text).toBe('expired');

    // Stored as open: nothing swept it.
    const { needs } = await stored(who);
    expect(needs.find((n) => n.id === stale.id)).toMatchObject({ status: 'open', wanted_by: PAST });

    const ids = (page: NeedList) => page.items.map((n) => n.id);
    expect(ids(await listOk(who, '?status=expired'))).toEqual([stale.id]);
    expect(ids(await listOk(who, '?status=fulfilled'))).toEqual([done.id]);
    expect(ids(await listOk(who, '?status=open')).sort()).toEqual([current.id, undated.id].sort());
    expect(ids(await listOk(who, '?status=withdrawn'))).toEqual([]);
    const all = await listOk(who);
    expect(all.items.find((n) => n.id === stale.id)?.status).toBe('expired');

    // Moving the date forward again, or removing it, opens it again.
    expect(await patchOk(who, stale.id, { wantedBy: null })).toMatchObject({ status: 'open', version: 3 });
    expect(ids(await listOk(who, '?status=expired'))).toEqual([]);
  });

  it('a need created with a past wantedBy reads expired at once', async () => {
    const who = await server.person();
    const response = await create(who, { title: 'Late', category: 'misc', wantedBy: PAST });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json()).toMatchObject({ status: 'expired', version: 1 });
  });

  it('status expired cannot be set', async () => {
    const who = await server.person();
    const need = await createOk(who);
    const before = await stored(who);
    expectProblem(await patch(who, need.id, { status: 'expired' }), 400, '/status');
    expect(await stored(who)).toEqual(before);
  });

  it('filters by status while paging', async () => {
    const who = await server.person();
    const fulfilled: Need[] = [];
    for (let i = 0; i < 5; i++) {
      const need = await createOk(who, { title: `N${i}`, category: 'misc' });
      if (i % 2 === 0) fulfilled.push(await patchOk(who, need.id, { status: 'fulfilled' }));
    }
    const { pages, items } = await walk(who, 'status=fulfilled&limit=2');
    expect(pages.map((p) => p.items.length)).toEqual([2, 1]);
    expect(items.map((n) => n.id)).toEqual([...fulfilled].sort(newestFirst).map((n) => n.id));
    expect(items.every((n) => n.status === 'fulfilled')).toBe(true);
  });
});

describe('DELETE /v1/me/needs/{needId}', () => {
  it('deletes: 204, then 404 everywhere, a need.deleted event', async () => {
    const who = await server.person();
    const need = await createOk(who, BIKE);
    const keep = await createOk(who, { title: 'Keep me', category: 'misc' });
    await patchOk(who, need.id, { status: 'fulfilled' });

    const response = await remove(who, need.id);
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe('');

    expectProblem(await getNeed(who, need.id), 404);
    expectProblem(await patch(who, need.id, { status: 'open' }), 404);
    expectProblem(await remove(who, need.id), 404);
    expect((await listOk(who)).items.map((n) => n.id)).toEqual([keep.id]);

    const { needs, events } = await stored(who);
    expect(needs.map((n) => n.id)).toEqual([keep.id]);
    expect(events.filter((e) => e.subject === need.id).map((e) => [e.kind, e.version])).toEqual([
      ['need.created', 1],
      ['need.updated', 2],
      ['need.deleted', 3],
    ]);
  });

  it('is 404 for an unknown id and 400 for an id that is not a UUID', async () => {
    const who = await server.person();
    expectProblem(await remove(who, randomUUID()), 404);
    expectProblem(await remove(who, 'x'), 400, '/needId');
    expect(await stored(who)).toEqual({ needs: [], events: [] });
  });
});

describe('bad input to POST creates nothing', () => {
  let who: TestPerson;
  let before: Awaited<ReturnType<typeof stored>>;
  beforeAll(async () => {
    who = await server.person();
    await createOk(who, BIKE);
    before = await stored(who);
  });

  it.each<[string, unknown, string | undefined]>([
    ['an unknown property', { ...BIKE, colour: 'red' }, '/colour'],
    ['a status', { ...BIKE, status: 'open' }, '/status'],
    ['an id', { ...BIKE, id: randomUUID() }, '/id'],
    ['quantity as text (no coercion)', { ...BIKE, quantity: '2' }, '/quantity'],
    ['quantity 0', { ...BIKE, quantity: 0 }, '/quantity'],
    ['a fractional quantity', { ...BIKE, quantity: 1.5 }, '/quantity'],
    ['an upper-case category', { ...BIKE, category: 'Books' }, '/category'],
    ['a category with an empty segment', { ...BIKE, category: 'home//furniture' }, '/category'],
    ['a category with spaces', { ...BIKE, category: 'home furniture' }, '/category'],
    ['a lower-case currency', { ...BIKE, budget: { max: 600, currency: 'eur' } }, '/budget/currency'],
    ['a four-letter currency', { ...BIKE, budget: { max: 600, currency: 'EURO' } }, '/budget/currency'],
    ['a budget without currency', { ...BIKE, budget: { max: 600 } }, '/budget/currency'],
    ['a negative budget', { ...BIKE, budget: { min: -1, currency: 'EUR' } }, '/budget/min'],
    ['budget.min above budget.max', { ...BIKE, budget: { min: 700, max: 600, currency: 'EUR' } }, '/budget/min'],
    ['a missing title', { category: 'books' }, '/title'],
    ['an empty title', { title: '', category: 'books' }, '/title'],
    ['a missing category', { title: 'Books' }, '/category'],
    ['a bad date', { ...BIKE, wantedBy: 'tomorrow' }, '/wantedBy'],
    ['a bad visibility', { ...BIKE, visibility: 'private' }, '/visibility'],
    ['a null description', { ...BIKE, description: null }, '/description'],
    ['an array', [BIKE], undefined],
    ['U+0000 in the title', '{"title":"A\\u0000","category":"books"}', '/title'],
    ['a lone surrogate in the description', '{"title":"A","category":"books","description":"\\udfff"}', '/description'],
    ['U+FFFE in the locality', '{"title":"A","category":"books","location":{"locality":"\\ufffe"}}', '/location/locality'],
  ])('refuses %s with 400', async (_label, payload, pointer) => {
    expectProblem(await create(who, payload), 400, pointer);
    expect(await stored(who)).toEqual(before);
  });

  it.each<[string, string]>([
    ['quantity as text', `<need xmlns="${NS}"><title>x</title><category>books</category><quantity>two</quantity></need>`],
    ['a status element', `<need xmlns="${NS}"><title>x</title><category>books</category><status>open</status></need>`],
    ['the wrong root', `<profile xmlns="${NS}"><title>x</title><category>books</category></profile>`],
    ['a DOCTYPE', `<!DOCTYPE need [<!ENTITY x "y">]><need xmlns="${NS}"><title>&x;</title><category>books</category></need>`],
    ['trailing content', `<need xmlns="${NS}"><title>x</title><category>books</category></need><need/>`],
    ['malformed XML', `<need xmlns="${NS}"><title>x</category></need>`],
    ['a <__proto__> element', `<need xmlns="${NS}"><title>x</title><category>books</category><__proto__><x>1</x></__proto__></need>`],
  ])('refuses XML with %s', async (_label, xml) => {
    expectProblem(await create(who, xml, { 'content-type': 'application/xml' }), 400);
    expectProblem(await create(who, xml, { 'content-type': 'text/xml' }), 400);
    expect(await stored(who)).toEqual(before);
  });

  it('refuses other media types with 415 and oversized bodies with 413', async () => {
    expectProblem(await create(who, BIKE, { 'content-type': 'text/plain' }), 415);
    expectProblem(await create(who, BIKE, { 'content-type': 'application/merge-patch+json' }), 415);
    expectProblem(await create(who, { ...BIKE, description: 'x'.repeat(300 * 1024) }), 413);
    expect(await stored(who)).toEqual(before);
  });
});

describe('need ids', () => {
  it('are case-insensitive on input (RFC 4122) and events always carry the canonical id', async () => {
    const who = await server.person();
    const need = await createOk(who, BIKE);
    const upper = need.id.toUpperCase();
    const read = await getNeed(who, upper);
    expect(read.statusCode, read.body).toBe(200);
    expect(read.json()).toStrictEqual(need);
    expect(await patchOk(who, upper, { status: 'fulfilled' })).toMatchObject({ id: need.id, version: 2 });
    expect((await remove(who, upper)).statusCode).toBe(204);
    const { events } = await stored(who);
    expect(events.map((e) => [e.kind, e.subject])).toEqual([
      ['need.created', need.id],
      ['need.updated', need.id],
      ['need.deleted', need.id],
    ]);
  });
});

describe('another person', () => {
  it("gets 404 for GET, PATCH and DELETE of A's need, never A's data, and A's need is unchanged", async () => {
    const a = await server.person();
    const b = await server.person();
    const secret = { ...BIKE, title: 'Secret title of A', description: 'Private words of A' };
    const need = await createOk(a, secret);
    await createOk(b, { title: 'B need', category: 'misc' });
    const aBefore = await stored(a);
    const bBefore = await stored(b);

    const attempts = [
      await getNeed(b, need.id),
      await getNeed(b, need.id, { accept: 'application/xml' }),
      await patch(b, need.id, { status: 'withdrawn' }),
      await patch(b, need.id, { title: 'Taken over' }),
      await remove(b, need.id),
    ];
    for (const response of attempts) {
      expectProblem(response, 404);
      expect(response.body).not.toContain('Secret title of A');
      expect(response.body).not.toContain('Private words of A');
    }
    expect(await stored(a)).toEqual(aBefore);
    expect(await stored(b)).toEqual(bBefore);
    expect((await getNeed(a, need.id)).json()).toStrictEqual(need);
  });

  it("B's list never contains A's needs", async () => {
    const a = await server.person();
    const b = await server.person();
    const aNeeds: Need[] = [];
    for (let i = 0; i < 3; i++) aNeeds.push(await createOk(a, { title: `Only for A ${i}`, category: 'misc' }));
    await patchOk(a, aNeeds[0]?.id ?? '', { status: 'fulfilled' });
    await patchOk(a, aNeeds[1]?.id ?? '', { wantedBy: PAST });
    const bNeed = await createOk(b, { title: 'For B', category: 'misc' });

    for (const query of ['', '?status=open', '?status=fulfilled', '?status=expired', '?status=withdrawn', '?limit=1']) {
      const response = await list(b, query);
      expect(response.statusCode).toBe(200);
      expect(response.body).not.toContain('Only for A');
      for (const n of aNeeds) expect(response.body).not.toContain(n.id);
    }
    expect((await listOk(b)).items.map((n) => n.id)).toEqual([bNeed.id]);
    const xml = await list(b, '', { accept: 'application/xml' });
    expect(xml.body).not.toContain('Only for A');

    // A's cursor gives B nothing of A's either.
    const aPage = await listOk(a, '?limit=1');
    expect(aPage.next).not.toBeNull();
    const bFromCursor = await list(b, `?cursor=${aPage.next}`);
    expect(bFromCursor.statusCode).toBe(200);
    expect(bFromCursor.body).not.toContain('Only for A');
  });
});

describe('PATCH of nested members (RFC 7386 all the way down)', () => {
  it('changes or removes one member of budget or location and keeps the others', async () => {
    const person = await server.person();
    const need = await createOk(person, {
      title: 'Bike',
      category: 'sports/cycling',
      budget: { min: 100, max: 600, currency: 'EUR' },
      location: { locality: 'Lyon', country: 'FR' },
    });
    const patched = await patchOk(person, need.id, { budget: { min: null }, location: { locality: 'Villeurbanne' } });
    expect(patched.budget).toEqual({ max: 600, currency: 'EUR' });
    expect(patched.location).toEqual({ locality: 'Villeurbanne', country: 'FR' });
    expect(patched.version).toBe(2);
  });

  it('refuses a nested patch whose result is invalid, and changes nothing', async () => {
    const person = await server.person();
    const need = await createOk(person, { title: 'Bike', category: 'sports/cycling', budget: { max: 600, currency: 'EUR' } });
    expectProblem(await patch(person, need.id, { budget: { currency: null } }), 400, '/budget/currency');
    expectProblem(await patch(person, need.id, { budget: { colour: 'red' } }), 400, '/budget/colour');
    const unchanged = await getNeed(person, need.id);
    expect(unchanged.json<Need>()).toMatchObject({ budget: { max: 600, currency: 'EUR' }, version: 1 });
  });
});
