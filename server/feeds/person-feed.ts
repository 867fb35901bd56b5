import type { EventRow } from '../db/schema.js';
import { BIGINT_DIGITS, decodeSerialCursor, encodeSerialCursor } from '../services/cursors.js';
import { eventView } from '../services/events.js';
import type { FeedDocument, FeedEntry, FeedFormat } from './render.js';

export const encodeEventCursor = (eventId: string) => encodeSerialCursor('e', eventId);
export const decodeEventCursor = (cursor: string) => decodeSerialCursor('e', cursor, BIGINT_DIGITS);

const MAX_LISTED_PATHS = 5;

function describe(row: EventRow): { title: string; summary: string } {
  const data = row.data as { changed?: string[]; need?: { title?: string; status?: string } };
  switch (row.kind) {
    case 'profile.updated': {
      const changed = data.changed ?? [];
      const listed = changed.slice(0, MAX_LISTED_PATHS).join(', ') + (changed.length > MAX_LISTED_PATHS ? ` and ${changed.length - MAX_LISTED_PATHS} more` : '');
      return { title: `Profile updated: ${listed}`, summary: `Profile version ${row.version}: ${listed} changed.` };
    }
    case 'need.created':
      return { title: `New need: ${data.need?.title ?? ''}`, summary: `A need was added (${data.need?.status ?? 'open'}).` };
    case 'need.updated':
      return { title: `Need updated: ${data.need?.title ?? ''}`, summary: `The need is now at version ${row.version} (${data.need?.status ?? ''}).` };
    case 'need.deleted':
      return { title: 'Need deleted', summary: 'A need was deleted.' };
  }
}

export function personFeed(options: {
  publicUrl: string;
  person: { id: string; handle: string; createdAt: string };
  events: EventRow[];
  format: FeedFormat;
  limit: number;
  nextCursor: string | undefined;
  cursor: string | undefined;
}): FeedDocument {
  const { publicUrl, person, events } = options;
  const pageUrl = (format: FeedFormat, cursor: string | undefined) => {
    const query = new URLSearchParams({ format, limit: String(options.limit) });
    if (cursor) query.set('cursor', cursor);
    return `${publicUrl}/v1/me/feed?${query}`;
  };
  const entries: FeedEntry[] = events.map((row) => {
    const { title, summary } = describe(row);
    return {
      id: `urn:proffer:person:${person.id}:event:${row.id}`,
      title,
      summary,
      url: row.subject === 'profile' ? `${publicUrl}/v1/me/profile` : `${publicUrl}/v1/me/needs/${row.subject}`,
      published: row.created_at,
      updated: row.created_at,
      data: eventView(row),
    };
  });
  return {
    id: `urn:proffer:person:${person.id}:feed`,
    title: `${person.handle} on Proffer`,
    description: 'Profile changes and needs',
    author: person.handle,
    homeUrl: `${publicUrl}/v1/me/profile`,
    selfUrl: (format) => pageUrl(format, options.cursor),
    nextUrl: options.nextCursor ? (format) => pageUrl(format, options.nextCursor) : undefined,
    updated: events[0]?.created_at ?? new Date(person.createdAt),
    entries,
  };
}
