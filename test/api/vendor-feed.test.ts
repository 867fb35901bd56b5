import { gunzipSync } from 'node:zlib';
import type { LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../server/db/database.js';
import { FeedHeads, MAX_SCANNED_EVENTS } from '../../server/services/vendor-feed.js';
import { AccessLogWriter, type AccessLogEntry } from '../../server/services/access-log-writer.js';
import { expectProblem } from '../helpers/problems.js';
import { startTestServer, type TestServer, type TestVendor } from '../helpers/server.js';
import {
  accessLog,
  activeGrant,
  createNeed,
  expectFeedHeaders,
  followLink,
  grantingTerms,
  parseFeed,
  patchProfile,
  putTerms,
  useContract,
  type FeedFormat,
  type Grant,
  type Json,
  type ParsedEntry,
} from '../helpers/vendor-feed.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
  useContract(server);
});
afterAll(() => server?.close());

const ADDRESS = '198.51.100.23';
const FORMATS: FeedFormat[] = ['atom', 'rss', 'json'];

function readFeed(vendor: TestVendor, subscriptionId: string, query = '', headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return server.request({
    method: 'GET',
    url: `/v1/subscriptions/${subscriptionId}/feed${query ? `?${query}` : ''}`,
    headers: { ...vendor.auth, ...headers },
    remoteAddress: ADDRESS,
  });
}

/** Checks a JSON Feed page against the contract (the response check skips bodies sent as bytes). */
function expectValidJsonFeed(body: string): void {
  const validate = server.ctx.contract.createAjv().getSchema('https://proffer.dev/schemas/feed.json');
  if (!validate) throw new Error('no JsonFeed schema');
  expect(validate(JSON.parse(body)), JSON.stringify(validate.errors)).toBe(true);
}

async function page(vendor: TestVendor, subscriptionId: string, format: FeedFormat, query = '') {
  const response = await readFeed(vendor, subscriptionId, `format=${format}${query ? `&${query}` : ''}`);
  expectFeedHeaders(response, format);
  if (format === 'json') expectValidJsonFeed(response.body);
  return { response, feed: await parseFeed(response.body, format) };
}

/** Every entry of the feed, walking `next` links from the newest page. */
async function walk(vendor: TestVendor, subscriptionId: string, format: FeedFormat, limit: number): Promise<{ entries: ParsedEntry[]; pages: number; lastUrl: string }> {
  let response = await readFeed(vendor, subscriptionId, `format=${format}&limit=${limit}`);
  const entries: ParsedEntry[] = [];
  let pages = 0;
  let lastUrl = '';
  for (;;) {
    expectFeedHeaders(response, format);
    if (format === 'json') expectValidJsonFeed(response.body);
    const feed = await parseFeed(response.body, format);
    pages += 1;
    expect(feed.entries.length).toBeLessThanOrEqual(limit);
    entries.push(...feed.entries);
    lastUrl = feed.links.self ?? '';
    if (!feed.links.next) break;
    expect(pages, 'paging does not end').toBeLessThan(100);
    response = await server.request({ ...followLink(server, feed.links.next, vendor.auth), remoteAddress: ADDRESS });
  }
  return { entries, pages, lastUrl };
}

/** Every value (string or number) anywhere in a JSON value. */
function leaves(value: unknown): string[] {
  if (value === null || value === undefined) return [];
  if (typeof value !== 'object') return [String(value)];
  return Object.values(value as Json).flatMap(leaves);
}

