import { readFileSync } from 'node:fs';
import { Ajv, type AnySchema } from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TEST_PASSWORD, type TestPerson, type TestServer } from '../helpers/server.js';
import { parseStrict } from '../helpers/xml.js';

const jsonFeedSchema = JSON.parse(readFileSync(new URL('../../../shared/standards/jsonfeed-1.1.schema.json', import.meta.url), 'utf8')) as AnySchema;
const jsonFeedAjv = new Ajv({ strict: false, allErrors: true });
addFormats.default(jsonFeedAjv);
const validateJsonFeed = jsonFeedAjv.compile(jsonFeedSchema);

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

const HOSTILE = [
  '<script>alert(1)</script>',
  ']]> & <![CDATA[ x ]]>',
  'javascript:alert(1)',
  '\u202Eevil\u202C right-to-left',
  '"quotes" & \'apostrophes\' < >',
  'tab\tand\nnewline\r\nand CR',
  'x'.repeat(200),
];

async function personWithHistory(): Promise<TestPerson> {
  const person = await server.person();
  await server.request({ method: 'PUT', url: '/v1/me/profile', headers: person.auth, payload: { name: { given: HOSTILE[0] } } });
  for (const [i, text] of HOSTILE.entries()) {
    const created = await server.request({
      method: 'POST',
      url: '/v1/me/needs',
      headers: person.auth,
      payload: { title: text.slice(0, 200), description: HOSTILE.join(' | '), category: `test/cat-${i}` },
    });
    expect(created.statusCode).toBe(201);
  }
  return person;
}

describe('GET /v1/me/feed', () => {
  let person: TestPerson;
  beforeAll(async () => {
    person = await personWithHistory();
  });

  it('is Atom by default, well-formed, with every entry and its text as text', async () => {
    const response = await server.request({ method: 'GET', url: '/v1/me/feed?limit=100', headers: person.auth });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/atom\+xml/);
    expect(response.headers['cache-control']).toContain('private');
    const { elements } = parseStrict(response.body);
    expect(elements[0]?.name).toBe('feed');
    expect(elements[0]?.attributes.xmlns).toBe('http://www.w3.org/2005/Atom');
    const entries = elements.filter((e) => e.name === 'entry');
    expect(entries).toHaveLength(HOSTILE.length + 1);
    const titles = elements.filter((e) => e.name === 'title');
    for (const title of titles) expect(title.attributes.type).toBe('text');
    // The hostile strings survive as text: the parser gives them back exactly.
    for (const text of HOSTILE.slice(0, 5)) expect(titles.some((t) => t.text === `New need: ${text}`), text).toBe(true);
    const ids = elements.filter((e) => e.name === 'id').map((e) => e.text);
    expect(new Set(ids).size).toBe(ids.length);
    expect(response.body).not.toContain('<script>');
  });

  it('is RSS 2.0 by ?format=rss or Accept, with HTML-escaped text so readers show it literally', async () => {
    for (const request of [
      { url: '/v1/me/feed?format=rss&limit=100', headers: person.auth },
      { url: '/v1/me/feed?limit=100', headers: { ...person.auth, accept: 'application/rss+xml' } },
    ]) {
      const response = await server.request({ method: 'GET', ...request });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/^application\/rss\+xml/);
      const { elements } = parseStrict(response.body);
      expect(elements[0]?.name).toBe('rss');
      const items = elements.filter((e) => e.name === 'item');
      expect(items).toHaveLength(HOSTILE.length + 1);
      const titles = elements.filter((e) => e.name === 'title').map((e) => e.text);
      expect(titles).toContain('New need: &lt;script&gt;alert(1)&lt;/script&gt;');
      expect(titles.some((t) => t.includes('<script>'))).toBe(false);
    }
  });

  it('is JSON Feed 1.1 by ?format=json or Accept, valid against the JSON Feed 1.1 schema', async () => {
    for (const request of [
      { url: '/v1/me/feed?format=json&limit=100', headers: person.auth },
      { url: '/v1/me/feed?limit=100', headers: { ...person.auth, accept: 'application/feed+json' } },
    ]) {
      const response = await server.request({ method: 'GET', ...request });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/^application\/feed\+json/);
      const feed = response.json();
      expect(validateJsonFeed(feed), jsonFeedAjv.errorsText(validateJsonFeed.errors)).toBe(true);
      expect(feed.version).toBe('https://jsonfeed.org/version/1.1');
      expect(feed.items).toHaveLength(HOSTILE.length + 1);
      for (const item of feed.items) {
        expect(item.content_text).toBeTypeOf('string');
        expect(item.content_html).toBeUndefined();
      }
      expect(feed.items.map((i: { title: string }) => i.title)).toContain(`New need: ${HOSTILE[0]}`);
    }
  });

  it('pages newest first with RFC 5005 next links and next_url, every event exactly once', async () => {
    for (const format of ['atom', 'rss', 'json'] as const) {
      const seen: string[] = [];
      let url: string | undefined = `/v1/me/feed?format=${format}&limit=3`;
      let pages = 0;
      while (url) {
        const response = await server.request({ method: 'GET', url, headers: person.auth });
        expect(response.statusCode).toBe(200);
        pages += 1;
        let next: string | undefined;
        if (format === 'json') {
          const feed = response.json();
          seen.push(...feed.items.map((i: { id: string }) => i.id));
          next = feed.next_url;
        } else {
          const { elements } = parseStrict(response.body);
          seen.push(...elements.filter((e) => e.name === (format === 'atom' ? 'id' : 'guid')).map((e) => e.text).filter((id) => id.includes(':event:')));
          next = elements.find((e) => (e.name === 'link' || e.name === 'atom:link') && e.attributes.rel === 'next')?.attributes.href;
        }
        url = next?.replace(server.ctx.config.publicUrl, '');
      }
      expect(pages).toBe(Math.ceil((HOSTILE.length + 1) / 3));
      expect(new Set(seen).size).toBe(HOSTILE.length + 1);
      const eventIds = seen.map((id) => Number(id.split(':event:')[1]));
      expect(eventIds).toEqual([...eventIds].sort((a, b) => b - a));
    }
  });

  it('refuses a format it cannot produce (406) and a forged cursor (400)', async () => {
    const html = await server.request({ method: 'GET', url: '/v1/me/feed', headers: { ...person.auth, accept: 'text/html' } });
    expect(html.statusCode).toBe(406);
    expect(html.headers['content-type']).toMatch(/^application\/problem\+json/);
    const badFormat = await server.request({ method: 'GET', url: '/v1/me/feed?format=pdf', headers: person.auth });
    expect(badFormat.statusCode).toBe(400);
    // The last: a serial beyond int8, which must be refused before it reaches a query.
    for (const cursor of ['bm90LWEtY3Vyc29y', 'ZTA', Buffer.from('e1; drop table events').toString('base64url'), Buffer.from('e9999999999999999999').toString('base64url')]) {
      const forged = await server.request({ method: 'GET', url: `/v1/me/feed?cursor=${cursor}`, headers: person.auth });
      expect(forged.statusCode, cursor).toBe(400);
      expect(forged.json().errors[0].pointer).toBe('/cursor');
    }
  });

  it("shows only the person's own events", async () => {
    const other = await server.person();
    const response = await server.request({ method: 'GET', url: '/v1/me/feed?format=json', headers: other.auth });
    expect(response.statusCode).toBe(200);
    expect(response.json().items).toEqual([]);
    expect(response.body).not.toContain(person.id);
  });
});

