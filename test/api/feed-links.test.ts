import { gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../helpers/problems.js';
import { startTestServer, type TestPerson, type TestServer, type TestVendor } from '../helpers/server.js';
import {
  accessLog,
  activeGrant,
  createNeed,
  expectFeedHeaders,
  followLink,
  parseFeed,
  patchProfile,
  useContract,
  type FeedFormat,
  type Grant,
} from '../helpers/vendor-feed.js';

const logLines: string[] = [];
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ logLines });
  useContract(server);
});
afterAll(() => server?.close());

interface IssuedLink {
  id: string;
  subscription: string;
  url: string;
  createdAt: string;
  rotatedAt: string | null;
  live: boolean;
}

const capabilities: string[] = [];
const capabilityOf = (url: string) => {
  const capability = new URL(url).pathname.split('/').at(-1) as string;
  capabilities.push(capability);
  return capability;
};

async function mint(grant: Grant): Promise<IssuedLink> {
  const response = await server.request({ method: 'POST', url: `/v1/subscriptions/${grant.subscriptionId}/feed-links`, headers: grant.vendor.auth });
  expect(response.statusCode, response.body).toBe(201);
  const link = response.json<IssuedLink>();
  capabilityOf(link.url);
  return link;
}

const viaLink = (url: string, query = '', headers: Record<string, string> = {}): Promise<LightMyRequestResponse> =>
  server.request({ ...followLink(server, url + (query ? `?${query}` : ''), headers), remoteAddress: '192.0.2.44' });

const vendorList = (vendor: TestVendor, subscriptionId: string) =>
  server.request({ method: 'GET', url: `/v1/subscriptions/${subscriptionId}/feed-links`, headers: vendor.auth });
const personList = (person: TestPerson, subscriptionId: string) =>
  server.request({ method: 'GET', url: `/v1/me/subscriptions/${subscriptionId}/feed-links`, headers: person.auth });
const rotate = (person: TestPerson, subscriptionId: string, linkId: string) =>
  server.request({ method: 'POST', url: `/v1/me/subscriptions/${subscriptionId}/feed-links/${linkId}/rotate`, headers: person.auth });

/** A dead or unknown link: 404, the same problem word for word, with no referrer. */
let unknownProblem: unknown;
function expectNoFeed(response: LightMyRequestResponse): void {
  expectProblem(response, 404);
  expect(response.headers['referrer-policy']).toBe('no-referrer');
  expect(response.json()).toEqual(unknownProblem);
}

beforeAll(async () => {
  const unknown = await viaLink(`${server.ctx.config.publicUrl}/v1/feeds/${'A'.repeat(43)}`);
  expectProblem(unknown, 404);
  unknownProblem = unknown.json();
});

