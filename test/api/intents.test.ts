import { gunzipSync } from 'node:zlib';
import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastModified } from '../../server/feeds/intent-feed.js';
import { ListedSetStates, type IntentView } from '../../server/services/intents.js';
import { consumeFeed, type FeedFormat } from '../helpers/feeds.js';
import { expectProblem } from '../helpers/problems.js';
import { startTestServer, type TestPerson, type TestServer } from '../helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

// ---------------------------------------------------------------------------------------------
// Helpers

type Json = Record<string, unknown>;
type Intent = IntentView;
interface JsonFeedPage {
  items: { id: string; url: string; title: string; content_text: string; date_published: string; date_modified: string; _proffer: Intent }[];
  next_url?: string;
  feed_url: string;
}

const INTENT_KEYS = ['id', 'title', 'description', 'category', 'quantity', 'budget', 'location', 'wantedBy', 'publishedAt', 'updatedAt', 'offersUrl'];
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const MINUTE_PRECISE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00\.000Z$/;

/** A category root no other test uses, so each test sees only its own needs. */
const freshRoot = () => `t${randomBytes(5).toString('hex')}`;

async function cast(person: TestPerson, need: Json): Promise<Json & { id: string }> {
  const response = await server.request({ method: 'POST', url: '/v1/me/needs', headers: person.auth, payload: { visibility: 'public', ...need } });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

async function patchNeed(person: TestPerson, id: string, patch: Json) {
  const response = await server.request({ method: 'PATCH', url: `/v1/me/needs/${id}`, headers: person.auth, payload: patch });
  expect(response.statusCode, response.body).toBe(200);
}

const relative = (url: string) => url.replace(server.ctx.config.publicUrl, '');

/** Every page of a JSON Feed query, following next_url. */
async function allIntents(query: string): Promise<Intent[]> {
  const intents: Intent[] = [];
  let url: string | undefined = `/v1/intents?format=json&${query}`;
  while (url) {
    const response = await server.request({ method: 'GET', url });
    expect(response.statusCode, response.body).toBe(200);
    const page = response.json<JsonFeedPage>();
    intents.push(...page.items.map((item) => item._proffer));
    url = page.next_url ? relative(page.next_url) : undefined;
  }
  return intents;
}

const titles = async (query: string) => (await allIntents(query)).map((i) => i.title).sort();

/** Newest listing minute first, then by the (random) intent id: the only order the feed may have. */
const expectedOrder = (intents: Intent[]) =>
  [...intents].sort((a, b) => (a.publishedAt === b.publishedAt ? (a.id < b.id ? 1 : -1) : a.publishedAt < b.publishedAt ? 1 : -1)).map((i) => i.id);

// ---------------------------------------------------------------------------------------------

describe('the public listing', () => {
  it('casts a public open need, and never a subscribers-only one', async () => {
    const ada = await server.person();
    const root = freshRoot();
    const shown = await cast(ada, { title: 'A road bike', category: `${root}/bikes` });
    await cast(ada, { title: 'A private kettle', category: `${root}/home`, visibility: 'subscribers' });
    await cast(ada, { title: 'A kettle, default visibility', category: `${root}/home`, visibility: undefined });
    const intents = await allIntents(`category=${root}`);
    expect(intents.map((i) => i.title)).toEqual(['A road bike']);
    expect(intents[0]?.id).not.toBe(shown.id);
  });

  it("says what the need says, under an id of its own, with times to the minute, and nothing else", async () => {
    const ada = await server.person();
    const root = freshRoot();
    const need = await cast(ada, {
      title: 'A second-hand road bike, 54 cm frame',
      description: 'Steel or aluminium, with mudguards.',
      category: `${root}/cycling`,
      quantity: 2,
      budget: { min: 100, max: 600, currency: 'EUR' },
      location: { locality: 'Lyon', postalCode: '69001', region: 'Rhone', country: 'FR' },
      wantedBy: '2030-03-01',
    });
    const [intent] = await allIntents(`category=${root}`);
    expect(intent).toBeDefined();
    const { id, publishedAt, updatedAt, offersUrl, ...content } = intent as Intent;
    expect(content).toEqual({
      title: need.title,
      description: need.description,
      category: need.category,
      quantity: 2,
      budget: need.budget,
      location: need.location,
      wantedBy: '2030-03-01',
    });
    expect(Object.keys(intent as Intent).every((key) => INTENT_KEYS.includes(key))).toBe(true);
    expect(id).toMatch(UUID_V4);
    expect(id).not.toBe(need.id);
    expect(offersUrl).toBe(`${server.ctx.config.publicUrl}/v1/intents/${id}/offers`);
    expect(publishedAt).toMatch(MINUTE_PRECISE);
    expect(updatedAt).toMatch(MINUTE_PRECISE);
    // The minute the need was created, exactly, with its seconds dropped.
    expect(publishedAt).toBe(new Date(Math.floor(Date.parse(need.createdAt as string) / 60_000) * 60_000).toISOString());

    // The same intent, alone.
    const one = await server.request({ method: 'GET', url: `/v1/intents/${id}` });
    expect(one.statusCode, one.body).toBe(200);
    expect(one.json()).toEqual(intent);
    expect(one.headers['cache-control']).toBe('public, max-age=30');
    const again = await server.request({ method: 'GET', url: `/v1/intents/${id}`, headers: { 'if-none-match': String(one.headers.etag) } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it('drops a need at once when it is made private, fulfilled, withdrawn or deleted, and lists it again when reopened', async () => {
    const ada = await server.person();
    const root = freshRoot();
    const need = await cast(ada, { title: 'Comes and goes', category: root });
    const listed = async () => (await allIntents(`category=${root}`)).length === 1;
    expect(await listed()).toBe(true);
    const [intent] = await allIntents(`category=${root}`);
    const single = () => server.request({ method: 'GET', url: `/v1/intents/${intent?.id}` });

    for (const [away, back] of [
      [{ visibility: 'subscribers' }, { visibility: 'public' }],
      [{ status: 'fulfilled' }, { status: 'open' }],
      [{ status: 'withdrawn' }, { status: 'open' }],
    ] as const) {
      await patchNeed(ada, need.id, away);
      expect(await listed(), JSON.stringify(away)).toBe(false);
      expectProblem(await single(), 404);
      await patchNeed(ada, need.id, back);
      expect(await listed(), JSON.stringify(back)).toBe(true);
    }
    // Back under the same intent id: it is the same need, and it names no one.
    expect((await allIntents(`category=${root}`))[0]?.id).toBe(intent?.id);

    expect((await server.request({ method: 'DELETE', url: `/v1/me/needs/${need.id}`, headers: ada.auth })).statusCode).toBe(204);
    expect(await listed()).toBe(false);
    expectProblem(await single(), 404);
  });

  it('does not list a need past its wanted-by date', async () => {
    const ada = await server.person();
    const root = freshRoot();
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    await cast(ada, { title: 'Too late', category: root, wantedBy: yesterday });
    await cast(ada, { title: 'In time', category: root, wantedBy: '2099-01-01' });
    expect(await titles(`category=${root}`)).toEqual(['In time']);
  });

  it('answers an unknown intent, a need id and a malformed id alike or as bad input', async () => {
    const ada = await server.person();
    const root = freshRoot();
    const privateNeed = await cast(ada, { title: 'Private', category: root, visibility: 'subscribers' });
    const publicNeed = await cast(ada, { title: 'Public', category: root });
    const privateIntent = await server.ctx.db.selectFrom('needs').select('intent_id').where('id', '=', privateNeed.id).executeTakeFirstOrThrow();
    const details = new Set<string>();
    for (const id of [randomUUID(), publicNeed.id, privateIntent.intent_id]) {
      details.add(expectProblem(await server.request({ method: 'GET', url: `/v1/intents/${id}` }), 404).detail);
    }
    expect(details.size).toBe(1);
    expectProblem(await server.request({ method: 'GET', url: '/v1/intents/not-a-uuid' }), 400);
  });
});

describe('filters', () => {
  let root: string;
  beforeAll(async () => {
    const ada = await server.person();
    const bea = await server.person();
    root = freshRoot();
    await cast(ada, {
      title: 'n1',
      category: `${root}/bikes/road`,
      budget: { max: 600, currency: 'EUR' },
      location: { locality: 'Lyon', postalCode: '69001', country: 'FR' },
      wantedBy: '2030-03-01',
    });
    await cast(bea, { title: 'n2', category: `${root}/bikes`, budget: { min: 200, max: 400, currency: 'EUR' }, location: { region: 'Rhone', country: 'FR' } });
    await cast(ada, { title: 'n3', category: `${root}/books`, budget: { min: 50, currency: 'GBP' }, location: { locality: 'London', country: 'GB' }, wantedBy: '2030-01-01' });
    await cast(bea, { title: 'n4', category: `${root}/home/furniture`, wantedBy: '2031-01-01' });
    await cast(ada, { title: 'elsewhere', category: `${root}x/bikes`, budget: { max: 600, currency: 'EUR' }, location: { country: 'FR' } });
  });

  const cases: [string, (root: string) => string, string[]][] = [
    ['a root category covers everything below it', (r) => `category=${r}`, ['n1', 'n2', 'n3', 'n4']],
    ['a sub-category covers its own sub-categories', (r) => `category=${r}/bikes`, ['n1', 'n2']],
    ['a leaf category', (r) => `category=${r}/bikes/road`, ['n1']],
    ['a category is matched by whole segments, not by prefix', (r) => `category=${r}/bike`, []],
    ['* stands for one segment', (r) => `category=${r}/*/road`, ['n1']],
    ['several categories: any of them', (r) => `category=${r}/books,${r}/home`, ['n3', 'n4']],
    ['country', (r) => `category=${r}&country=FR`, ['n1', 'n2']],
    ['country, or no location', (r) => `category=${r}&country=FR&includeUnlocated=true`, ['n1', 'n2', 'n4']],
    ['locality, case-insensitive', (r) => `category=${r}&locality=lYON`, ['n1']],
    ['locality, or not said', (r) => `category=${r}&locality=lyon&includeUnlocated=true`, ['n1', 'n2', 'n4']],
    ['region, case-insensitive', (r) => `category=${r}&region=rhone`, ['n2']],
    ['postal code prefix', (r) => `category=${r}&postalCode=69`, ['n1']],
    ['postal code prefix that matches nothing', (r) => `category=${r}&postalCode=75`, []],
    ['currency', (r) => `category=${r}&currency=EUR`, ['n1', 'n2']],
    ['budget from: needs whose maximum reaches it', (r) => `category=${r}&currency=EUR&budgetMin=500`, ['n1']],
    ['budget up to: needs whose minimum is below it', (r) => `category=${r}&currency=EUR&budgetMax=100`, ['n1']],
    ['a budget range overlapping both', (r) => `category=${r}&currency=EUR&budgetMin=300&budgetMax=350`, ['n1', 'n2']],
    ['a budget range below a minimum', (r) => `category=${r}&currency=GBP&budgetMax=40`, []],
    ['a budget range touching a minimum', (r) => `category=${r}&currency=GBP&budgetMax=50`, ['n3']],
    ['wanted strictly before a date', (r) => `category=${r}&wantedBefore=2030-03-01`, ['n3']],
    ['wanted strictly after a date, or whenever', (r) => `category=${r}&wantedAfter=2030-06-01`, ['n2', 'n4']],
    ['everything at once', (r) => `category=${r}/bikes&country=FR&currency=EUR&budgetMin=500&wantedBefore=2031-01-01`, ['n1']],
  ];
  it.each(cases)('%s', async (_name, query, expected) => {
    expect(await titles(query(root))).toEqual(expected);
  });

  it.each([
    ['a budget without a currency', 'budgetMin=1', '/currency'],
    ['an empty budget range', 'currency=EUR&budgetMin=5&budgetMax=1', '/budgetMin'],
    ['a malformed category', 'category=Bikes', '/category'],
    ['a trailing slash in a category', 'category=bikes/', '/category'],
    ['a lower-case country', 'country=fr', '/country'],
    ['a date that is not one', 'wantedBefore=2030-13-45', '/wantedBefore'],
    ['an unknown filter', 'colour=red', undefined],
    ['a forged cursor', `cursor=${Buffer.from('["2026-01-01T00:00:00.000Z","nope"]').toString('base64url')}`, '/cursor'],
    ['a cursor of another list (not minute-precise)', `cursor=${Buffer.from(JSON.stringify(['2026-01-01T00:00:01.234Z', randomUUID()])).toString('base64url')}`, '/cursor'],
  ])('refuses %s', async (_name, query, pointer) => {
    expectProblem(await server.request({ method: 'GET', url: `/v1/intents?${query}` }), 400, pointer);
  });
});

describe('paging', () => {
  it('walks every page once, in the only order allowed, in JSON Feed and in Atom alike', async () => {
    const ada = await server.person();
    const bea = await server.person();
    const root = freshRoot();
    for (let i = 0; i < 7; i++) await cast(i % 2 ? ada : bea, { title: `page item ${i}`, category: root });

    const pages: number[] = [];
    const seen: Intent[] = [];
    let url: string | undefined = `/v1/intents?format=json&limit=3&category=${root}`;
    while (url) {
      const page: JsonFeedPage = (await server.request({ method: 'GET', url })).json<JsonFeedPage>();
      pages.push(page.items.length);
      seen.push(...page.items.map((item) => item._proffer));
      url = page.next_url ? relative(page.next_url) : undefined;
      if (url) expect(url).toContain(`category=${root}`);
    }
    expect(pages).toEqual([3, 3, 1]);
    expect(new Set(seen.map((i) => i.id)).size).toBe(7);
    expect(seen.map((i) => i.id)).toEqual(expectedOrder(seen));

    const atomIds: string[] = [];
    let atomUrl: string | undefined = `/v1/intents?limit=3&category=${root}`;
    while (atomUrl) {
      const response = await server.request({ method: 'GET', url: atomUrl });
      expect(response.headers['content-type']).toMatch(/^application\/atom\+xml/);
      const feed = await consumeFeed(response.body, 'atom');
      atomIds.push(...feed.entries.map((e) => e.id));
      atomUrl = feed.next ? relative(feed.next) : undefined;
    }
    expect(atomIds).toEqual(seen.map((i) => `urn:uuid:${i.id}`));
  });
});

describe('formats', () => {
  let root: string;
  const hostile = 'Bike <script>alert(1)</script> ]]> & \u202Egnp.exe — 🚲';
  beforeAll(async () => {
    const ada = await server.person();
    root = freshRoot();
    await cast(ada, { title: hostile, description: 'javascript:alert(1) <b>bold</b>', category: root, budget: { max: 10, currency: 'EUR' } });
  });

  it.each([
    ['atom', {}, '', 'application/atom+xml'],
    ['atom', { accept: 'application/atom+xml' }, '', 'application/atom+xml'],
    ['rss', { accept: 'application/rss+xml' }, '', 'application/rss+xml'],
    ['json', { accept: 'application/feed+json' }, '', 'application/feed+json'],
    ['json', { accept: 'application/json' }, '', 'application/feed+json'],
    ['rss', { accept: 'application/atom+xml' }, '&format=rss', 'application/rss+xml'],
  ] as const)('serves %s for Accept %j%s, well-formed and inert, with the text as written', async (format, headers, extra, type) => {
    const response = await server.request({ method: 'GET', url: `/v1/intents?category=${root}${extra}`, headers });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-type']).toBe(`${type}; charset=utf-8`);
    expect(response.headers.vary).toBe('Accept, Accept-Encoding');
    const feed = await consumeFeed(response.body, format as FeedFormat);
    expect(feed.entries.map((e) => e.title)).toEqual([hostile]);
    expect(feed.texts).toContain('javascript:alert(1) <b>bold</b>');
  });

  it('answers 406 to an Accept it cannot serve', async () => {
    expectProblem(await server.request({ method: 'GET', url: '/v1/intents', headers: { accept: 'text/html' } }), 406);
  });
});

describe('conditional requests', () => {
  it('answers 304 to its ETag or to a date not before Last-Modified, and changes only when a listed need does', async () => {
    const ada = await server.person();
    const root = freshRoot();
    const listed = await cast(ada, { title: 'Watched', category: root });
    const unlisted = await cast(ada, { title: 'Not public', category: root, visibility: 'subscribers' });
    const url = `/v1/intents?category=${root}`;
    const first = await server.request({ method: 'GET', url });
    expect(first.statusCode).toBe(200);
    expect(first.headers['cache-control']).toBe('public, max-age=30');
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const modified = Date.parse(String(first.headers['last-modified']));
    expect(modified).toBeLessThanOrEqual(Date.parse(String(first.headers.date)));
    expect(modified % 1000).toBe(0);

    const revalidated = await server.request({ method: 'GET', url, headers: { 'if-none-match': etag } });
    expect(revalidated.statusCode).toBe(304);
    expect(revalidated.body).toBe('');
    expect(revalidated.headers.etag).toBe(etag);
    expect((await server.request({ method: 'GET', url, headers: { 'if-none-match': `"other", W/${etag}` } })).statusCode).toBe(304);
    expect((await server.request({ method: 'GET', url, headers: { 'if-none-match': '*' } })).statusCode).toBe(304);
    const later = new Date(Date.now() + 3_600_000).toUTCString();
    expect((await server.request({ method: 'GET', url, headers: { 'if-modified-since': later } })).statusCode).toBe(304);
    expect((await server.request({ method: 'GET', url, headers: { 'if-modified-since': 'Sat, 01 Jan 2000 00:00:00 GMT' } })).statusCode).toBe(200);
    // If-None-Match wins over If-Modified-Since.
    expect((await server.request({ method: 'GET', url, headers: { 'if-none-match': '"other"', 'if-modified-since': later } })).statusCode).toBe(200);

    // A need that is not listed changes nothing anyone sees.
    await patchNeed(ada, unlisted.id, { title: 'Still not public' });
    expect((await server.request({ method: 'GET', url, headers: { 'if-none-match': etag } })).statusCode).toBe(304);

    await patchNeed(ada, listed.id, { title: 'Watched, changed' });
    const changed = await server.request({ method: 'GET', url, headers: { 'if-none-match': etag } });
    expect(changed.statusCode).toBe(200);
    expect(changed.headers.etag).not.toBe(etag);
    expect((await consumeFeed(changed.body, 'atom')).entries.map((e) => e.title)).toEqual(['Watched, changed']);
  });

  it('sends gzip to a client that accepts it, under its own tag, and identity to one that does not', async () => {
    const ada = await server.person();
    const root = freshRoot();
    for (let index = 0; index < 5; index += 1) await cast(ada, { title: `Zipped ${index}`, category: root });
    const url = `/v1/intents?category=${root}&format=json`;
    const plain = await server.request({ method: 'GET', url });
    const zipped = await server.request({ method: 'GET', url, headers: { 'accept-encoding': 'gzip, br' } });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers.vary).toBe('Accept, Accept-Encoding');
    expect(zipped.headers['cache-control']).toBe('public, max-age=30');
    expect(gunzipSync(zipped.rawPayload).equals(plain.rawPayload)).toBe(true);
    expect(zipped.headers.etag).not.toBe(plain.headers.etag);
    const revalidated = await server.request({ method: 'GET', url, headers: { 'accept-encoding': 'gzip', 'if-none-match': String(zipped.headers.etag) } });
    expect(revalidated.statusCode).toBe(304);
    expect(revalidated.headers.etag).toBe(zipped.headers.etag);
    const crossed = await server.request({ method: 'GET', url, headers: { 'accept-encoding': 'gzip', 'if-none-match': String(plain.headers.etag) } });
    expect(crossed.statusCode).toBe(200);
  });

  it('never dates a change finer than its minute, nor later than now', () => {
    const at = (time: string) => new Date(`2026-11-22T${time}Z`);
    // The change's minute has not ended: now (whole seconds), which says nothing of when in it.
    expect(lastModified(at('10:00:10.250'), at('10:00:20.900'))).toEqual(at('10:00:20'));
    // It has: the end of that minute.
    expect(lastModified(at('10:00:10.250'), at('10:05:00.000'))).toEqual(at('10:01:00'));
    expect(lastModified(at('10:00:00.000'), at('10:05:00.000'))).toEqual(at('10:01:00'));
    // Nothing changed today: the start of the day, when wanted-by dates retire needs.
    expect(lastModified(new Date('2026-11-20T08:00:00Z'), at('10:05:00.000'))).toEqual(at('00:00:00'));
  });
});

describe('the listed set’s version', () => {
  it('is looked up once for all reads waiting at one moment, and a change is seen by the next read', async () => {
    const states = new ListedSetStates(server.ctx.database);
    const [first, ...others] = await Promise.all(Array.from({ length: 5 }, () => states.current()));
    expect(states.stats).toEqual({ batches: 1, items: 5, failedBatches: 0 });
    for (const other of others) expect(other).toEqual(first);
    await cast(await server.person(), { title: 'A version bump', category: `${freshRoot()}/bikes` });
    const after = await states.current();
    expect(BigInt(after.version)).toBeGreaterThan(BigInt(first?.version ?? 0));
    expect(states.stats.batches).toBe(2);
  });
});

describe('publication in batches (PROFFER_INTENT_BATCHING)', () => {
  let batched: TestServer;
  beforeAll(async () => {
    batched = await startTestServer({ env: { PROFFER_INTENT_BATCHING: 'true' } });
  });
  afterAll(() => batched?.close());

  /** The clock moving on, for this need: its listing minute one minute earlier. */
  const aMinutePasses = (needId: string) =>
    sql`update needs set listed_at = listed_at - interval '1 minute' where id = ${needId}`.execute(batched.ctx.db);

  it('shows a need from the next full minute after it was cast, not before', async () => {
    const ada = await batched.person();
    const root = freshRoot();
    const listed = async () => {
      const response = await batched.request({ method: 'GET', url: `/v1/intents?format=json&category=${root}` });
      return response.json<JsonFeedPage>().items.map((item) => item._proffer);
    };
    // Within one minute, the need is not shown yet; across a minute boundary this says nothing, so try again.
    let needId: string | undefined;
    for (let attempt = 0; attempt < 3 && needId === undefined; attempt++) {
      const minute = Math.floor(Date.now() / 60_000);
      const response = await batched.request({ method: 'POST', url: '/v1/me/needs', headers: ada.auth, payload: { title: 'Batched', category: root, visibility: 'public' } });
      expect(response.statusCode).toBe(201);
      const seen = await listed();
      if (Math.floor(Date.now() / 60_000) !== minute) continue;
      expect(seen).toEqual([]);
      needId = response.json().id;
    }
    expect(needId).toBeDefined();
    const intentId = (await batched.ctx.db.selectFrom('needs').select('intent_id').where('id', '=', needId as string).executeTakeFirstOrThrow()).intent_id;
    expectProblem(await batched.request({ method: 'GET', url: `/v1/intents/${intentId}` }), 404);

    await aMinutePasses(needId as string);
    const shown = await listed();
    expect(shown.map((i) => i.id)).toContain(intentId);
    expect((await batched.request({ method: 'GET', url: `/v1/intents/${intentId}` })).statusCode).toBe(200);
  });
});

// ---------------------------------------------------------------------------------------------
// Pseudonymity

/** Every document a reader can get for a query: each format, every page, with the headers. */
async function everyDocument(query: string): Promise<{ texts: string[]; entries: Intent[]; cursors: string[] }> {
  const texts: string[] = [];
  const cursors: string[] = [];
  let entries: Intent[] = [];
  for (const format of ['atom', 'rss', 'json'] as const) {
    let url: string | undefined = `/v1/intents?format=${format}&limit=2&${query}`;
    while (url) {
      const response: LightMyRequestResponse = await server.request({ method: 'GET', url });
      expect(response.statusCode, response.body).toBe(200);
      texts.push(response.body, String(response.headers.etag), String(response.headers['last-modified']));
      const consumed = await consumeFeed(response.body, format);
      if (format === 'json') entries = entries.concat(response.json<JsonFeedPage>().items.map((item) => item._proffer));
      const cursor = consumed.next ? new URL(consumed.next).searchParams.get('cursor') : null;
      if (cursor) cursors.push(cursor);
      url = consumed.next ? relative(consumed.next) : undefined;
    }
  }
  return { texts, entries, cursors };
}

const word = fc.stringMatching(/^[a-z]{3,8}$/);
const needArbitrary = fc.record({
  title: fc.array(word, { minLength: 1, maxLength: 4 }).map((words) => words.join(' ')),
  sub: fc.constantFrom('bikes', 'books', 'home/furniture'),
  budget: fc.option(fc.record({ max: fc.integer({ min: 1, max: 2000 }), currency: fc.constantFrom('EUR', 'GBP') }), { nil: undefined }),
  location: fc.option(fc.record({ locality: fc.constantFrom('Lyon', 'Leeds', 'Porto'), country: fc.constantFrom('FR', 'GB', 'PT') }), { nil: undefined }),
});

describe('pseudonymity', () => {
  it('nothing in the public feed links two needs of one person, or a need to its person', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(needArbitrary, { minLength: 1, maxLength: 4 }), { minLength: 2, maxLength: 4 }), async (people) => {
        const root = freshRoot();
        const secrets: string[] = [];
        const needIds = new Set<string>();
        // People cast their needs at the same time, as in one request each, interleaved.
        const casters = await Promise.all(
          people.map(async (needs) => {
            const person = await server.person();
            const tag = randomBytes(4).toString('hex');
            const profile = { name: { given: `Given${tag}`, family: `Family${tag}` }, emails: { personal: `mail${tag}@example.org` }, phones: { mobile: `+3361${tag.replace(/\D/g, '7').padEnd(7, '7')}` } };
            const put = await server.request({ method: 'PUT', url: '/v1/me/profile', headers: person.auth, payload: profile });
            expect(put.statusCode, put.body).toBe(200);
            secrets.push(person.handle, person.id, ...Object.values(profile).flatMap((v) => Object.values(v)));
            return { person, needs };
          }),
        );
        await Promise.all(
          casters.map(async ({ person, needs }) => {
            for (const need of needs) {
              const made = await cast(person, { title: need.title, category: `${root}/${need.sub}`, ...(need.budget ? { budget: need.budget } : {}), ...(need.location ? { location: need.location } : {}) });
              needIds.add(made.id);
              secrets.push(made.id);
            }
          }),
        );

        const { texts, entries, cursors } = await everyDocument(`category=${root}`);
        const total = people.flat().length;
        expect(entries).toHaveLength(total);

        // No handle, person id, need id or profile value anywhere: bodies, links, ids, headers.
        const everything = texts.join('\n').toLowerCase();
        for (const secret of secrets) expect(everything, `found ${secret}`).not.toContain(secret.toLowerCase());

        // Nothing an entry carries besides its content is shared with another entry: each id,
        // link and entry URN is its own, random, and never a need's id.
        const owners = new Map<string, number>();
        for (const intent of entries) {
          expect(intent.id).toMatch(UUID_V4);
          expect(needIds.has(intent.id)).toBe(false);
          expect(Object.keys(intent).every((key) => INTENT_KEYS.includes(key))).toBe(true);
          for (const value of [intent.id, intent.offersUrl, `urn:uuid:${intent.id}`]) owners.set(value, (owners.get(value) ?? 0) + 1);
          // Times say the minute, no more.
          expect(intent.publishedAt).toMatch(MINUTE_PRECISE);
          expect(intent.updatedAt).toMatch(MINUTE_PRECISE);
        }
        expect([...owners.values()].every((count) => count === 1)).toBe(true);

        // The order follows only coarse times and random ids, never who cast what or when within a minute.
        expect(entries.map((i) => i.id)).toEqual(expectedOrder(entries));

        // A cursor holds a listing minute and the intent id of an entry already shown, nothing else.
        const shownIds = new Set(entries.map((i) => i.id));
        for (const cursor of cursors) {
          const decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
          expect(decoded).toHaveLength(2);
          expect(decoded[0]).toMatch(MINUTE_PRECISE);
          expect(shownIds.has(decoded[1])).toBe(true);
        }
      }),
      { numRuns: 4 },
    );
  });
});
