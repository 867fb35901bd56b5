// Set-up and reading of vendors' feeds for test/api/vendor-feed.test.ts and feed-links.test.ts:
// a person with terms that grant chosen fields and need categories at once, a vendor subscribed
// under them, and a reader that takes a served Atom, RSS or JSON Feed page apart.
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { parseStringPromise } from 'xml2js';
import { fromXml, type SchemaSet } from '../../server/xml/index.js';
import type { TestPerson, TestServer, TestVendor } from './server.js';

export type Json = Record<string, unknown>;
export type FeedFormat = 'atom' | 'rss' | 'json';
export const MEDIA: Record<FeedFormat, string> = { atom: 'application/atom+xml', rss: 'application/rss+xml', json: 'application/feed+json' };

/** Terms that permit these fields (for fulfillment) and these need categories (for offers), automatically. */
export function grantingTerms(fields: string[], categories: string[], duties: Json = {}) {
  const rules: Json[] = [];
  if (fields.length) rules.push({ id: 'fields', effect: 'permit', fields, purposes: ['fulfillment'], duties });
  if (categories.length) rules.push({ id: 'needs', effect: 'permit', needs: { categories }, purposes: ['offers'], duties });
  return { title: 'Feed test terms', rules };
}

export async function putTerms(server: TestServer, person: TestPerson, terms: unknown): Promise<number> {
  const response = await server.request({ method: 'PUT', url: '/v1/me/terms', headers: person.auth, payload: terms as object });
  expect(response.statusCode, response.body).toBe(200);
  return response.json().version as number;
}

export interface Grant {
  person: TestPerson;
  vendor: TestVendor;
  subscriptionId: string;
}

/**
 * A person whose terms grant `fields` and `categories`, and a vendor subscribed for exactly those
 * (requested fields: `requested`, default the granted ones), active at once.
 */
export async function activeGrant(
  server: TestServer,
  options: { fields: string[]; categories?: string[]; requested?: string[]; duties?: Json; person?: TestPerson; vendor?: TestVendor },
): Promise<Grant> {
  const person = options.person ?? (await server.person());
  const vendor = options.vendor ?? (await server.vendor('Feed Vendor'));
  const categories = options.categories ?? [];
  const version = await putTerms(server, person, grantingTerms(options.fields, categories, options.duties ?? {}));
  const requested = options.requested ?? options.fields;
  const response = await server.request({
    method: 'POST',
    url: '/v1/subscriptions',
    headers: vendor.auth,
    payload: {
      person: person.handle,
      fields: requested.map((path) => ({ path, purpose: 'fulfillment', required: false, retentionDays: 30 })),
      ...(categories.length ? { needs: { categories, purpose: 'offers', retentionDays: 30, required: false } } : {}),
      accepts: { termsVersion: version, duties: { noThirdPartySharing: true, noProfiling: true, deleteOnRevoke: true } },
    },
  });
  expect(response.statusCode, response.body).toBe(201);
  expect(response.json().status, response.body).toBe('active');
  return { person, vendor, subscriptionId: response.json().id };
}

export async function patchProfile(server: TestServer, person: TestPerson, patch: Json): Promise<void> {
  const response = await server.request({
    method: 'PATCH',
    url: '/v1/me/profile',
    headers: { ...person.auth, 'content-type': 'application/merge-patch+json' },
    payload: JSON.stringify(patch),
  });
  expect(response.statusCode, response.body).toBe(200);
}

export async function createNeed(server: TestServer, person: TestPerson, need: Json): Promise<string> {
  const response = await server.request({ method: 'POST', url: '/v1/me/needs', headers: person.auth, payload: need });
  expect(response.statusCode, response.body).toBe(201);
  return response.json().id as string;
}

export interface ParsedEntry {
  id: string;
  title: string;
  updated: string;
  /** The entry's content as JSON (an Event). */
  json: Json;
  /** The same content read back from its Proffer XML (Atom and RSS). */
  fromXml?: Json;
}

export interface ParsedFeed {
  id: string;
  title: string;
  entries: ParsedEntry[];
  links: Partial<Record<'self' | 'next' | 'previous' | 'first', string>>;
}

const first = (value: unknown): unknown => (Array.isArray(value) ? value[0] : value);
const text = (value: unknown): string => {
  const node = first(value);
  return typeof node === 'string' ? node : String((node as { _?: unknown } | undefined)?._ ?? '');
};