describe('formats', () => {
  let grant: Grant;
  beforeAll(async () => {
    grant = await activeGrant(server, { fields: ['name', 'emails'], categories: ['sports'] });
    await patchProfile(server, grant.person, { name: { given: 'Ada' }, emails: { personal: 'ada@example.org' } });
    await createNeed(server, grant.person, { title: 'A road bike', category: 'sports/cycling' });
  });

  it.each(FORMATS)('serves %s by ?format, with the same entries, ids and content in each', async (format) => {
    const { feed } = await page(grant.vendor, grant.subscriptionId, format);
    expect(feed.entries.map((e) => e.json.kind)).toEqual(['need.created', 'profile.updated']);
    const [need, profile] = feed.entries as [ParsedEntry, ParsedEntry];
    expect(profile.id).toBe(`urn:proffer:subscription:${grant.subscriptionId}:event:${String(profile.json.id)}`);
    expect(profile.json).toMatchObject({ kind: 'profile.updated', subject: 'profile', changed: ['emails.personal', 'name.given'], profile: { name: { given: 'Ada' }, emails: { personal: 'ada@example.org' } } });
    expect(need.json).toMatchObject({ kind: 'need.created', need: { title: 'A road bike', category: 'sports/cycling' } });
    expect(need.title).toBe('New need: A road bike');
    if (format !== 'json') {
      // The Proffer XML of each entry says exactly what its JSON says.
      for (const entry of feed.entries) expect(entry.fromXml).toEqual(entry.json);
    }
    const json = await page(grant.vendor, grant.subscriptionId, 'json');
    expect(feed.entries.map((e) => e.id)).toEqual(json.feed.entries.map((e) => e.id));
    expect(feed.entries.map((e) => e.json)).toEqual(json.feed.entries.map((e) => e.json));
  });

  it('chooses by Accept, Atom when there is no preference, and refuses what it cannot produce', async () => {
    for (const [accept, format] of [
      ['application/rss+xml', 'rss'],
      ['application/feed+json', 'json'],
      ['application/json', 'json'],
      ['*/*', 'atom'],
      ['application/atom+xml;q=0.5, application/rss+xml', 'rss'],
    ] as const) {
      expectFeedHeaders(await readFeed(grant.vendor, grant.subscriptionId, '', { accept }), format);
    }
    expectFeedHeaders(await readFeed(grant.vendor, grant.subscriptionId), 'atom');
    // ?format wins over Accept.
    expectFeedHeaders(await readFeed(grant.vendor, grant.subscriptionId, 'format=rss', { accept: 'application/feed+json' }), 'rss');
    expectProblem(await readFeed(grant.vendor, grant.subscriptionId, '', { accept: 'text/html' }), 406);
    expectProblem(await readFeed(grant.vendor, grant.subscriptionId, 'format=html'), 400, '/format');
  });

  it('carries Atom content as inline Proffer XML with the JSON beside it, and RSS extension elements, all well-formed', async () => {
    const atom = (await readFeed(grant.vendor, grant.subscriptionId, 'format=atom')).body;
    expect(atom).toMatch(/<content type="application\/xml">\s*<event xmlns="https:\/\/proffer\.dev\/ns\/1">/);
    expect(atom).toContain('xmlns:proffer="https://proffer.dev/ns/1"');
    expect(atom).toMatch(/<proffer:json>\{/);
    const rss = (await readFeed(grant.vendor, grant.subscriptionId, 'format=rss')).body;
    expect(rss).toMatch(/<item>[\s\S]*<proffer:json>[\s\S]*<event xmlns="https:\/\/proffer\.dev\/ns\/1">[\s\S]*<\/item>/);
    expect(rss).toMatch(/<description>[^<]+<\/description>/);
  });

  it('keeps person-written text inert in every format', async () => {
    const hostile = `<script>alert(1)</script> & ]]> <![CDATA[x]]> \u202Eevil "quoted" 'single' 🚲`;
    const hostileGrant = await activeGrant(server, { fields: ['name'], categories: ['books'] });
    await createNeed(server, hostileGrant.person, { title: hostile, description: hostile, category: 'books' });
    await patchProfile(server, hostileGrant.person, { name: { given: hostile } });
    for (const format of FORMATS) {
      const { response, feed } = await page(hostileGrant.vendor, hostileGrant.subscriptionId, format);
      if (format !== 'json') {
        // No element or CDATA section of the person's making: only escaped text.
        expect(response.body).not.toContain('<script>');
        expect(response.body).not.toContain('<![CDATA[x');
      }
      const [profile, need] = feed.entries as [ParsedEntry, ParsedEntry];
      expect((profile.json.profile as { name: { given: string } }).name.given).toBe(hostile);
      expect((need.json.need as { title: string }).title).toBe(hostile);
      // RSS titles are HTML by convention: escaped once more, so a reader shows the text.
      expect(need.title).toBe(format === 'rss' ? `New need: ${hostile.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;')}` : `New need: ${hostile}`);
      if (format !== 'json') for (const entry of feed.entries) expect(entry.fromXml).toEqual(entry.json);
    }
  });
});

describe('paging', () => {
  let grant: Grant;
  let expectedIds: string[];

  beforeAll(async () => {
    grant = await activeGrant(server, { fields: ['name'], categories: ['home'] });
    // 22 events, of which the grant covers 14: name changes and needs in `home`, but not phone
    // changes or needs in `books`.
    for (let i = 0; i < 6; i++) {
      await patchProfile(server, grant.person, { name: { given: `Name ${i}` } });
      await patchProfile(server, grant.person, { phones: { mobile: `+44 20 7946 00${10 + i}` } });
    }
    for (let i = 0; i < 8; i++) await createNeed(server, grant.person, { title: `Home need ${i}`, category: i % 2 ? 'home/furniture' : 'home' });
    for (let i = 0; i < 2; i++) await createNeed(server, grant.person, { title: `Book ${i}`, category: 'books' });
    const all = await page(grant.vendor, grant.subscriptionId, 'json', 'limit=100');
    expectedIds = all.feed.entries.map((e) => e.id);
    expect(expectedIds).toHaveLength(14);
    expect(all.feed.links.next).toBeUndefined();
  });

  it.each(FORMATS)('walks every %s page by its next links: every granted entry once, newest first', async (format) => {
    for (const limit of [1, 3, 5, 14]) {
      const { entries, pages } = await walk(grant.vendor, grant.subscriptionId, format, limit);
      expect(entries.map((e) => e.id)).toEqual(expectedIds);
      expect(pages).toBeGreaterThanOrEqual(Math.ceil(14 / limit));
      const eventIds = entries.map((e) => BigInt(String(e.json.id)));
      expect(eventIds).toEqual([...eventIds].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)));
    }
  });

  it('walks back by previous links in Atom and RSS, and links every later page to the first', async () => {
    for (const format of ['atom', 'rss'] as const) {
      const newest = await page(grant.vendor, grant.subscriptionId, format, 'limit=4');
      expect(newest.feed.links.previous).toBeUndefined();
      expect(newest.feed.links.first).toBeUndefined();
      // Down to the oldest page, then back up.
      const visited: string[][] = [newest.feed.entries.map((e) => e.id)];
      let current = newest.feed;
      while (current.links.next) {
        const response = await server.request({ ...followLink(server, current.links.next, grant.vendor.auth), remoteAddress: ADDRESS });
        current = await parseFeed(response.body, format);
        expect(current.links.first).toBe(newest.feed.links.self);
        if (current.entries.length) visited.push(current.entries.map((e) => e.id));
      }
      const upward: string[] = [];
      while (current.links.previous) {
        const response = await server.request({ ...followLink(server, current.links.previous, grant.vendor.auth), remoteAddress: ADDRESS });
        expect(response.statusCode, response.body).toBe(200);
        current = await parseFeed(response.body, format);
        upward.unshift(...current.entries.map((e) => e.id));
      }
      // The pages above the oldest one, read upwards, hold every newer entry once, in order.
      expect(upward).toEqual(expectedIds.slice(0, expectedIds.length - (visited.at(-1)?.length ?? 0)));
    }
  });

  it('refuses a forged cursor with a 400 naming it', async () => {
    for (const cursor of ['garbage', Buffer.from('o-1').toString('base64url'), Buffer.from('x12').toString('base64url'), Buffer.from(`o${'9'.repeat(30)}`).toString('base64url')]) {
      expectProblem(await readFeed(grant.vendor, grant.subscriptionId, `cursor=${cursor}`), 400, '/cursor');
    }
    expectProblem(await readFeed(grant.vendor, grant.subscriptionId, 'limit=0'), 400, '/limit');
    expectProblem(await readFeed(grant.vendor, grant.subscriptionId, 'limit=101'), 400, '/limit');
  });

  it('bounds the scan: a sparse grant gets short pages that still link on, and loses nothing', async () => {
    const sparse = await activeGrant(server, { fields: ['name'] });
    await patchProfile(server, sparse.person, { name: { given: 'Oldest' } });
    // More ungranted events than one request reads, written straight to the table (an API call each would be slow).
    const rows = Array.from({ length: MAX_SCANNED_EVENTS + 150 }, (_, i) => ({
      person_id: sparse.person.id,
      kind: 'profile.updated' as const,
      subject: 'profile',
      version: i + 2,
      data: JSON.stringify({ changed: ['phones'], profile: { phones: { mobile: `+1 555 01${i}` } } }),
      created_at: new Date(),
    }));
    await server.ctx.db.insertInto('events').values(rows).execute();
    await patchProfile(server, sparse.person, { name: { given: 'Newest' } });
    const { entries, pages } = await walk(sparse.vendor, sparse.subscriptionId, 'json', 5);
    expect(entries.map((e) => (e.json.profile as { name: { given: string } }).name.given)).toEqual(['Newest', 'Oldest']);
    expect(pages).toBeGreaterThan(1);
    for (const entry of entries) expect(JSON.stringify(entry.json)).not.toContain('+1 555');
  });
});

