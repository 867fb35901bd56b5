// Every feed the server serves, in every format it serves, read by independent consumers (xmllint,
// @rowanmanning/feed-parser, a strict sax parse; the JSON Feed 1.1 schema), with a person, a vendor
// and needs whose every free-text field is hostile: markup, `&`, `]]>`, `javascript:` links,
// right-to-left overrides, astral characters, text at its longest. The documents must stay
// well-formed and inert, and the text must come back exactly as it was written.
//
// One feed is one entry of FEEDS; the formats of each are those its 200 declares in openapi.yaml.
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeFeed, FEED_MEDIA_TYPES, servedFormats, type ConsumedFeed, type FeedFormat } from '../helpers/feeds.js';
import { expectProblem } from '../helpers/problems.js';
import { startTestServer, type TestPerson, type TestServer, type TestVendor } from '../helpers/server.js';

// ---------------------------------------------------------------------------------------------
// Hostile text

/** Each is a whole field value somewhere below; together they go into every free-text field. */
const PAYLOADS = [
  '<script>alert("x")</script><img src=x onerror=alert(1)>',
  'javascript:alert(document.cookie)',
  'end ]]> of CDATA <![CDATA[ inside ]]> and after',
  'Fish & chips &amp; &lt;b&gt; &#x3C;script&#x3E; &nbsp; &unknown;',
  'invoice \u202Egpj.exe\u202C total \u200F\u2066isolate\u2069',
  'abacus 🧮 bike 🚲 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 👩‍💻 \u{10FFFD}',
  `"double" 'single' \`back\` <!-- comment --> <?pi x?> <!DOCTYPE x>`,
  'tab\there, newline\nthere, CRLF\r\nthere, CR\ronly',
  '<a href="javascript:alert(1)">click</a> <svg onload=alert(1)>',
] as const;

/** For fields of at most 16 characters (postal codes). */
const SHORT = ['<b>&amp;]]>', 'javascript:x()', '\u202E🧮<i>', '&lt;"\'>'] as const;

/** Hazards repeated up to a field's maximum length (ASCII: length is code points either way). */
const longest = (max: number) => '<script>&amp;]]>javascript:alert(1)</script>\u202E '.repeat(Math.ceil(max / 40)).slice(0, max);

let p = 0;
const next = () => PAYLOADS[p++ % PAYLOADS.length] as string;
const nextShort = (i: number) => SHORT[i % SHORT.length] as string;

/** Every string field of the profile that takes free text, hostile; emails as hostile as the format allows. */
const HOSTILE_PROFILE = {
  name: { prefix: next(), given: next(), middle: next(), family: next(), suffix: next(), nickname: longest(200) },
  emails: { personal: "o'neil&{x}@example.org", work: 'a+b/c=d?e^f`g|h~i@example.org' },
  phones: { mobile: '+44 20 7946 0000' },
  addresses: {
    home: { recipient: next(), lines: [next(), next(), next(), longest(200)], locality: next(), region: next(), postalCode: nextShort(0), country: 'GB' },
    work: { lines: [next()], locality: next(), postalCode: nextShort(1), country: 'FR' },
  },
  locale: 'en-GB',
  preferences: { sizes: { shoe: next(), script: next() }, diet: ['vegetarian', 'script'], contactChannels: ['email'] },
  // Labels are the person's too: `script` and `iframe` become element names in Proffer XML.
  custom: { motto: next(), 'home-page': 'javascript:alert(1)', essay: longest(2000), script: next(), iframe: next(), lucky: 7, newsletter: false },
};

/** Public needs, every free-text field hostile; their titles end up in entry titles. */
const HOSTILE_NEEDS = PAYLOADS.map((payload, i) => ({
  title: payload as string,
  description: i === 0 ? longest(4000) : (PAYLOADS[(i + 1) % PAYLOADS.length] as string),
  category: `test/hostile-${i}`,
  quantity: 1 + i,
  budget: { min: i, max: 100 + i, currency: 'EUR' },
  location: { locality: PAYLOADS[(i + 2) % PAYLOADS.length], region: PAYLOADS[(i + 3) % PAYLOADS.length], postalCode: nextShort(i), country: 'FR' },
  wantedBy: '2099-12-31',
  visibility: 'public',
}));
HOSTILE_NEEDS.push({ ...(HOSTILE_NEEDS[1] as (typeof HOSTILE_NEEDS)[number]), title: longest(200), category: 'test/longest' });