describe('a capability link', () => {
  let grant: Grant;
  let link: IssuedLink;
  beforeAll(async () => {
    grant = await activeGrant(server, { fields: ['name'], categories: ['garden'] });
    await patchProfile(server, grant.person, { name: { given: 'Linnea' }, phones: { mobile: '+46 8 123 456' } });
    for (let i = 0; i < 5; i++) await createNeed(server, grant.person, { title: `Seeds ${i}`, category: 'garden' });
    link = await mint(grant);
  });

  it('is an unguessable URL on the public address, shown once, stored as a digest only', async () => {
    const capability = capabilityOf(link.url);
    expect(link.url).toBe(`${server.ctx.config.publicUrl}/v1/feeds/${capability}`);
    expect(capability).toMatch(/^[A-Za-z0-9_-]{43}$/); // 256 bits
    expect(link).toMatchObject({ subscription: grant.subscriptionId, rotatedAt: null, live: true });
    const rows = await server.ctx.db.selectFrom('feed_links').selectAll().where('id', '=', link.id).execute();
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(capability);
    expect(rows[0]?.digest).toBe(createHash('sha256').update(capability).digest('base64url'));
    // Listings never show it again.
    const listed = await vendorList(grant.vendor, grant.subscriptionId);
    expect(listed.statusCode).toBe(200);
    expect(listed.json().items).toEqual([{ id: link.id, subscription: grant.subscriptionId, createdAt: link.createdAt, rotatedAt: null, live: true }]);
    expect(listed.body).not.toContain(capability);
    expect((await personList(grant.person, grant.subscriptionId)).json()).toEqual(listed.json());
  });

  it.each(['atom', 'rss', 'json'] as FeedFormat[])('serves the same %s feed as the token, without a token, with no referrer', async (format) => {
    const byLink = await viaLink(link.url, `format=${format}`);
    expectFeedHeaders(byLink, format);
    expect(byLink.headers['referrer-policy']).toBe('no-referrer');
    const byToken = await server.request({ method: 'GET', url: `/v1/subscriptions/${grant.subscriptionId}/feed?format=${format}`, headers: grant.vendor.auth });
    const [a, b] = [await parseFeed(byLink.body, format), await parseFeed(byToken.body, format)];
    expect(a.entries.map((e) => [e.id, e.json])).toEqual(b.entries.map((e) => [e.id, e.json]));
    expect(a.entries).toHaveLength(6);
    expect(byLink.body).not.toContain('+46 8');
    // Its own links stay on the capability URL.
    expect(a.links.self?.startsWith(`${link.url}?`)).toBe(true);
  });

  it('pages and revalidates like the token feed', async () => {
    const seen: string[] = [];
    let response = await viaLink(link.url, 'format=atom&limit=2');
    for (;;) {
      expectFeedHeaders(response, 'atom');
      const feed = await parseFeed(response.body, 'atom');
      seen.push(...feed.entries.map((e) => e.id));
      if (!feed.links.next) break;
      expect(feed.links.next.startsWith(`${link.url}?`)).toBe(true);
      response = await server.request(followLink(server, feed.links.next));
    }
    expect(seen).toHaveLength(6);
    expect(new Set(seen).size).toBe(6);

    const first = await viaLink(link.url, 'format=json');
    const again = await viaLink(link.url, 'format=json', { 'if-none-match': String(first.headers.etag) });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect(again.headers['referrer-policy']).toBe('no-referrer');
  });

  it('sends gzip to feed readers that accept it, revalidated by its own tag', async () => {
    const plain = await viaLink(link.url, 'format=atom');
    const zipped = await viaLink(link.url, 'format=atom', { 'accept-encoding': 'gzip' });
    expectFeedHeaders(zipped, 'atom');
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(zipped.rawPayload).equals(plain.rawPayload)).toBe(true);
    expect(zipped.headers.etag).not.toBe(plain.headers.etag);
    const again = await viaLink(link.url, 'format=atom', { 'accept-encoding': 'gzip', 'if-none-match': String(zipped.headers.etag) });
    expect(again.statusCode).toBe(304);
  });

  it('lands in the access log as a read through a link', async () => {
    const before = (await accessLog(server, grant.person)).length;
    expectFeedHeaders(await viaLink(link.url, 'format=rss'), 'rss');
    const log = await accessLog(server, grant.person);
    expect(log).toHaveLength(before + 1);
    expect(log[0]).toMatchObject({ what: 'feed-link', fields: ['name'], subscription: grant.subscriptionId, address: '192.0.2.44' });
  });

  it('refuses bad parameters without echoing the capability', async () => {
    const capability = capabilityOf(link.url);
    for (const response of [await viaLink(link.url, 'format=html'), await viaLink(link.url, 'cursor=forged'), await viaLink(link.url, 'token=x')]) {
      expectProblem(response, 400);
      expect(response.headers['referrer-policy']).toBe('no-referrer');
      expect(response.body).not.toContain(capability);
    }
    // A mistyped link (a trailing slash) is not a route, and its 404 does not echo the path either.
    const mistyped = await server.request({ method: 'GET', url: `/v1/feeds/${capability}/` });
    expectProblem(mistyped, 404);
    expect(mistyped.body).not.toContain(capability);
    expect((await server.request({ method: 'GET', url: `/v1/feeds/${capability}`, headers: { accept: 'text/html' } })).statusCode).toBe(406);
  });
});