describe('conditional requests', () => {
  it('answers 304 to If-None-Match and If-Modified-Since, with no body and no log entry; a granted change gives a new ETag', async () => {
    const grant = await activeGrant(server, { fields: ['name'] });
    await patchProfile(server, grant.person, { name: { given: 'First' } });
    const first = await readFeed(grant.vendor, grant.subscriptionId, 'format=atom');
    expectFeedHeaders(first, 'atom');
    const etag = String(first.headers.etag);
    const lastModified = String(first.headers['last-modified']);
    expect((await accessLog(server, grant.person)).filter((e) => e.what === 'feed')).toHaveLength(1);

    const revalidations: Record<string, string>[] = [{ 'if-none-match': etag }, { 'if-none-match': `"nope", W/${etag}` }, { 'if-none-match': '*' }, { 'if-modified-since': lastModified }];
    for (const headers of revalidations) {
      const again = await readFeed(grant.vendor, grant.subscriptionId, 'format=atom', headers);
      expect(again.statusCode, JSON.stringify(headers)).toBe(304);
      expect(again.body).toBe('');
      expect(again.headers.etag).toBe(etag);
      expect(again.headers['cache-control']).toMatch(/private/);
    }
    // If-None-Match decides alone when both are sent (RFC 9110 §13.1.3).
    expect((await readFeed(grant.vendor, grant.subscriptionId, 'format=atom', { 'if-none-match': '"other"', 'if-modified-since': lastModified })).statusCode).toBe(200);
    expect((await readFeed(grant.vendor, grant.subscriptionId, 'format=atom', { 'if-modified-since': new Date(Date.parse(lastModified) - 1000).toUTCString() })).statusCode).toBe(200);
    // Each format is its own representation with its own tag.
    const json = await readFeed(grant.vendor, grant.subscriptionId, 'format=json', { 'if-none-match': etag });
    expect(json.statusCode).toBe(200);
    expect(json.headers.etag).not.toBe(etag);
    // The 304s were not logged; the four 200s were.
    expect((await accessLog(server, grant.person)).filter((e) => e.what === 'feed')).toHaveLength(4);

    // An event the grant does not cover changes nothing the vendor sees: still 304.
    await patchProfile(server, grant.person, { phones: { mobile: '+44 20 7946 0999' } });
    expect((await readFeed(grant.vendor, grant.subscriptionId, 'format=atom', { 'if-none-match': etag })).statusCode).toBe(304);
    // A granted change is a new representation.
    await patchProfile(server, grant.person, { name: { given: 'Second' } });
    const changed = await readFeed(grant.vendor, grant.subscriptionId, 'format=atom', { 'if-none-match': etag });
    expect(changed.statusCode).toBe(200);
    expect(changed.headers.etag).not.toBe(etag);
    expect((await parseFeed(changed.body, 'atom')).entries).toHaveLength(2);
  });

  it('a narrowing changes the ETag and narrows every entry, older ones included', async () => {
    const grant = await activeGrant(server, { fields: ['name', 'emails'], categories: ['home'] });
    await patchProfile(server, grant.person, { name: { given: 'Grace' }, emails: { personal: 'grace@example.org' } });
    await patchProfile(server, grant.person, { emails: { work: 'grace@navy.example' } });
    await createNeed(server, grant.person, { title: 'A lamp', category: 'home' });
    const before = await page(grant.vendor, grant.subscriptionId, 'rss');
    expect(before.feed.entries).toHaveLength(3);
    expect(before.response.body).toContain('grace@example.org');

    // The person's new terms permit the name only: the grant narrows at once.
    await putTerms(server, grant.person, grantingTerms(['name'], []));
    const after = await readFeed(grant.vendor, grant.subscriptionId, 'format=rss', { 'if-none-match': String(before.response.headers.etag) });
    expectFeedHeaders(after, 'rss');
    expect(after.headers.etag).not.toBe(before.response.headers.etag);
    expect(Date.parse(String(after.headers['last-modified']))).toBeGreaterThanOrEqual(Date.parse(String(before.response.headers['last-modified'])));
    const narrowed = await parseFeed(after.body, 'rss');
    // The emails-only change and the need are gone; the first change shows the name alone.
    expect(narrowed.entries).toHaveLength(1);
    expect(narrowed.entries[0]?.json).toMatchObject({ changed: ['name.given'], profile: { name: { given: 'Grace' } } });
    expect(after.body).not.toContain('grace@');
    expect(after.body).not.toContain('A lamp');
    const log = await accessLog(server, grant.person);
    expect(log[0]).toMatchObject({ what: 'feed', fields: ['name'], subscription: grant.subscriptionId, address: ADDRESS });
  });
});

