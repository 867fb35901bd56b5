import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { BIGINT_DIGITS, decodeSerialCursor, encodeSerialCursor } from '../services/cursors.js';
import { accessLog } from '../services/subscriptions.js';
import type { SchemaSet } from '../xml/index.js';
import { entryXml, FEED_MEDIA_TYPES, renderFeed, type FeedDocument, type FeedEntry, type FeedFormat } from './render.js';
import type { RenderedFeed } from './vendor-feed.js';
import type { components } from '../generated/openapi.js';

export type AccessLogEntryView = components['schemas']['accessLogEntry'];

/** What each kind of row says, in words; kinds this module does not know are told generically. */
const DESCRIBED: Record<string, { title: (vendor: string) => string; fields: string }> = {
  profile: { title: (vendor) => `${vendor} read your profile`, fields: 'received' },
  feed: { title: (vendor) => `${vendor} read your feed`, fields: 'received' },
  'deletion-acknowledged': { title: (vendor) => `${vendor} confirmed it deleted your data`, fields: 'deleted' },
  'deletion-overdue': { title: (vendor) => `${vendor} has not confirmed deleting your data`, fields: 'to delete' },
};

const MAX_LISTED_FIELDS = 10;

export function describeAccess(entry: AccessLogEntryView): { title: string; summary: string } {
  const known = DESCRIBED[entry.what];
  const vendor = entry.vendor.name;
  const title = known ? known.title(vendor) : `${vendor}: ${entry.what.replace(/[-_.]+/g, ' ')}`;
  const listed = entry.fields.slice(0, MAX_LISTED_FIELDS).join(', ') + (entry.fields.length > MAX_LISTED_FIELDS ? ` and ${entry.fields.length - MAX_LISTED_FIELDS} more` : '');
  const parts = [`${title}.`];
  if (entry.fields.length > 0) parts.push(`Fields ${known?.fields ?? 'concerned'}: ${listed}.`);
  parts.push(`Subscription ${entry.subscription}.`);
  if (entry.address) parts.push(`From ${entry.address}.`);
  return { title, summary: parts.join(' ') };
}

export const encodeAccessCursor = (id: string) => encodeSerialCursor('a', id);
export const decodeAccessCursor = (cursor: string) => decodeSerialCursor('a', cursor, BIGINT_DIGITS);

/**
 * One page of the person's access log as a feed, newest first. Rendered per request (it is read
 * by one person, rarely): the ETag is a digest of the bytes, so an unchanged page revalidates.
 */
export async function renderAccessLogFeed(
  deps: { db: Kysely<Database>; publicUrl: string; xmlSchemas: SchemaSet },
  person: { id: string; handle: string; createdAt: string },
  request: { format: FeedFormat; limit: number; cursor: string | undefined },
): Promise<RenderedFeed> {
  const { db, publicUrl, xmlSchemas } = deps;
  const before = request.cursor === undefined ? undefined : decodeAccessCursor(request.cursor);
  const page = await accessLog(db, person.id, { limit: request.limit, before });
  const base = `${publicUrl}/v1/me/access-log/feed`;
  const pageUrl = (format: FeedFormat, cursor: string | undefined) => {
    const query = new URLSearchParams({ format, limit: String(request.limit) });
    if (cursor) query.set('cursor', cursor);
    return `${base}?${query}`;
  };
  const entries: FeedEntry[] = page.items.map((entry) => ({
    id: `urn:proffer:person:${person.id}:access:${entry.id}`,
    ...describeAccess(entry),
    url: `${publicUrl}/v1/me/subscriptions/${entry.subscription}`,
    published: new Date(entry.at),
    updated: new Date(entry.at),
    data: entry,
    xml: entryXml(entry, { root: 'access', schemaRef: 'subscription.json#/$defs/accessLogEntry', schemas: xmlSchemas }),
  }));
  const next = page.nextBefore === null ? undefined : encodeAccessCursor(page.nextBefore);
  // Entries are ordered by id; their times, stamped before commit, need not be in the same order.
  const newest = Math.max(0, ...entries.map((e) => e.updated.getTime()));
  const updated = newest > 0 ? new Date(newest) : new Date(person.createdAt);
  const document: FeedDocument = {
    id: `urn:proffer:person:${person.id}:access-log`,
    title: `Who read ${person.handle}'s data on Proffer`,
    description: 'Every read of your data by a vendor, and every deletion a vendor confirmed or owes.',
    author: person.handle,
    homeUrl: `${publicUrl}/v1/me/access-log`,
    selfUrl: (format) => pageUrl(format, request.cursor),
    nextUrl: next ? (format) => pageUrl(format, next) : undefined,
    firstUrl: request.cursor ? (format) => pageUrl(format, undefined) : undefined,
    updated,
    entries,
  };
  const body = Buffer.from(renderFeed(document, request.format), 'utf8');
  const digest = createHash('sha256').update(body).digest('base64url').slice(0, 32);
  return {
    body,
    contentType: `${FEED_MEDIA_TYPES[request.format]}; charset=utf-8`,
    etag: `"${digest}"`,
    lastModified: new Date(Math.floor(updated.getTime() / 1000) * 1000),
  };
}