const HOSTILE_VENDOR_NAME = '<script>alert("vendor")</script> & Sons ]]> javascript:void(0) \u202Eevil 🧮';

function stringsOf(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const item of value) stringsOf(item, out);
  else if (value && typeof value === 'object') for (const item of Object.values(value)) stringsOf(item, out);
  return out;
}
const PROFILE_TEXTS = stringsOf(HOSTILE_PROFILE);
const NEED_TEXTS = stringsOf(HOSTILE_NEEDS.map(({ title, description, location }) => ({ title, description, location })));
const NEED_TITLES = HOSTILE_NEEDS.map((n) => n.title);

// ---------------------------------------------------------------------------------------------
// The world: a hostile person, their public needs, a hostile vendor subscribed to everything

let server: TestServer;
let person: TestPerson;
let vendor: TestVendor;
let subscriptionId: string;

const asPerson = (options: InjectOptions) => server.request({ ...options, headers: { ...person.auth, ...options.headers } });

async function expectStatus(response: Promise<{ statusCode: number; body: string }>, status: number) {
  const answered = await response;
  expect(answered.statusCode, answered.body).toBe(status);
  return answered;
}

beforeAll(async () => {
  server = await startTestServer();
  person = await server.person();
  await expectStatus(asPerson({ method: 'PUT', url: '/v1/me/profile', payload: HOSTILE_PROFILE }), 200);
  for (const need of HOSTILE_NEEDS) await expectStatus(asPerson({ method: 'POST', url: '/v1/me/needs', payload: need }), 201);
  const terms = await expectStatus(
    asPerson({
      method: 'PUT',
      url: '/v1/me/terms',
      payload: { title: 'Everything to everyone', rules: [{ id: 'all', effect: 'permit', fields: ['*'], needs: { categories: ['*'] } }] },
    }),
    200,
  );
  const version = (JSON.parse(terms.body) as { version: number }).version;

  vendor = await server.vendor(HOSTILE_VENDOR_NAME);
  const fields = ['name', 'emails', 'phones', 'addresses', 'locale', 'preferences', 'custom'].map((path) => ({ path, purpose: 'fulfillment', required: true, retentionDays: 30 }));
  const subscribed = await expectStatus(
    server.request({
      method: 'POST',
      url: '/v1/subscriptions',
      headers: vendor.auth,
      payload: { person: person.handle, fields, needs: { categories: ['*'], purpose: 'offers', retentionDays: 30 }, accepts: { termsVersion: version, duties: {} } },
    }),
    201,
  );
  const subscription = JSON.parse(subscribed.body) as { id: string; status: string };
  expect(subscription.status).toBe('active');
  subscriptionId = subscription.id;
  // Reads for the access log.
  for (let i = 0; i < 3; i++) await expectStatus(server.request({ method: 'GET', url: `/v1/subscriptions/${subscriptionId}/profile`, headers: vendor.auth }), 200);
});
afterAll(() => server?.close());

// ---------------------------------------------------------------------------------------------
// The feeds

interface FeedCase {
  name: string;
  /** The path as in openapi.yaml: the formats tested are those its 200 declares. */
  pathTemplate: string;
  /** The path of the first page (no query). */
  path(): string | Promise<string>;
  headers(): Record<string, string>;
  /** Text that must come back exactly as a substring of some entry's title. */
  titles(format: FeedFormat): string[];
  /** Text that must come back exactly somewhere in what a consumer reads (titles, summaries, content). */
  carries(format: FeedFormat): string[];
  /** Makes the feed grow by at least one entry. */
  grow(): Promise<void>;
}

const newNeed = async () => {
  await expectStatus(asPerson({ method: 'POST', url: '/v1/me/needs', payload: { ...HOSTILE_NEEDS[0], title: `${next()} (later)` } }), 201);
};

/** The profile text a grant of every field shows, and the need text of every category. */
const GRANTED_TEXTS = [...PROFILE_TEXTS, ...NEED_TEXTS];

let capabilityPath: string | undefined;
/** A capability link minted by the vendor, once: its path (the URL is on the public URL). */
async function capabilityLink(): Promise<string> {
  if (!capabilityPath) {
    const minted = await expectStatus(server.request({ method: 'POST', url: `/v1/subscriptions/${subscriptionId}/feed-links`, headers: vendor.auth }), 201);
    capabilityPath = new URL((JSON.parse(minted.body) as { url: string }).url).pathname;
  }
  return capabilityPath;
}