describe('redaction to the grant as it stands', () => {
  it('never carries a value outside the grant, in any entry of any page of any format', async () => {
    const grant = await activeGrant(server, { fields: ['name', 'addresses.home'], requested: ['name', 'addresses.home', 'phones'] });
    const secrets = ['+44 20 7946 0555', 'Work Street 9', 'secret@example.org', 'Hidden Town'];
    await patchProfile(server, grant.person, { name: { given: 'Mary' }, phones: { mobile: secrets[0] }, emails: { personal: secrets[2] } });
    await patchProfile(server, grant.person, { addresses: { home: { lines: ['1 Home Road'], locality: 'Hometown' }, work: { lines: [secrets[1]], locality: secrets[3] } } });
    await patchProfile(server, grant.person, { phones: { home: '+44 20 7946 0556' } });
    for (const format of FORMATS) {
      const { entries } = await walk(grant.vendor, grant.subscriptionId, format, 1);
      expect(entries).toHaveLength(2);
      for (const entry of entries) {
        for (const value of leaves(entry.json)) for (const secret of secrets) expect(value).not.toContain(secret);
        expect(Object.keys(entry.json.profile as Json).every((key) => ['name', 'addresses'].includes(key))).toBe(true);
        expect(Object.keys((entry.json.profile as { addresses?: Json }).addresses ?? {})).not.toContain('work');
        expect((entry.json.changed as string[]).every((path) => path.startsWith('name.') || path.startsWith('addresses.home.')), String(entry.json.changed)).toBe(true);
        // Titles name only granted fields too.
        expect(entry.title).not.toMatch(/phones|emails/);
      }
    }
  });
});