describe('the life of a link', () => {
  it('rotation by the person kills the old URL and answers a new one', async () => {
    const grant = await activeGrant(server, { fields: ['name'] });
    const link = await mint(grant);
    expectFeedHeaders(await viaLink(link.url), 'atom');
    const rotated = await rotate(grant.person, grant.subscriptionId, link.id);
    expect(rotated.statusCode, rotated.body).toBe(200);
    const fresh = rotated.json<IssuedLink>();
    capabilityOf(fresh.url);
    expect(fresh).toMatchObject({ id: link.id, subscription: grant.subscriptionId, live: true });
    expect(fresh.rotatedAt).not.toBeNull();
    expect(fresh.url).not.toBe(link.url);
    expectNoFeed(await viaLink(link.url));
    const served = await viaLink(fresh.url);
    expectFeedHeaders(served, 'atom');
    // The pages served under the new URL link with the new URL only.
    expect(served.body).toContain(fresh.url);
    expect(served.body).not.toContain(capabilityOf(link.url));
    expect((await personList(grant.person, grant.subscriptionId)).json().items[0].rotatedAt).toBe(fresh.rotatedAt);
  });

  it('the person or the vendor kills it', async () => {
    const grant = await activeGrant(server, { fields: ['name'] });
    const [byPerson, byVendor, kept] = [await mint(grant), await mint(grant), await mint(grant)];
    const killed = await server.request({ method: 'DELETE', url: `/v1/me/subscriptions/${grant.subscriptionId}/feed-links/${byPerson.id}`, headers: grant.person.auth });
    expect(killed.statusCode, killed.body).toBe(204);
    const deleted = await server.request({ method: 'DELETE', url: `/v1/subscriptions/${grant.subscriptionId}/feed-links/${byVendor.id}`, headers: grant.vendor.auth });
    expect(deleted.statusCode, deleted.body).toBe(204);
    expectNoFeed(await viaLink(byPerson.url));
    expectNoFeed(await viaLink(byVendor.url));
    expectFeedHeaders(await viaLink(kept.url), 'atom');
    expect((await personList(grant.person, grant.subscriptionId)).json().items.map((l: IssuedLink) => l.id)).toEqual([kept.id]);
    // Twice is not found.
    expectProblem(await server.request({ method: 'DELETE', url: `/v1/me/subscriptions/${grant.subscriptionId}/feed-links/${byPerson.id}`, headers: grant.person.auth }), 404);
  });

  it('dies with the grant: revoked, ended or expired, it answers like an unknown link; it cannot be rotated back', async () => {
    for (const end of ['revoke', 'end', 'expire'] as const) {
      const grant = await activeGrant(server, { fields: ['name'] });
      await patchProfile(server, grant.person, { name: { given: 'Ending' } });
      const link = await mint(grant);
      const served = await viaLink(link.url);
      expectFeedHeaders(served, 'atom');
      if (end === 'revoke') {
        expect((await server.request({ method: 'POST', url: `/v1/me/subscriptions/${grant.subscriptionId}/revoke`, headers: grant.person.auth })).statusCode).toBe(200);
      } else if (end === 'end') {
        expect((await server.request({ method: 'DELETE', url: `/v1/subscriptions/${grant.subscriptionId}`, headers: grant.vendor.auth })).statusCode).toBe(200);
      } else {
        await server.ctx.db.updateTable('subscriptions').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', grant.subscriptionId).execute();
      }
      // The very next read, although its render is cached; and no 304 either.
      expectNoFeed(await viaLink(link.url));
      expectNoFeed(await viaLink(link.url, '', { 'if-none-match': String(served.headers.etag) }));
      expect((await personList(grant.person, grant.subscriptionId)).json().items[0].live).toBe(false);
      const rotated = await rotate(grant.person, grant.subscriptionId, link.id);
      expectProblem(rotated, 409);
      expectNoFeed(await viaLink(link.url));
      expect(expectProblem(await server.request({ method: 'POST', url: `/v1/subscriptions/${grant.subscriptionId}/feed-links`, headers: grant.vendor.auth }), 403).type).toBe(
        'https://proffer.dev/problems/grant-inactive',
      );
    }
  });

  it('dies with the person: erasure takes the links along', async () => {
    const grant = await activeGrant(server, { fields: ['name'] });
    const link = await mint(grant);
    expect((await server.request({ method: 'DELETE', url: '/v1/me', headers: grant.person.auth })).statusCode).toBe(204);
    expectNoFeed(await viaLink(link.url));
    expect(await server.ctx.db.selectFrom('feed_links').select('id').where('id', '=', link.id).execute()).toHaveLength(0);
  });

  it('a subscription has at most 10 links at once', async () => {
    const grant = await activeGrant(server, { fields: ['name'] });
    const links: IssuedLink[] = [];
    for (let i = 0; i < 10; i++) links.push(await mint(grant));
    const refused = await server.request({ method: 'POST', url: `/v1/subscriptions/${grant.subscriptionId}/feed-links`, headers: grant.vendor.auth });
    expect(expectProblem(refused, 409)).toMatchObject({ type: 'https://proffer.dev/problems/feed-link-limit', maxFeedLinks: 10 });
    expect((await vendorList(grant.vendor, grant.subscriptionId)).json().items).toHaveLength(10);
    const first = links[0] as IssuedLink;
    await server.request({ method: 'DELETE', url: `/v1/subscriptions/${grant.subscriptionId}/feed-links/${first.id}`, headers: grant.vendor.auth });
    await mint(grant);
  });
});