const FEEDS: FeedCase[] = [
  {
    name: "the person's own feed",
    pathTemplate: '/v1/me/feed',
    path: () => '/v1/me/feed',
    headers: () => person.auth,
    titles: () => NEED_TITLES,
    // RSS items carry a title and a human summary only; Atom and JSON Feed carry each event as JSON.
    carries: (format) => (format === 'rss' ? NEED_TITLES : [...PROFILE_TEXTS, ...NEED_TEXTS]),
    grow: newNeed,
  },
  {
    name: "the vendor's feed",
    pathTemplate: '/v1/subscriptions/{subscriptionId}/feed',
    path: () => `/v1/subscriptions/${subscriptionId}/feed`,
    headers: () => vendor.auth,
    titles: () => NEED_TITLES,
    // Every entry carries the event as JSON and as Proffer XML in all three formats.
    carries: () => GRANTED_TEXTS,
    grow: newNeed,
  },
  {
    name: 'the capability-link feed',
    pathTemplate: '/v1/feeds/{capability}',
    path: capabilityLink,
    headers: () => ({}),
    titles: () => NEED_TITLES,
    carries: () => GRANTED_TEXTS,
    grow: newNeed,
  },
  {
    name: 'the public intent feed',
    pathTemplate: '/v1/intents',
    path: () => '/v1/intents',
    headers: () => ({}),
    titles: () => NEED_TITLES,
    // What a public intent shows of a need: its title, description and location.
    carries: () => NEED_TEXTS,
    grow: newNeed,
  },
  {
    name: 'the access-log feed',
    pathTemplate: '/v1/me/access-log/feed',
    path: () => '/v1/me/access-log/feed',
    headers: () => person.auth,
    titles: () => [HOSTILE_VENDOR_NAME],
    carries: () => [HOSTILE_VENDOR_NAME],
    grow: async () => {
      await expectStatus(server.request({ method: 'GET', url: `/v1/subscriptions/${subscriptionId}/profile`, headers: vendor.auth }), 200);
    },
  },
];

/** A page of a feed as served: 200, the format's media type, and every consumer's reading. */
async function readPage(feed: FeedCase, path: string, format: FeedFormat): Promise<ConsumedFeed> {
  const response = await server.request({ method: 'GET', url: path, headers: { ...feed.headers(), accept: FEED_MEDIA_TYPES[format] } });
  expect(response.statusCode, response.body.slice(0, 500)).toBe(200);
  expect(response.headers['content-type']).toMatch(new RegExp(`^${FEED_MEDIA_TYPES[format].replace('+', '\\+')}\\b`));
  return consumeFeed(response.body, format);
}

const withQuery = (path: string, query: Record<string, string>) => `${path}${path.includes('?') ? '&' : '?'}${new URLSearchParams(query)}`;

/** A `next` link made relative to the server (it is absolute, on the public URL). */
function relative(link: string): string {
  const url = new URL(link);
  expect(url.origin).toBe(server.ctx.config.publicUrl);
  return `${url.pathname}${url.search}`;
}

/** Every page from the first, by the next links; answers the pages. */
async function walk(feed: FeedCase, format: FeedFormat, limit: number): Promise<ConsumedFeed[]> {
  const pages: ConsumedFeed[] = [];
  let path: string | undefined = withQuery(await feed.path(), { format, limit: String(limit) });
  while (path) {
    const page = await readPage(feed, path, format);
    pages.push(page);
    expect(pages.length, 'the walk does not end').toBeLessThan(200);
    path = page.next === undefined ? undefined : relative(page.next);
  }
  return pages;
}