describe('the grant is checked on every read', () => {
  it('revocation is effective on the very next read, cached render or not', async () => {
    const grant = await activeGrant(server, { fields: ['name'] });
    await patchProfile(server, grant.person, { name: { given: 'Rosalind' } });
    expectFeedHeaders(await readFeed(grant.vendor, grant.subscriptionId), 'atom');
    const etag = String((await readFeed(grant.vendor, grant.subscriptionId)).headers.etag);
    const revoked = await server.request({ method: 'POST', url: `/v1/me/subscriptions/${grant.subscriptionId}/revoke`, headers: grant.person.auth });
    expect(revoked.statusCode, revoked.body).toBe(200);
    const refused = expectProblem(await readFeed(grant.vendor, grant.subscriptionId), 403);
    expect(refused).toMatchObject({ type: 'https://proffer.dev/problems/grant-inactive', subscriptionStatus: 'revoked' });
    // Not even a 304: revalidation is refused like a read.
    expectProblem(await readFeed(grant.vendor, grant.subscriptionId, '', { 'if-none-match': etag }), 403);
    expect((await accessLog(server, grant.person)).filter((e) => e.what === 'feed')).toHaveLength(2);
  });

  it('a subscription the vendor ended, or whose grant expired, is not read', async () => {
    const ended = await activeGrant(server, { fields: ['name'] });
    expect((await server.request({ method: 'DELETE', url: `/v1/subscriptions/${ended.subscriptionId}`, headers: ended.vendor.auth })).statusCode).toBe(200);
    expect(expectProblem(await readFeed(ended.vendor, ended.subscriptionId), 403)).toMatchObject({ subscriptionStatus: 'ended' });

    const expiring = await activeGrant(server, { fields: ['name'] });
    expectFeedHeaders(await readFeed(expiring.vendor, expiring.subscriptionId), 'atom');
    // Expiry is a date in the row: put it in the past, as time would.
    await server.ctx.db.updateTable('subscriptions').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', expiring.subscriptionId).execute();
    expect(expectProblem(await readFeed(expiring.vendor, expiring.subscriptionId), 403)).toMatchObject({ subscriptionStatus: 'expired' });

    const pending = await server.person();
    const vendor = await server.vendor('Pending Vendor');
    const asked = await server.request({
      method: 'POST',
      url: '/v1/subscriptions',
      headers: vendor.auth,
      payload: { person: pending.handle, fields: [{ path: 'name', purpose: 'fulfillment', required: true, retentionDays: 30 }], accepts: { termsVersion: 1, duties: {} } },
    });
    expect(asked.json().status).toBe('pending');
    expect(expectProblem(await readFeed(vendor, asked.json().id), 403)).toMatchObject({ subscriptionStatus: 'pending' });
  });

  it('counts feed reads (not 304s) against maxReadsPerDay, together with profile reads', async () => {
    const grant = await activeGrant(server, { fields: ['name'], duties: { maxReadsPerDay: 3 } });
    await patchProfile(server, grant.person, { name: { given: 'Lise' } });
    const first = await readFeed(grant.vendor, grant.subscriptionId);
    expectFeedHeaders(first, 'atom');
    expect((await readFeed(grant.vendor, grant.subscriptionId, '', { 'if-none-match': String(first.headers.etag) })).statusCode).toBe(304);
    const profile = await server.request({ method: 'GET', url: `/v1/subscriptions/${grant.subscriptionId}/profile`, headers: grant.vendor.auth });
    expect(profile.statusCode, profile.body).toBe(200);
    expectFeedHeaders(await readFeed(grant.vendor, grant.subscriptionId, 'format=json'), 'json');
    const limited = await readFeed(grant.vendor, grant.subscriptionId);
    expectProblem(limited, 429);
    expect(limited.json().type).toBe('https://proffer.dev/problems/read-limit');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    const log = await accessLog(server, grant.person);
    expect(log.map((e) => e.what)).toEqual(['feed', 'profile', 'feed']);
  });
});

describe('who may read', () => {
  let grant: Grant;
  beforeAll(async () => {
    grant = await activeGrant(server, { fields: ['name'] });
    await patchProfile(server, grant.person, { name: { given: 'Private' } });
  });

  it('another vendor, the person, and no one at all are refused, and nothing is logged', async () => {
    const other = await server.vendor('Other Vendor');
    expectProblem(await readFeed(other, grant.subscriptionId), 404);
    expect(expectProblem(await server.request({ method: 'GET', url: `/v1/subscriptions/${grant.subscriptionId}/feed`, headers: grant.person.auth }), 403).type).toBe(
      'https://proffer.dev/problems/wrong-principal',
    );
    const anonymous = await server.request({ method: 'GET', url: `/v1/subscriptions/${grant.subscriptionId}/feed` });
    expectProblem(anonymous, 401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer /);
    expectProblem(await readFeed(grant.vendor, '6a1c9f43-2b7e-4d0a-9f55-0e3d2c1b7a90'), 404);
    expect(await accessLog(server, grant.person)).toHaveLength(0);
  });

  it('a signed-out session is refused although its token still verifies', async () => {
    const vendor = await server.vendor('Signing Out');
    const own = await activeGrant(server, { fields: ['name'], vendor });
    expectFeedHeaders(await readFeed(vendor, own.subscriptionId), 'atom');
    const revoke = await server.request({ method: 'POST', url: '/v1/token/revoke', payload: { token: vendor.refreshToken } });
    expect(revoke.statusCode).toBe(200);
    const refused = expectProblem(await readFeed(vendor, own.subscriptionId), 401);
    expect(refused.detail).toMatch(/session has ended/);
  });
});

