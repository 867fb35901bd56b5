// Redaction as a property, through the real API: random profiles, random grants, random sequences
// of profile changes, need changes and narrowings (the person rewrites their terms so the grant
// narrows), with vendor reads in between (so renders of the wider grant are cached when it
// narrows). At every read, every entry of every page of the vendor's feed, in the format read,
// carries only what the grant lets the vendor see AS THE GRANT STANDS NOW, entries older than a
// narrowing included; and no entry the grant covers is missing.
//
// The oracle is independent of the server: the person's own feed gives every event as recorded;
// which events the grant covers and which profile leaves it shows is worked out here from path
// and category prefixes, then also compared with the terms engine's `redact`.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redact } from '../../policies/index.js';
import { fromXml } from '../../server/xml/index.js';
import { parseXml, type FeedFormat, type XmlElement } from '../helpers/feeds.js';
import { expectProblem } from '../helpers/problems.js';
import { startTestServer, type TestPerson, type TestServer, type TestVendor } from '../helpers/server.js';

type Json = Record<string, unknown>;

const PROFFER_NS = 'https://proffer.dev/ns/1';
const FORMATS: FeedFormat[] = ['atom', 'rss', 'json'];

/** What vendors may ask for: overlapping paths, wildcards, whole sections and single leaves. */
const FIELD_PATHS = [
  'name',
  'name.given',
  'emails',
  'emails.work',
  'phones.mobile',
  'addresses',
  'addresses.home',
  'addresses.*.locality',
  'birthDate',
  'preferences',
  'preferences.sizes',
  'custom',
  'custom.colour',
] as const;
const CATEGORY_PATTERNS = ['books', 'home', 'home/furniture', 'sports/cycling', 'travel'] as const;
const NEED_CATEGORIES = ['books', 'books/comics', 'home/furniture', 'home/garden', 'sports/cycling', 'travel', 'food'] as const;

// ---------------------------------------------------------------------------------------------
// Profiles: fast-check picks the shape; every string value is made distinctive when written, so a
// value found in a response can only have come from its one path.

interface Shape {
  name?: ('given' | 'family' | 'nickname')[];
  emails?: ('personal' | 'work')[];
  phones?: ('mobile' | 'home')[];
  addresses?: ('home' | 'work')[];
  birthDate?: boolean;
  preferences?: { sizes: ('shoe' | 'shirt')[]; diet: boolean };
  custom?: ('colour' | 'hobby')[];
}

const anyShape: fc.Arbitrary<Shape> = fc.record(
  {
    name: fc.subarray(['given', 'family', 'nickname'] as const, { minLength: 1 }),
    emails: fc.subarray(['personal', 'work'] as const, { minLength: 1 }),
    phones: fc.subarray(['mobile', 'home'] as const, { minLength: 1 }),
    addresses: fc.subarray(['home', 'work'] as const, { minLength: 1 }),
    birthDate: fc.boolean(),
    preferences: fc.record({ sizes: fc.subarray(['shoe', 'shirt'] as const, { minLength: 1 }), diet: fc.boolean() }),
    custom: fc.subarray(['colour', 'hobby'] as const, { minLength: 1 }),
  },
  { requiredKeys: [] },
);

let counter = 0;
/** A value nothing else in the run contains (lower-case, so it also makes an email's local part). */
const distinct = (tag: string, what: string) => `${tag}v${++counter}${what.replace(/[^a-z]/g, '')}`;

function materialize(shape: Shape, tag: string): Json {
  const v = (what: string) => distinct(tag, what);
  const profile: Json = {};
  const labelled = <K extends string>(keys: K[] | undefined, make: (key: K) => unknown) =>
    keys && keys.length ? Object.fromEntries(keys.map((k) => [k, make(k)])) : undefined;
  const put = (key: string, value: unknown) => {
    if (value !== undefined) profile[key] = value;
  };
  put('name', labelled(shape.name, (k) => v(`name${k}`)));
  put('emails', labelled(shape.emails, (k) => `${v(`email${k}`)}@example.org`));
  put('phones', labelled(shape.phones, () => `+33 ${1_000_000 + ++counter}`));
  put('addresses', labelled(shape.addresses, (k) => ({ lines: [v(`line${k}`)], locality: v(`locality${k}`), postalCode: v('pc').slice(-16), country: 'FR' })));
  if (shape.birthDate) put('birthDate', `19${String(10 + (++counter % 80)).padStart(2, '0')}-0${1 + (counter % 9)}-1${counter % 9}`);
  if (shape.preferences) {
    put('preferences', {
      sizes: labelled(shape.preferences.sizes, (k) => v(`size${k}`)),
      ...(shape.preferences.diet ? { diet: [v('diet').slice(0, 32)] } : {}),
    });
  }
  put('custom', labelled(shape.custom, (k) => v(`custom${k}`)));
  return profile;
}