describe('who may manage links', () => {
  let grant: Grant;
  let link: IssuedLink;
  beforeAll(async () => {
    grant = await activeGrant(server, { fields: ['name'] });
    link = await mint(grant);
  });

  it('another vendor can neither mint, list nor delete them', async () => {
    const other = await server.vendor('Other Vendor');
    expectProblem(await server.request({ method: 'POST', url: `/v1/subscriptions/${grant.subscriptionId}/feed-links`, headers: other.auth }), 404);
    expectProblem(await vendorList(other, grant.subscriptionId), 404);
    expectProblem(await server.request({ method: 'DELETE', url: `/v1/subscriptions/${grant.subscriptionId}/feed-links/${link.id}`, headers: other.auth }), 404);
    expect((await vendorList(grant.vendor, grant.subscriptionId)).json().items).toHaveLength(1);
  });

  it('another person can neither list, rotate nor kill them', async () => {
    const other = await server.person();
    expectProblem(await personList(other, grant.subscriptionId), 404);
    expectProblem(await rotate(other, grant.subscriptionId, link.id), 404);
    expectProblem(await server.request({ method: 'DELETE', url: `/v1/me/subscriptions/${grant.subscriptionId}/feed-links/${link.id}`, headers: other.auth }), 404);
    expectFeedHeaders(await viaLink(link.url), 'atom');
  });

  it('a link of another subscription is not found under this one', async () => {
    const second = await activeGrant(server, { fields: ['name'], person: grant.person, vendor: grant.vendor });
    expectProblem(await rotate(grant.person, second.subscriptionId, link.id), 404);
    expectProblem(await server.request({ method: 'DELETE', url: `/v1/subscriptions/${second.subscriptionId}/feed-links/${link.id}`, headers: grant.vendor.auth }), 404);
    expectFeedHeaders(await viaLink(link.url), 'atom');
  });

  it('the wrong kind of token, or none, is refused', async () => {
    expect(expectProblem(await server.request({ method: 'POST', url: `/v1/subscriptions/${grant.subscriptionId}/feed-links`, headers: grant.person.auth }), 403).type).toBe(
      'https://proffer.dev/problems/wrong-principal',
    );
    expectProblem(await server.request({ method: 'GET', url: `/v1/subscriptions/${grant.subscriptionId}/feed-links`, headers: grant.person.auth }), 403);
    expectProblem(await server.request({ method: 'GET', url: `/v1/me/subscriptions/${grant.subscriptionId}/feed-links`, headers: grant.vendor.auth }), 403);
    expectProblem(await server.request({ method: 'POST', url: `/v1/me/subscriptions/${grant.subscriptionId}/feed-links/${link.id}/rotate`, headers: grant.vendor.auth }), 403);
    for (const [method, url] of [
      ['POST', `/v1/subscriptions/${grant.subscriptionId}/feed-links`],
      ['GET', `/v1/subscriptions/${grant.subscriptionId}/feed-links`],
      ['DELETE', `/v1/subscriptions/${grant.subscriptionId}/feed-links/${link.id}`],
      ['GET', `/v1/me/subscriptions/${grant.subscriptionId}/feed-links`],
      ['POST', `/v1/me/subscriptions/${grant.subscriptionId}/feed-links/${link.id}/rotate`],
      ['DELETE', `/v1/me/subscriptions/${grant.subscriptionId}/feed-links/${link.id}`],
    ] as const) {
      expectProblem(await server.request({ method, url }), 401);
    }
    expectFeedHeaders(await viaLink(link.url), 'atom');
  });
});

describe('logs', () => {
  it('never carry a capability, at trace level', async () => {
    expect(capabilities.length).toBeGreaterThan(10);
    const requests = logLines.map((line) => JSON.parse(line) as { msg?: string; route?: string }).filter((entry) => entry.msg === 'request');
    expect(requests.map((entry) => entry.route)).toContain('/v1/feeds/:capability');
    const all = logLines.join('\n');
    for (const capability of capabilities) expect(all).not.toContain(capability);
  });
});