describe.each(FEEDS)('$name', (feed) => {
  const formats = servedFormats(feed.pathTemplate);

  it('is in the contract with at least one feed format', () => {
    expect(formats.length).toBeGreaterThan(0);
  });

  describe.each(formats)('as %s', (format) => {
    it('reads alike in every consumer; hostile text comes back exactly, and nothing in it is active', async () => {
      const whole = await readPage(feed, withQuery(await feed.path(), { format, limit: '100' }), format);
      expect(whole.entries.length).toBeGreaterThan(2);
      expect(whole.next, 'a next link on the only page').toBeUndefined();
      for (const title of feed.titles(format)) {
        expect(whole.entries.some((e) => e.title.includes(title)), `no entry title holds ${JSON.stringify(title)}`).toBe(true);
      }
      for (const text of feed.carries(format)) {
        expect(whole.texts.some((t) => t.includes(text)), `${JSON.stringify(text.slice(0, 80))} does not come back`).toBe(true);
      }
    });

    it('pages by next links to the last page, every entry exactly once, in the same order as one page', async () => {
      const whole = await readPage(feed, withQuery(await feed.path(), { format, limit: '100' }), format);
      const pages = await walk(feed, format, 2);
      expect(pages.length).toBe(Math.ceil(whole.entries.length / 2));
      for (const page of pages.slice(0, -1)) expect(page.next, 'a page before the last without a next link').toBeDefined();
      expect(pages.at(-1)?.next).toBeUndefined();
      expect(pages.flatMap((page) => page.entries.map((e) => e.id))).toEqual(whole.entries.map((e) => e.id));
    });

    it('keeps its entry ids: the same on a second read, and when newer entries arrive', async () => {
      const path = withQuery(await feed.path(), { format, limit: '100' });
      const first = await readPage(feed, path, format);
      const again = await readPage(feed, path, format);
      expect(again.entries.map((e) => e.id)).toEqual(first.entries.map((e) => e.id));
      await feed.grow();
      const grown = await readPage(feed, path, format);
      expect(grown.entries.length).toBeGreaterThan(first.entries.length);
      const ids = new Set(grown.entries.map((e) => e.id));
      for (const entry of first.entries) expect(ids.has(entry.id), `${entry.id} disappeared`).toBe(true);
      const updated = new Map(grown.entries.map((e) => [e.id, e.updated.valueOf()]));
      for (const entry of first.entries) expect(updated.get(entry.id), `${entry.id} changed its date`).toBe(entry.updated.valueOf());
    });
  });
});

// ---------------------------------------------------------------------------------------------
// What XML cannot carry is refused at the door

describe('control characters and other text XML cannot carry', () => {
  const REFUSED = ['bell \u0007', 'nul \u0000', 'escape \u001B[31m', 'vertical tab \u000B', 'form feed \u000C', 'not a character \uFFFE', 'lone surrogate \uD800 here'];

  it('are refused in every kind of input that reaches a feed, and nothing changes', async () => {
    const feedBefore = (await server.request({ method: 'GET', url: '/v1/me/feed?format=json&limit=100', headers: person.auth })).json<{ items: { id: string }[] }>();
    const profileBefore = await asPerson({ method: 'GET', url: '/v1/me/profile' });
    const needsBefore = await asPerson({ method: 'GET', url: '/v1/me/needs?limit=100' });

    for (const text of REFUSED) {
      expectProblem(await asPerson({ method: 'POST', url: '/v1/me/needs', payload: { title: text, category: 'test/refused' } }), 400, '/title');
      expectProblem(await asPerson({ method: 'POST', url: '/v1/me/needs', payload: { title: 'ok', description: text, category: 'test/refused' } }), 400, '/description');
      expectProblem(await asPerson({ method: 'PUT', url: '/v1/me/profile', payload: { ...HOSTILE_PROFILE, name: { given: text } } }), 400, '/name/given');
      expectProblem(
        await asPerson({ method: 'PATCH', url: '/v1/me/profile', headers: { 'content-type': 'application/merge-patch+json' }, payload: JSON.stringify({ custom: { motto: text } }) }),
        400,
        '/custom/motto',
      );
      expectProblem(
        await server.request({ method: 'POST', url: '/v1/vendors', payload: { name: text, homepage: 'https://x.example', contact: 'a@x.example' } }),
        400,
        '/name',
      );
    }
    // In XML a control character cannot even be written as a character reference.
    const xmlNeed = '<?xml version="1.0"?><need xmlns="https://proffer.dev/ns/1"><title>bell &#x7;</title><category>test/refused</category></need>';
    expectProblem(await asPerson({ method: 'POST', url: '/v1/me/needs', headers: { 'content-type': 'application/xml' }, payload: xmlNeed }), 400);

    const feedAfter = (await server.request({ method: 'GET', url: '/v1/me/feed?format=json&limit=100', headers: person.auth })).json<{ items: { id: string }[] }>();
    expect(feedAfter.items.map((i) => i.id)).toEqual(feedBefore.items.map((i) => i.id));
    expect((await asPerson({ method: 'GET', url: '/v1/me/profile' })).body).toBe(profileBefore.body);
    expect((await asPerson({ method: 'GET', url: '/v1/me/needs?limit=100' })).body).toBe(needsBefore.body);
  });
});