// ---------------------------------------------------------------------------------------------
// What happens, in order

type Action =
  | { kind: 'patch'; shape: Shape }
  | { kind: 'remove'; top: keyof Shape }
  | { kind: 'replace'; shape: Shape }
  | { kind: 'need'; category: string }
  | { kind: 'need-status'; index: number; status: 'fulfilled' | 'withdrawn' | 'open' }
  | { kind: 'need-delete'; index: number }
  | { kind: 'narrow'; keep: boolean[] }
  | { kind: 'read'; format: FeedFormat; limit: number };

const anyAction: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: anyShape.map((shape) => ({ kind: 'patch' as const, shape })) },
  { weight: 1, arbitrary: fc.constantFrom<keyof Shape>('name', 'emails', 'addresses', 'preferences', 'custom').map((top) => ({ kind: 'remove' as const, top })) },
  { weight: 1, arbitrary: anyShape.map((shape) => ({ kind: 'replace' as const, shape })) },
  { weight: 2, arbitrary: fc.constantFrom(...NEED_CATEGORIES).map((category) => ({ kind: 'need' as const, category })) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('need-status' as const), index: fc.nat(9), status: fc.constantFrom('fulfilled' as const, 'withdrawn' as const, 'open' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('need-delete' as const), index: fc.nat(9) }) },
  // Each flag keeps (true) or drops one granted field or category, in the grant's order.
  { weight: 2, arbitrary: fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }).map((keep) => ({ kind: 'narrow' as const, keep })) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('read' as const), format: fc.constantFrom(...FORMATS), limit: fc.integer({ min: 1, max: 7 }) }) },
);

const anyScenario = fc.record({
  profile: anyShape,
  fields: fc.subarray([...FIELD_PATHS], { minLength: 1 }),
  categories: fc.subarray([...CATEGORY_PATTERNS]),
  needs: fc.array(fc.constantFrom(...NEED_CATEGORIES), { maxLength: 4 }),
  actions: fc.array(anyAction, { minLength: 3, maxLength: 10 }),
});

// ---------------------------------------------------------------------------------------------
// The independent oracle

const segments = (path: string) => path.split(/[./]/);
/** `pattern` names `target` or something above it, each `*` standing for one segment. */
const covers = (pattern: string, target: string) => {
  const p = segments(pattern);
  const t = segments(target);
  return p.length <= t.length && p.every((s, i) => s === '*' || s === t[i]);
};

/** Leaves (anything but a plain object) by dotted path. */
function leaves(value: unknown, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, item] of Object.entries(value)) leaves(item, prefix ? `${prefix}.${key}` : key, out);
  } else if (prefix) out.set(prefix, value);
  return out;
}

interface Grant {
  status: string;
  fields: string[];
  categories: string[];
}

interface RecordedEvent {
  id: string;
  kind: 'profile.updated' | 'need.created' | 'need.updated' | 'need.deleted';
  version: number;
  changed?: string[];
  profile?: Json;
  need?: Json & { category: string };
  category?: string;
}

/** What the vendor should see of one event under the grant as it stands, or null when nothing. */
function expectedEntry(event: RecordedEvent, grant: Grant): { changed?: string[]; leaves?: Map<string, unknown>; need?: Json } | null {
  if (event.kind === 'profile.updated') {
    const changed = (event.changed ?? []).filter((path) => grant.fields.some((f) => covers(f, path)));
    if (changed.length === 0) return null;
    const shown = new Map([...leaves(event.profile ?? {})].filter(([path]) => grant.fields.some((f) => covers(f, path))));
    return { changed, leaves: shown };
  }
  const category = event.kind === 'need.deleted' ? event.category : event.need?.category;
  if (category === undefined || !grant.categories.some((c) => covers(c, category))) return null;
  return event.kind === 'need.deleted' ? {} : { need: event.need as Json };
}

// ---------------------------------------------------------------------------------------------
// The world

let server: TestServer;
let vendor: TestVendor;
beforeAll(async () => {
  server = await startTestServer();
  vendor = await server.vendor('Property Shop');
});
afterAll(() => server?.close());

const PERMIT_ALL = { title: 'All', rules: [{ id: 'all', effect: 'permit', fields: ['*'], needs: { categories: ['*'] } }] };

async function ok(response: Promise<{ statusCode: number; body: string }>, status = 200): Promise<Json> {
  const answered = await response;
  expect(answered.statusCode, answered.body.slice(0, 500)).toBe(status);
  return answered.body ? (JSON.parse(answered.body) as Json) : {};
}

