import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeFeed } from '../helpers/feeds.js';
import { expectProblem } from '../helpers/problems.js';
import { startTestServer, type TestPerson, type TestServer, type TestVendor } from '../helpers/server.js';
import type { components } from '../../server/generated/openapi.js';

let server: TestServer;
let ada: TestPerson;
let shop: TestVendor;
let subscriptionId: string;

type LogEntry = components['schemas']['accessLogEntry'];
interface JsonFeedPage {
  items: { id: string; title: string; content_text: string; date_published: string; _proffer: LogEntry }[];
  next_url?: string;
}

const relative = (url: string) => url.replace(server.ctx.config.publicUrl, '');
const feed = (query = '', headers: Record<string, string> = {}, person: TestPerson = ada) =>
  server.request({ method: 'GET', url: `/v1/me/access-log/feed${query}`, headers: { ...person.auth, ...headers } });
const readProfile = () => server.request({ method: 'GET', url: `/v1/subscriptions/${subscriptionId}/profile`, headers: shop.auth });

/** Rows other parts of the server write (acknowledgements, and kinds this feed has never heard of). */
async function logRow(what: string, fields: string[], address: string) {
  await server.ctx.db
    .insertInto('access_log')
    .values({ person_id: ada.id, subscription_id: subscriptionId, vendor_id: shop.id, what, fields: JSON.stringify(fields), address, at: new Date() })
    .execute();
}

beforeAll(async () => {
  server = await startTestServer();
  ada = await server.person();
  shop = await server.vendor('Velo <Lyon> & Co');
  await server.request({ method: 'PUT', url: '/v1/me/profile', headers: ada.auth, payload: { name: { given: 'Ada' }, emails: { personal: 'ada@example.org' } } });
  const terms = await server.request({
    method: 'PUT',
    url: '/v1/me/terms',
    headers: ada.auth,
    payload: { rules: [{ id: 'orders', effect: 'permit', fields: ['name', 'emails'], purposes: ['fulfillment'] }] },
  });
  const subscription = await server.request({
    method: 'POST',
    url: '/v1/subscriptions',
    headers: shop.auth,
    payload: {
      person: ada.handle,
      fields: [
        { path: 'name', purpose: 'fulfillment', required: true, retentionDays: 30 },
        { path: 'emails', purpose: 'fulfillment', required: true, retentionDays: 30 },
      ],
      accepts: { termsVersion: terms.json().version, duties: {} },
    },
  });
  expect(subscription.json().status).toBe('active');
  subscriptionId = subscription.json().id;
  for (let i = 0; i < 3; i++) expect((await readProfile()).statusCode).toBe(200);
  await logRow('deletion-acknowledged', ['name'], '198.51.100.4');
  await logRow('deletion-overdue', ['emails'], '');
  await logRow('teleport.read_v2', [], '192.0.2.1');
});
afterAll(() => server?.close());

describe('the access log as a feed', () => {
  it('has one entry per row of the access log, newest first, carrying the row as JSON', async () => {
    const log = (await server.request({ method: 'GET', url: '/v1/me/access-log?limit=100', headers: ada.auth })).json().items as LogEntry[];
    expect(log).toHaveLength(6);
    const response = await feed('?format=json&limit=100');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-type']).toBe('application/feed+json; charset=utf-8');
    expect(response.headers['cache-control']).toBe('private, no-cache');
    const page = response.json<JsonFeedPage>();
    await consumeFeed(response.body, 'json');
    expect(page.items.map((item) => item._proffer)).toEqual(log);
    expect(page.items.map((item) => item.id)).toEqual(log.map((row) => `urn:proffer:person:${ada.id}:access:${row.id}`));
    expect(page.items.map((item) => item.date_published)).toEqual(log.map((row) => row.at));
  });

  it('says what happened in words, and names kinds it does not know', async () => {
    const page = (await feed('?format=json&limit=100')).json<JsonFeedPage>();
    expect(page.items.map((item) => item.title)).toEqual([
      'Velo <Lyon> & Co: teleport read v2',
      'Velo <Lyon> & Co has not confirmed deleting your data',
      'Velo <Lyon> & Co confirmed it deleted your data',
      'Velo <Lyon> & Co read your profile',
      'Velo <Lyon> & Co read your profile',
      'Velo <Lyon> & Co read your profile',
    ]);
    const read = page.items.at(-1);
    expect(read?.content_text).toContain('Fields received: name, emails.');
    expect(read?.content_text).toContain(`Subscription ${subscriptionId}.`);
    expect(page.items[1]?.content_text).toContain('Fields to delete: emails.');
    expect(page.items[1]?.content_text).not.toContain('From');
  });

  it.each([
    ['atom', {}, ''],
    ['rss', { accept: 'application/rss+xml' }, ''],
    ['json', { accept: 'application/feed+json' }, ''],
    ['atom', { accept: 'application/feed+json' }, '?format=atom'],
  ] as const)('serves %s (Accept %j%s), well-formed, the vendor name as text', async (format, headers, query) => {
    const response = await feed(query, headers);
    expect(response.statusCode, response.body).toBe(200);
    const consumed = await consumeFeed(response.body, format);
    expect(consumed.entries).toHaveLength(6);
    expect(consumed.entries.at(-1)?.title).toBe('Velo <Lyon> & Co read your profile');
  });

  it('pages: every row once, following next links', async () => {
    const ids: string[] = [];
    let url: string | undefined = '/v1/me/access-log/feed?format=atom&limit=4';
    while (url) {
      const response = await server.request({ method: 'GET', url, headers: ada.auth });
      const consumed = await consumeFeed(response.body, 'atom');
      ids.push(...consumed.entries.map((e) => e.id));
      url = consumed.next ? relative(consumed.next) : undefined;
    }
    expect(ids).toHaveLength(6);
    expect(new Set(ids).size).toBe(6);
    expectProblem(await feed('?cursor=bm9wZQ'), 400, '/cursor');
  });

  it('revalidates: 304 on its ETag until a new read is logged', async () => {
    const first = await feed('?format=json');
    const etag = String(first.headers.etag);
    const again = await feed('?format=json', { 'if-none-match': etag });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect((await readProfile()).statusCode).toBe(200);
    const after = await feed('?format=json', { 'if-none-match': etag });
    expect(after.statusCode).toBe(200);
    expect(after.json<JsonFeedPage>().items).toHaveLength(7);
  });

  it("shows a person only their own log, and refuses vendors and anonymous readers", async () => {
    const bea = await server.person();
    const theirs = await feed('?format=json', {}, bea);
    expect(theirs.statusCode).toBe(200);
    expect(theirs.json<JsonFeedPage>().items).toEqual([]);
    expect(theirs.body).not.toContain(ada.id);
    expectProblem(await server.request({ method: 'GET', url: '/v1/me/access-log/feed', headers: shop.auth }), 403);
    expectProblem(await server.request({ method: 'GET', url: '/v1/me/access-log/feed' }), 401);
  });
});