describe('GET /v1/me/export', () => {
  it('holds everything: account, profile, needs, events and sessions, as JSON and as XML', async () => {
    const person = await personWithHistory();
    const json = await server.request({ method: 'GET', url: '/v1/me/export', headers: person.auth });
    expect(json.statusCode).toBe(200);
    expect(json.headers['content-disposition']).toContain('.json');
    const exported = json.json();
    expect(exported.format).toBe('proffer-export/1');
    expect(exported.person.handle).toBe(person.handle);
    expect(exported.profile.version).toBe(1);
    expect(exported.profile.document.name.given).toBe(HOSTILE[0]);
    expect(exported.needs).toHaveLength(HOSTILE.length);
    expect(exported.events).toHaveLength(HOSTILE.length + 1);
    expect(exported.sessions.length).toBeGreaterThanOrEqual(1);
    expect(json.body).not.toContain('scrypt$');
    expect(json.body).not.toContain(person.refreshToken);

    const xml = await server.request({ method: 'GET', url: '/v1/me/export', headers: { ...person.auth, accept: 'application/xml' } });
    expect(xml.statusCode).toBe(200);
    expect(xml.headers['content-type']).toMatch(/^application\/xml/);
    expect(xml.headers['content-disposition']).toContain('.xml');
    const { elements } = parseStrict(xml.body);
    expect(elements[0]?.name).toBe('export');
    expect(elements.filter((e) => e.name === 'title').map((e) => e.text)).toContain(HOSTILE[1]);
  });
});

describe('DELETE /v1/me', () => {
  it('erases every row about the person and kills every token at once', async () => {
    const person = await personWithHistory();
    const secondLogin = await server.request({
      method: 'POST',
      url: '/v1/token',
      payload: { grant_type: 'password', username: person.handle, password: TEST_PASSWORD },
    });
    const second = secondLogin.json();

    const erased = await server.request({ method: 'DELETE', url: '/v1/me', headers: person.auth });
    expect(erased.statusCode).toBe(204);

    const { db } = server.ctx;
    for (const table of ['profiles', 'needs', 'events', 'sessions'] as const) {
      const rows = await db.selectFrom(table).select('person_id').where('person_id', '=', person.id).execute();
      expect(rows, table).toEqual([]);
    }
    expect(await db.selectFrom('people').select('id').where('id', '=', person.id).execute()).toEqual([]);

    for (const token of [person.accessToken, second.access_token]) {
      const me = await server.request({ method: 'GET', url: '/v1/me/profile', headers: { authorization: `Bearer ${token}` } });
      expect(me.statusCode).toBe(401);
    }
    for (const refresh of [person.refreshToken, second.refresh_token]) {
      const refreshed = await server.request({ method: 'POST', url: '/v1/token', payload: { grant_type: 'refresh_token', refresh_token: refresh } });
      expect(refreshed.statusCode).toBe(400);
      expect(refreshed.json().error).toBe('invalid_grant');
    }
    const login = await server.request({
      method: 'POST',
      url: '/v1/token',
      payload: { grant_type: 'password', username: person.handle, password: TEST_PASSWORD },
    });
    expect(login.statusCode).toBe(400);
    // The handle is retired: nobody can take it over and receive what vendors send to it.
    const again = await server.request({ method: 'POST', url: '/v1/people', payload: { handle: person.handle, password: TEST_PASSWORD } });
    expect(again.statusCode).toBe(409);
  });

  it("leaves everyone else's data alone", async () => {
    const keep = await personWithHistory();
    const leave = await personWithHistory();
    expect((await server.request({ method: 'DELETE', url: '/v1/me', headers: leave.auth })).statusCode).toBe(204);
    const exported = await server.request({ method: 'GET', url: '/v1/me/export', headers: keep.auth });
    expect(exported.statusCode).toBe(200);
    expect(exported.json().needs).toHaveLength(HOSTILE.length);
    expect(exported.json().events).toHaveLength(HOSTILE.length + 1);
  });
});