const as = (auth: { authorization: string }, method: string, url: string, payload?: unknown, headers: Record<string, string> = {}) =>
  server.request({ method: method as 'GET', url, headers: { ...auth, ...headers }, ...(payload === undefined ? {} : { payload: payload as object }) });

/** Every event of the person, newest first, as recorded (the person's own feed, every page). */
async function recordedEvents(person: TestPerson): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  let url: string | undefined = '/v1/me/feed?format=json&limit=100';
  while (url) {
    const feed = (await ok(as(person.auth, 'GET', url))) as { items: { _proffer: RecordedEvent }[]; next_url?: string };
    events.push(...feed.items.map((item) => item._proffer));
    url = feed.next_url ? new URL(feed.next_url).pathname + new URL(feed.next_url).search : undefined;
  }
  return events;
}

/** The entries of one page of the vendor's feed, each as JSON and (Atom, RSS) as Proffer XML read back. */
function pageEntries(body: string, format: FeedFormat): { entries: Json[]; next: string | undefined } {
  if (format === 'json') {
    const feed = JSON.parse(body) as { items: { _proffer: Json }[]; next_url?: string };
    return { entries: feed.items.map((item) => item._proffer), next: feed.next_url };
  }
  const root = parseXml(body);
  const container = format === 'atom' ? root : (root.children.find((c) => c.local === 'channel') as XmlElement);
  const items = container.children.filter((c) => c.local === (format === 'atom' ? 'entry' : 'item'));
  const entries = items.map((item) => {
    const json = item.children.find((c) => c.uri === PROFFER_NS && c.local === 'json');
    expect(json, `an ${format} entry without its JSON`).toBeDefined();
    const data = JSON.parse(json?.text ?? '') as Json;
    return data;
  });
  // The same entries as Proffer XML: what an XML consumer reads must be the same content.
  const xmlEvents = [...body.matchAll(/<event\b[^>]*>[\s\S]*?<\/event>/g)].map((m) =>
    fromXml(m[0].includes('xmlns=') ? m[0] : m[0].replace('<event', `<event xmlns="${PROFFER_NS}"`), {
      root: 'event',
      schemaRef: 'event.json',
      schemas: server.ctx.contract.xmlSchemas,
    }),
  );
  expect(xmlEvents).toEqual(entries);
  const links = container.children.filter((c) => c.local === 'link' && c.attributes.rel === 'next');
  return { entries, next: links[0]?.attributes.href };
}

/** Reads the vendor's feed, every page, and checks each entry against the oracle. */
async function checkFeed(person: TestPerson, subscriptionId: string, tags: { tag: string }, format: FeedFormat, limit: number): Promise<void> {
  const view = (await ok(as(vendor.auth, 'GET', `/v1/subscriptions/${subscriptionId}`))) as { status: string; grant: { fields: string[]; categories: string[] } };
  const grant: Grant = { status: view.status, fields: view.grant.fields, categories: view.grant.categories };
  const first = `/v1/subscriptions/${subscriptionId}/feed?format=${format}&limit=${limit}`;
  if (grant.status !== 'active') {
    const refused = await as(vendor.auth, 'GET', first);
    expect((expectProblem(refused, 403) as unknown as { type: string }).type).toBe('https://proffer.dev/problems/grant-inactive');
    return;
  }

  const events = await recordedEvents(person);
  const expected = events.flatMap((event) => {
    const shown = expectedEntry(event, grant);
    return shown ? [{ event, shown }] : [];
  });

  const seen: Json[] = [];
  const bodies: string[] = [];
  let url: string | undefined = first;
  for (let pages = 0; url; pages++) {
    expect(pages, 'the feed does not end').toBeLessThan(events.length + 2);
    const response = await as(vendor.auth, 'GET', url);
    expect(response.statusCode, response.body.slice(0, 300)).toBe(200);
    bodies.push(response.body);
    const page = pageEntries(response.body, format);
    seen.push(...page.entries);
    url = page.next ? new URL(page.next).pathname + new URL(page.next).search : undefined;
  }

  // Every covered event exactly once, newest first, older ones (from before a narrowing) included.
  expect(seen.map((entry) => entry.id)).toEqual(expected.map((e) => e.event.id));
  for (const [i, entry] of seen.entries()) {
    const { event, shown } = expected[i] as (typeof expected)[number];
    expect(entry.kind).toBe(event.kind);
    if (event.kind === 'profile.updated') {
      expect(entry.changed).toEqual(shown.changed);
      // Exactly the leaves the grant names, with their values at that version: nothing more.
      expect(leaves(entry.profile)).toEqual(shown.leaves);
      // And the terms engine's redaction, as the design defines it.
      expect(entry.profile).toEqual(redact(event.profile ?? {}, grant.fields));
    } else if (event.kind === 'need.deleted') {
      expect(entry.category).toBe(event.category);
    } else {
      expect(entry.need).toEqual(shown.need);
    }
  }

  // Nothing of a field or need the grant does not cover appears anywhere, in any page.
  const everything = bodies.join('\n');
  for (const event of events) {
    if (event.kind === 'profile.updated') {
      for (const [path, value] of leaves(event.profile ?? {})) {
        if (typeof value !== 'string' || !value.includes(tags.tag) || grant.fields.some((f) => covers(f, path))) continue;
        expect(everything.includes(value), `${path} = ${value} is not granted (${grant.fields.join(', ')})`).toBe(false);
      }
    } else if (event.need && !grant.categories.some((c) => covers(c, event.need?.category ?? ''))) {
      expect(everything.includes(String(event.need.title)), `need in ${event.need.category} is not granted`).toBe(false);
    }
  }
}