/** Each Proffer XML event element of the document, in document order, read back into JSON. */
function eventsFromXml(body: string): Json[] {
  const fragments = body.match(/<event xmlns="https:\/\/proffer\.dev\/ns\/1">[\s\S]*?<\/event>/g) ?? [];
  return fragments.map((fragment) => fromXml(fragment, { root: 'event', schemaRef: 'event.json', schemas: xmlSchemas() }) as Json);
}

let schemas: SchemaSet | undefined;
const xmlSchemas = () => {
  if (!schemas) throw new Error('call useContract(server) first');
  return schemas;
};
export function useContract(server: TestServer): void {
  schemas = server.ctx.contract.xmlSchemas;
}

export async function parseFeed(body: string, format: FeedFormat): Promise<ParsedFeed> {
  if (format === 'json') {
    const feed = JSON.parse(body) as { title: string; feed_url: string; next_url?: string; items: { id: string; title: string; date_modified: string; _proffer: Json }[] };
    return {
      id: feed.feed_url,
      title: feed.title,
      entries: feed.items.map((item) => ({ id: item.id, title: item.title, updated: item.date_modified, json: item._proffer })),
      links: { self: feed.feed_url, ...(feed.next_url ? { next: feed.next_url } : {}) },
    };
  }
  const parsed = (await parseStringPromise(body)) as Json;
  const fromXmlEvents = eventsFromXml(body);
  const links: ParsedFeed['links'] = {};
  if (format === 'atom') {
    const feed = parsed.feed as Json;
    for (const link of (feed.link ?? []) as { $: { rel: string; href: string } }[]) {
      if (['self', 'next', 'previous', 'first'].includes(link.$.rel)) links[link.$.rel as keyof ParsedFeed['links']] = link.$.href;
    }
    const entries = ((feed.entry ?? []) as Json[]).map((entry, index) => {
      const content = first(entry.content) as { $: { type: string } };
      expect(content.$.type).toBe('application/xml');
      return {
        id: text(entry.id),
        title: text(entry.title),
        updated: text(entry.updated),
        json: JSON.parse(text(entry['proffer:json'])) as Json,
        fromXml: fromXmlEvents[index] as Json,
      };
    });
    expect(fromXmlEvents).toHaveLength(entries.length);
    return { id: text(feed.id), title: text(feed.title), entries, links };
  }
  const channel = first((parsed.rss as Json).channel) as Json;
  for (const link of (channel['atom:link'] ?? []) as { $: { rel: string; href: string } }[]) {
    links[link.$.rel as keyof ParsedFeed['links']] = link.$.href;
  }
  const entries = ((channel.item ?? []) as Json[]).map((item, index) => ({
    id: text(item.guid),
    title: text(item.title),
    updated: new Date(text(item.pubDate)).toISOString(),
    json: JSON.parse(text(item['proffer:json'])) as Json,
    fromXml: fromXmlEvents[index] as Json,
  }));
  expect(fromXmlEvents).toHaveLength(entries.length);
  return { id: text(channel.link), title: text(channel.title), entries, links };
}

/** The request for a link found in a feed (absolute, on the test server's public URL). */
export function followLink(server: TestServer, href: string, headers: Record<string, string> = {}): InjectOptions {
  const url = new URL(href);
  expect(`${url.protocol}//${url.host}`).toBe(server.ctx.config.publicUrl);
  return { method: 'GET', url: `${url.pathname}${url.search}`, headers };
}

export async function accessLog(server: TestServer, person: TestPerson): Promise<{ what: string; fields: string[]; subscription: string; address: string }[]> {
  const response = await server.request({ method: 'GET', url: '/v1/me/access-log?limit=100', headers: person.auth });
  expect(response.statusCode, response.body).toBe(200);
  return response.json().items;
}

export function expectFeedHeaders(response: LightMyRequestResponse, format: FeedFormat): void {
  expect(response.statusCode, response.body).toBe(200);
  expect(response.headers['content-type']).toBe(`${MEDIA[format]}; charset=utf-8`);
  expect(response.headers['cache-control']).toMatch(/\bprivate\b/);
  expect(String(response.headers.vary)).toMatch(/Accept/i);
  expect(response.headers.etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
  expect(new Date(String(response.headers['last-modified'])).getTime()).not.toBeNaN();
}