/** The session id and vendor id a vendor's access token carries. */
function claimsOf(vendor: TestVendor): { sessionId: string; vendorId: string } {
  const payload = JSON.parse(Buffer.from(vendor.accessToken.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sid: string; sub: string };
  return { sessionId: payload.sid, vendorId: payload.sub };
}

describe('concurrent reads share one grant lookup', () => {
  it('answers each read of a batch for its own token and subscription, never a neighbour’s', async () => {
    const own = await activeGrant(server, { fields: ['name'] });
    const signedOut = await activeGrant(server, { fields: ['name'], vendor: await server.vendor('Signed Out') });
    const revokeToken = await server.request({ method: 'POST', url: '/v1/token/revoke', payload: { token: signedOut.vendor.refreshToken } });
    expect(revokeToken.statusCode).toBe(200);
    const revoked = await activeGrant(server, { fields: ['name'] });
    expect((await server.request({ method: 'POST', url: `/v1/me/subscriptions/${revoked.subscriptionId}/revoke`, headers: revoked.person.auth })).statusCode).toBe(200);
    const snooping = await server.vendor('Snooping');

    const heads = new FeedHeads(server.ctx.database);
    const answers = await Promise.all([
      heads.forSession(claimsOf(own.vendor), own.subscriptionId),
      heads.forSession(claimsOf(signedOut.vendor), signedOut.subscriptionId),
      heads.forSession(claimsOf(snooping), own.subscriptionId),
      heads.forSession(claimsOf(revoked.vendor), revoked.subscriptionId),
      heads.forSession(claimsOf(own.vendor), '6a1c9f43-2b7e-4d0a-9f55-0e3d2c1b7a90'),
      heads.forSession({ ...claimsOf(own.vendor), vendorId: snooping.id }, own.subscriptionId),
    ]);
    expect(heads.stats.bySession).toEqual({ batches: 1, items: 6, failedBatches: 0 });
    expect(answers[0]).toMatchObject({ session: 'live', head: { subscriptionId: own.subscriptionId, status: 'active' } });
    expect(answers[1]).toEqual({ session: 'ended' });
    expect(answers[2]).toEqual({ session: 'live', head: undefined });
    expect(answers[3]).toMatchObject({ session: 'live', head: { subscriptionId: revoked.subscriptionId, status: 'revoked' } });
    expect(answers[4]).toEqual({ session: 'live', head: undefined });
    expect(answers[5]).toEqual({ session: 'ended' }); // a session is only ever its own vendor's

    // The same mix over HTTP, many times over: every read gets its own answer, and only the
    // reads that were served are in the person's access log.
    const round = () => [
      readFeed(own.vendor, own.subscriptionId),
      readFeed(signedOut.vendor, signedOut.subscriptionId),
      readFeed(snooping, own.subscriptionId),
      readFeed(revoked.vendor, revoked.subscriptionId),
    ];
    const responses = await Promise.all(Array.from({ length: 8 }, round).flat());
    expect(responses.map((r) => r.statusCode)).toEqual(Array.from({ length: 8 }, () => [200, 401, 404, 403]).flat());
    expect(await accessLog(server, own.person)).toHaveLength(8);
    expect(await accessLog(server, revoked.person)).toHaveLength(0);
  });
});

describe('the access log', () => {
  it('records every 200 read durably, concurrent ones included', async () => {
    const grant = await activeGrant(server, { fields: ['name', 'emails'] });
    await patchProfile(server, grant.person, { name: { given: 'Many' } });
    const responses = await Promise.all(Array.from({ length: 25 }, (_, i) => readFeed(grant.vendor, grant.subscriptionId, `format=${FORMATS[i % 3]}`)));
    for (const response of responses) expect(response.statusCode, response.body).toBe(200);
    const log = await accessLog(server, grant.person);
    expect(log).toHaveLength(25);
    for (const entry of log) expect(entry).toMatchObject({ what: 'feed', fields: ['name', 'emails'], subscription: grant.subscriptionId, address: ADDRESS });
  });
});

describe('a read that cannot be logged', () => {
  it('is not served: 503, and the next read, once the log can be written, is served and logged', async () => {
    const grant = await activeGrant(server, { fields: ['name'] });
    await patchProfile(server, grant.person, { name: { given: 'Unlogged' } });
    const before = await readFeed(grant.vendor, grant.subscriptionId);
    expectFeedHeaders(before, 'atom');
    // The access log's table is away for a moment (the database refuses the INSERT).
    await sql`alter table access_log rename to access_log_away`.execute(server.ctx.db);
    let refused: LightMyRequestResponse;
    try {
      refused = await readFeed(grant.vendor, grant.subscriptionId);
    } finally {
      await sql`alter table access_log_away rename to access_log`.execute(server.ctx.db);
    }
    expectProblem(refused, 503);
    expect(refused.json().type).toBe('https://proffer.dev/problems/unavailable');
    expect(refused.headers['retry-after']).toBeDefined();
    expect(refused.body).not.toContain('Unlogged');
    expectFeedHeaders(await readFeed(grant.vendor, grant.subscriptionId), 'atom');
    expect((await accessLog(server, grant.person)).filter((e) => e.what === 'feed')).toHaveLength(2);
  });

  it('a HEAD discloses nothing and is not logged', async () => {
    const grant = await activeGrant(server, { fields: ['name'] });
    const head = await server.request({ method: 'HEAD', url: `/v1/subscriptions/${grant.subscriptionId}/feed`, headers: grant.vendor.auth });
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers.etag).toMatch(/^"/);
    expect(await accessLog(server, grant.person)).toHaveLength(0);
    expect((await server.request({ method: 'HEAD', url: `/v1/subscriptions/${grant.subscriptionId}/feed` })).statusCode).toBe(401);
  });
});

describe('the group-commit writer', () => {
  const entryFor = (personId: string, subscriptionId: string, vendorId: string): AccessLogEntry => ({
    personId,
    subscriptionId,
    vendorId,
    what: 'feed',
    fieldsJson: '["name"]',
    address: '127.0.0.1',
    at: new Date(),
  });

  it('writes the entries of one moment in one INSERT, and each caller waits for its commit', async () => {
    const grant = await activeGrant(server, { fields: ['name'] });
    const writer = new AccessLogWriter(server.ctx.database);
    await Promise.all(Array.from({ length: 40 }, () => writer.write(entryFor(grant.person.id, grant.subscriptionId, grant.vendor.id))));
    expect(writer.stats).toEqual({ batches: 1, entries: 40, failedBatches: 0 });
    expect(await accessLog(server, grant.person)).toHaveLength(40);
  });

  it('fails only the entry that cannot be written, and never reports an unwritten entry as written', async () => {
    const grant = await activeGrant(server, { fields: ['name'] });
    const writer = new AccessLogWriter(server.ctx.database);
    const gone = '6a1c9f43-2b7e-4d0a-9f55-0e3d2c1b7a90'; // no such person: the foreign key refuses it
    const results = await Promise.allSettled([
      writer.write(entryFor(grant.person.id, grant.subscriptionId, grant.vendor.id)),
      writer.write(entryFor(gone, grant.subscriptionId, grant.vendor.id)),
      writer.write(entryFor(grant.person.id, grant.subscriptionId, grant.vendor.id)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await accessLog(server, grant.person)).toHaveLength(2);
  });

  it('rejects every waiting read when the database is gone', async () => {
    const database = await openDatabase({});
    await database.close();
    const writer = new AccessLogWriter(database);
    const results = await Promise.allSettled(Array.from({ length: 3 }, () => writer.write(entryFor(server.ctx.config.publicUrl, 'x', 'y'))));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(writer.stats.entries).toBe(0);
  });
});

describe('the grant version', () => {
  it('is not touched by reads, counted or not, so reads never invalidate the cache', async () => {
    const grant = await activeGrant(server, { fields: ['name'], duties: { maxReadsPerDay: 10 } });
    const view = async () => (await server.request({ method: 'GET', url: `/v1/subscriptions/${grant.subscriptionId}`, headers: grant.vendor.auth })).json().updatedAt as string;
    const before = await view();
    const first = await readFeed(grant.vendor, grant.subscriptionId);
    expect((await server.request({ method: 'GET', url: `/v1/subscriptions/${grant.subscriptionId}/profile`, headers: grant.vendor.auth })).statusCode).toBe(200);
    const second = await readFeed(grant.vendor, grant.subscriptionId);
    expect(await view()).toBe(before);
    expect(second.headers.etag).toBe(first.headers.etag);
  });

  const versionOf = async (subscriptionId: string) =>
    (await sql<{ grant_version: string }>`select grant_version from subscriptions where id = ${subscriptionId}`.execute(server.ctx.db)).rows[0]?.grant_version;

  it('moves on at every change of scope, even one that leaves updated_at alone, and the feed follows at once', async () => {
    const grant = await activeGrant(server, { fields: ['name', 'emails'] });
    await patchProfile(server, grant.person, { name: { given: 'Versioned' }, emails: { personal: 'versioned@example.org' } });
    expect((await readFeed(grant.vendor, grant.subscriptionId, 'format=json')).body).toContain('versioned@example.org');
    const before = await versionOf(grant.subscriptionId);
    // Written as any code path (or an operator) might: the scope only, updated_at untouched.
    await sql`update subscriptions set granted_fields = '["name"]'::jsonb where id = ${grant.subscriptionId}`.execute(server.ctx.db);
    expect(BigInt((await versionOf(grant.subscriptionId)) ?? 0)).toBe(BigInt(before ?? 0) + 1n);
    const after = await readFeed(grant.vendor, grant.subscriptionId, 'format=json');
    expect(after.statusCode).toBe(200);
    expect(after.body).toContain('Versioned');
    expect(after.body).not.toContain('versioned@example.org');
  });

  it('is left alone by counting reads, and cannot be set by hand', async () => {
    const grant = await activeGrant(server, { fields: ['name'] });
    const before = await versionOf(grant.subscriptionId);
    await sql`update subscriptions set reads_on_day = reads_on_day + 1, reads_day = current_date where id = ${grant.subscriptionId}`.execute(server.ctx.db);
    await sql`update subscriptions set grant_version = 99 where id = ${grant.subscriptionId}`.execute(server.ctx.db);
    expect(await versionOf(grant.subscriptionId)).toBe(before);
  });
});

describe('the render cache', () => {
  it('serves identical bytes for identical state, and never another grant’s render', async () => {
    const vendor = await server.vendor('Two Grants');
    const wide = await activeGrant(server, { fields: ['name', 'emails'], vendor });
    await patchProfile(server, wide.person, { name: { given: 'Wide' }, emails: { personal: 'wide@example.org' } });
    const narrowVendor = await server.vendor('Narrow');
    const narrow = await activeGrant(server, { fields: ['name'], person: wide.person, vendor: narrowVendor });
    // `narrow` was granted under the person's new terms (name only), which also narrowed `wide`.
    const a = await readFeed(vendor, wide.subscriptionId, 'format=json');
    const b = await readFeed(vendor, wide.subscriptionId, 'format=json');
    expect(a.body).toBe(b.body);
    expect(a.headers.etag).toBe(b.headers.etag);
    const other = await readFeed(narrowVendor, narrow.subscriptionId, 'format=json');
    expect(other.body).not.toBe(a.body);
    expect(other.body).toContain(narrow.subscriptionId);
    expect(other.body).not.toContain(wide.subscriptionId);
    expect(a.body).not.toContain('wide@example.org');
  });
});

describe('content coding', () => {
  const GZIP = { 'accept-encoding': 'gzip, deflate, br' };

  it('sends gzip to a client that accepts it: the same bytes once decoded, their own strong tag, Vary on Accept-Encoding', async () => {
    const grant = await activeGrant(server, { fields: ['name', 'emails'], categories: ['sports'] });
    await patchProfile(server, grant.person, { name: { given: 'Zipped' }, emails: { personal: 'zipped@example.org' } });
    for (const format of FORMATS) {
      const identity = await readFeed(grant.vendor, grant.subscriptionId, `format=${format}`);
      expectFeedHeaders(identity, format);
      expect(identity.headers['content-encoding']).toBeUndefined();
      const zipped = await readFeed(grant.vendor, grant.subscriptionId, `format=${format}`, GZIP);
      expectFeedHeaders(zipped, format);
      expect(zipped.headers['content-encoding']).toBe('gzip');
      expect(String(zipped.headers.vary)).toMatch(/Accept-Encoding/i);
      expect(String(identity.headers.vary)).toMatch(/Accept-Encoding/i);
      expect(Number(zipped.headers['content-length'])).toBe(zipped.rawPayload.length);
      expect(zipped.rawPayload.length).toBeLessThan(identity.rawPayload.length);
      expect(gunzipSync(zipped.rawPayload).equals(identity.rawPayload)).toBe(true);
      expect(zipped.headers.etag).not.toBe(identity.headers.etag);
      expect(zipped.headers['last-modified']).toBe(identity.headers['last-modified']);
      // The same state gives the same bytes and tag again.
      const again = await readFeed(grant.vendor, grant.subscriptionId, `format=${format}`, GZIP);
      expect(again.rawPayload.equals(zipped.rawPayload)).toBe(true);
      expect(again.headers.etag).toBe(zipped.headers.etag);
    }
    // Every 200 is logged, whatever its coding.
    expect((await accessLog(server, grant.person)).filter((e) => e.what === 'feed')).toHaveLength(9);
  });

  it.each([
    ['no Accept-Encoding', {}],
    ['gzip refused', { 'accept-encoding': 'gzip;q=0, br' }],
    ['identity preferred', { 'accept-encoding': 'gzip;q=0.5, identity' }],
    ['only codings it does not write', { 'accept-encoding': 'br, zstd' }],
  ])('sends identity with %s', async (_, headers: Record<string, string>) => {
    const grant = await activeGrant(server, { fields: ['name'] });
    await patchProfile(server, grant.person, { name: { given: 'Plain' } });
    const response = await readFeed(grant.vendor, grant.subscriptionId, 'format=atom', headers);
    expectFeedHeaders(response, 'atom');
    expect(response.headers['content-encoding']).toBeUndefined();
    expect((await parseFeed(response.body, 'atom')).entries).toHaveLength(1);
  });

  it('revalidates each coding by its own tag: 304 for the tag of what this request would get, not logged', async () => {
    const grant = await activeGrant(server, { fields: ['name'] });
    await patchProfile(server, grant.person, { name: { given: 'Tagged' } });
    const zipped = await readFeed(grant.vendor, grant.subscriptionId, 'format=json', GZIP);
    const identity = await readFeed(grant.vendor, grant.subscriptionId, 'format=json');
    const zippedTag = String(zipped.headers.etag);
    const identityTag = String(identity.headers.etag);

    const revalidated = await readFeed(grant.vendor, grant.subscriptionId, 'format=json', { ...GZIP, 'if-none-match': zippedTag });
    expect(revalidated.statusCode).toBe(304);
    expect(revalidated.headers.etag).toBe(zippedTag);
    expect(revalidated.headers['content-encoding']).toBeUndefined();
    expect(String(revalidated.headers.vary)).toMatch(/Accept-Encoding/i);
    expect((await readFeed(grant.vendor, grant.subscriptionId, 'format=json', { 'if-none-match': identityTag })).statusCode).toBe(304);
    // A tag names one byte sequence: the other coding's tag is not this representation's.
    const crossed = await readFeed(grant.vendor, grant.subscriptionId, 'format=json', { ...GZIP, 'if-none-match': identityTag });
    expect(crossed.statusCode).toBe(200);
    expect(crossed.headers.etag).toBe(zippedTag);
    expect((await readFeed(grant.vendor, grant.subscriptionId, 'format=json', { 'if-none-match': zippedTag })).statusCode).toBe(200);
    // Three 200s before and two after; the two 304s are not logged.
    expect((await accessLog(server, grant.person)).filter((e) => e.what === 'feed')).toHaveLength(4);
  });

  it('a HEAD tells the coded length and coding, sends nothing and is not logged', async () => {
    const grant = await activeGrant(server, { fields: ['name'] });
    await patchProfile(server, grant.person, { name: { given: 'Headed' } });
    const url = `/v1/subscriptions/${grant.subscriptionId}/feed`;
    const head = await server.request({ method: 'HEAD', url, headers: { ...grant.vendor.auth, ...GZIP } });
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers['content-encoding']).toBe('gzip');
    const get = await readFeed(grant.vendor, grant.subscriptionId, '', GZIP);
    expect(head.headers['content-length']).toBe(String(get.rawPayload.length));
    expect(head.headers.etag).toBe(get.headers.etag);
    expect((await accessLog(server, grant.person)).filter((e) => e.what === 'feed')).toHaveLength(1);
  });
});