// ---------------------------------------------------------------------------------------------

describe('the vendor feed under narrowing grants', () => {
  it('never carries a value outside the grant as it stands now, for new and old entries alike', async () => {
    await fc.assert(
      fc.asyncProperty(anyScenario, async (scenario) => {
        const tags = { tag: `t${randomBytes(3).toString('hex')}` };
        const person = await server.person();
        const merge = { 'content-type': 'application/merge-patch+json' };
        await ok(as(person.auth, 'PUT', '/v1/me/profile', materialize(scenario.profile, tags.tag)));
        const needIds: string[] = [];
        const addNeed = async (category: string) => {
          const need = await ok(as(person.auth, 'POST', '/v1/me/needs', { title: distinct(tags.tag, 'need'), category, visibility: 'subscribers' }), 201);
          needIds.push(need.id as string);
        };
        for (const category of scenario.needs) await addNeed(category);
        const terms = await ok(as(person.auth, 'PUT', '/v1/me/terms', PERMIT_ALL));

        const subscription = await ok(
          as(vendor.auth, 'POST', '/v1/subscriptions', {
            person: person.handle,
            fields: scenario.fields.map((path) => ({ path, purpose: 'fulfillment', required: false, retentionDays: 30 })),
            ...(scenario.categories.length ? { needs: { categories: scenario.categories, purpose: 'offers', retentionDays: 30, required: false } } : {}),
            accepts: { termsVersion: terms.version, duties: {} },
          }),
          201,
        );
        expect(subscription.status).toBe('active');
        const id = subscription.id as string;

        for (const action of scenario.actions) {
          switch (action.kind) {
            case 'patch':
              await ok(as(person.auth, 'PATCH', '/v1/me/profile', materialize(action.shape, tags.tag), merge));
              break;
            case 'remove':
              await ok(as(person.auth, 'PATCH', '/v1/me/profile', { [action.top]: null }, merge));
              break;
            case 'replace':
              await ok(as(person.auth, 'PUT', '/v1/me/profile', materialize(action.shape, tags.tag)));
              break;
            case 'need':
              await addNeed(action.category);
              break;
            case 'need-status':
            case 'need-delete': {
              const needId = needIds[action.index % Math.max(1, needIds.length)];
              if (!needId) break;
              if (action.kind === 'need-delete') {
                await ok(as(person.auth, 'DELETE', `/v1/me/needs/${needId}`), 204);
                needIds.splice(needIds.indexOf(needId), 1);
              } else {
                // A status it already has is a 200 that records nothing: either way the oracle reads what was recorded.
                await ok(as(person.auth, 'PATCH', `/v1/me/needs/${needId}`, { status: action.status }, merge));
              }
              break;
            }
            case 'narrow': {
              const view = (await ok(as(person.auth, 'GET', `/v1/me/subscriptions/${id}`))) as { grant: { fields: string[]; categories: string[] } };
              const fields = view.grant.fields.filter((_, i) => action.keep[i % action.keep.length]);
              const categories = view.grant.categories.filter((_, i) => action.keep[(i + 12) % action.keep.length]);
              const rule = { id: 'kept', effect: 'permit', ...(fields.length ? { fields } : {}), ...(categories.length ? { needs: { categories } } : {}) };
              await ok(as(person.auth, 'PUT', '/v1/me/terms', { title: 'Narrower', rules: fields.length || categories.length ? [rule] : [] }));
              break;
            }
            case 'read':
              await checkFeed(person, id, tags, action.format, action.limit);
              break;
          }
        }
        for (const format of FORMATS) await checkFeed(person, id, tags, format, 4);
      }),
      { numRuns: 25, endOnFailure: true },
    );
  }, 120_000);
});
