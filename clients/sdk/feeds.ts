import type { components } from './generated/openapi.js';
import { ProfferProblem } from './problem.js';
import type { JsonFeed, PageOptions } from './types.js';

export type FeedFormat = components['parameters']['FeedFormat'];

/** What a previous read of a feed answered, to ask only for a change since. */
export interface Revalidation {
  /** The `etag` of the previous read: answered `notModified` if nothing changed since. */
  etag?: string | null;
  /** The `lastModified` of the previous read (If-Modified-Since), for when no ETag was kept. */
  lastModified?: string | null;
}

export interface FeedReadOptions extends PageOptions, Revalidation {
  /** Atom by default. */
  format?: FeedFormat;
}

/** A read of a feed: either nothing new (`notModified`), or the page. */
export type FeedRead<Feed = JsonFeed> =
  | { notModified: true; etag: string | null }
  | {
      notModified: false;
      /** Keep for the next read (If-None-Match). */
      etag: string | null;
      lastModified: string | null;
      contentType: string;
      /** The document as sent: Atom, RSS or JSON Feed. */
      text: string;
      /** The parsed JSON Feed, when the format is `json`. */
      feed?: Feed;
    };

/** A read's options split into its query and the conditional-request headers of its revalidation. */
export function conditional<Query extends object>(options: Query & Revalidation): { query: Omit<Query, keyof Revalidation>; header: { 'If-None-Match'?: string; 'If-Modified-Since'?: string } } {
  const { etag, lastModified, ...query } = options;
  return { query, header: { ...(etag ? { 'If-None-Match': etag } : {}), ...(lastModified ? { 'If-Modified-Since': lastModified } : {}) } };
}

/** A feed answer, requested with `parseAs: 'text'`: a 304 is `notModified`, a JSON Feed is parsed, anything else not 2xx is thrown. */
export async function feedRead<Feed>(pending: Promise<{ data?: string; error?: unknown; response: Response }>, sentEtag?: string | null): Promise<FeedRead<Feed>> {
  const { data, error, response } = await pending;
  if (response.status === 304) return { notModified: true, etag: response.headers.get('etag') ?? sentEtag ?? null };
  if (!response.ok || data === undefined) throw ProfferProblem.fromResponse(response, error);
  const contentType = response.headers.get('content-type') ?? '';
  return {
    notModified: false,
    etag: response.headers.get('etag'),
    lastModified: response.headers.get('last-modified'),
    contentType,
    text: data,
    ...(/^application\/feed\+json/.test(contentType) ? { feed: JSON.parse(data) as Feed } : {}),
  };
}
