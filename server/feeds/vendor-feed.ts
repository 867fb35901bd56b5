import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import type { Database } from '../db/schema.js';
import { notFound } from '../errors.js';
import { gzipForm, type Representations } from '../http/content-coding.js';
import { decodePosition, encodePosition, feedSubject, grantedPage, type FeedGrant, type FeedHead, type PagePosition } from '../services/vendor-feed.js';
import type { SchemaSet } from '../xml/index.js';
import type { GrantedEvent } from './granted-events.js';
import { entryXml, FEED_MEDIA_TYPES, renderFeed, type FeedDocument, type FeedEntry, type FeedFormat } from './render.js';

/** Where a vendor's feed is served: with a token, or through a capability link. */
export interface FeedAddress {
  /** The feed's absolute URL, without query. */
  base: string;
  /** Renders of different addresses differ (their links do), so they are cached apart. */
  cacheScope: string;
  /** Token feeds link profile entries to the granted profile; capability links (no token) do not. */
  entryLinks: boolean;
}

export interface PageRequest {
  format: FeedFormat;
  limit: number;
  cursor: string | undefined;
}

/**
 * `etag` is strong: a digest of the body, so the same bytes always carry the same tag, in any
 * process; the gzip form, when there is one, has its own.
 */
export interface RenderedFeed extends Representations {
  contentType: string;
  /** Whole seconds (HTTP dates have no finer precision). */
  lastModified: Date;
  /** The same as an HTTP date, formatted once (when absent, format `lastModified`). */
  lastModifiedHeader?: string;
}

/** A render of a vendor's feed page, with the grant it was rendered under (for the access log). */
export interface RenderedPage extends RenderedFeed {
  grant: FeedGrant;
}

export const lastModifiedHeader = (rendered: RenderedFeed) => rendered.lastModifiedHeader ?? rendered.lastModified.toUTCString();

/**
 * A render of an event is an Event (schemas/event.json), the same shape as in the person's own
 * feed, but with only what the grant shows: the profile redacted, `changed` filtered.
 */
export function entryContent(event: GrantedEvent): Record<string, unknown> {
  const common = { id: event.eventId, kind: event.kind };
  const timing = { version: event.version, createdAt: event.at.toISOString() };
  switch (event.kind) {
    case 'profile.updated':
      return { ...common, subject: 'profile', ...timing, changed: event.changed, profile: event.profile };
    case 'need.deleted':
      return { ...common, subject: event.need.id, ...timing, category: event.need.category };
    default:
      return { ...common, subject: String(event.need.id), ...timing, need: event.need };
  }
}

const MAX_LISTED_PATHS = 5;

/** Titles and summaries say only what the grant shows (never the names of fields it hides). */
function describe(event: GrantedEvent): { title: string; summary: string } {
  switch (event.kind) {
    case 'profile.updated': {
      const listed =
        event.changed.slice(0, MAX_LISTED_PATHS).join(', ') + (event.changed.length > MAX_LISTED_PATHS ? ` and ${event.changed.length - MAX_LISTED_PATHS} more` : '');
      return { title: `Profile updated: ${listed}`, summary: `Profile version ${event.version}: ${listed} changed.` };
    }
    case 'need.created':
      return { title: `New need: ${String(event.need.title ?? '')}`, summary: `A need was added in ${String(event.need.category)} (${String(event.need.status ?? 'open')}).` };
    case 'need.updated':
      return { title: `Need updated: ${String(event.need.title ?? '')}`, summary: `The need is now at version ${event.version} (${String(event.need.status ?? '')}).` };
    case 'need.deleted':
      return { title: 'Need deleted', summary: `A need in ${event.need.category} was deleted.` };
  }
}

/**
 * A render whose person changed something less than this long ago is kept only until then:
 * events are numbered when written but become visible when committed, so for a moment an older
 * number may still appear below a newer one. After that, renders are kept until evicted.
 */
const SETTLE_MS = 10_000;
/** Bumped when the rendering changes, so no tag of an older rendering is ever answered 304. */
const RENDERING = 'v1';

/**
 * The vendor's feed, rendered once per (address, grant version, data version, format, page) and
 * kept in a bounded LRU cache: the hot path reads only the grant's head (one query) and finds the
 * bytes, their ETag and Last-Modified here; only a miss reads the grant itself and renders.
 */
export class VendorFeedRenderer {
  private readonly cache: LRUCache<string, RenderedPage>;
  /** Renders under way: concurrent misses of one key wait for one render. */
  private readonly rendering = new Map<string, Promise<RenderedPage>>();

  constructor(
    private readonly deps: { db: Kysely<Database>; publicUrl: string; xmlSchemas: SchemaSet; maxBytes: number },
  ) {
    this.cache = new LRUCache<string, RenderedPage>({
      maxSize: deps.maxBytes,
      sizeCalculation: (value, key) =>
        value.body.length + (value.gzip?.body.length ?? 0) + key.length * 2 + value.grant.fieldsJson.length + value.grant.categoriesJson.length + 512,
    });
  }

  private static key(head: FeedHead, address: FeedAddress, request: PageRequest): string {
    // The grant version moves on at every change of scope, status, duties or expiry (migration
    // 0008): with the subscription id it stands for the scope the render shows.
    return `${address.cacheScope}\u0000${head.subscriptionId}\u0000${head.grantVersion}\u0000${head.newestEventId}\u0000${request.format}\u0000${request.limit}\u0000${request.cursor ?? ''}`;
  }

  /** The page as rendered for exactly these versions, if it is still cached. */
  cached(head: FeedHead, address: FeedAddress, request: PageRequest): RenderedPage | undefined {
    return this.cache.get(VendorFeedRenderer.key(head, address, request));
  }

  /** Renders the page under this grant (once, however many ask at the same time) and caches it. */
  async page(grant: FeedGrant, address: FeedAddress, request: PageRequest): Promise<RenderedPage> {
    const key = VendorFeedRenderer.key(grant, address, request);
    const cached = this.cache.get(key);
    if (cached) return cached;
    let pending = this.rendering.get(key);
    if (!pending) {
      pending = this.render(grant, address, request).finally(() => this.rendering.delete(key));
      this.rendering.set(key, pending);
      const rendered = await pending;
      const age = grant.newestEventMs === null ? SETTLE_MS : Date.now() - grant.newestEventMs;
      this.cache.set(key, rendered, { ttl: age < SETTLE_MS ? Math.max(1, SETTLE_MS - age) : 0 });
      return rendered;
    }
    return pending;
  }

  private async render(grant: FeedGrant, address: FeedAddress, request: PageRequest): Promise<RenderedPage> {
    const { db, publicUrl, xmlSchemas } = this.deps;
    const position = decodePosition(request.cursor);
    const scope = { fields: JSON.parse(grant.fieldsJson) as string[], categories: JSON.parse(grant.categoriesJson) as string[] };
    const [page, subject] = await Promise.all([
      grantedPage(db, grant.personId, scope, position, request.limit),
      feedSubject(db, grant.personId, grant.subscriptionId),
    ]);
    if (!subject) throw notFound('No subscription with this id.');

    const pageUrl = (format: FeedFormat, at: PagePosition) => {
      const query = new URLSearchParams({ format, limit: String(request.limit) });
      if (at.kind !== 'newest') query.set('cursor', encodePosition(at));
      return `${address.base}?${query}`;
    };
    const subscription = grant.subscriptionId;
    const entries: FeedEntry[] = page.entries.map((event) => {
      const content = entryContent(event);
      return {
        id: `urn:proffer:subscription:${subscription}:event:${event.eventId}`,
        ...describe(event),
        url: address.entryLinks && event.kind === 'profile.updated' ? `${publicUrl}/v1/subscriptions/${subscription}/profile` : undefined,
        published: event.at,
        updated: event.at,
        data: content,
        xml: entryXml(content, { root: 'event', schemaRef: 'event.json', schemas: xmlSchemas }),
      };
    });
    // The feed changes when an entry arrives or when the grant changes (a narrowing rewrites old entries).
    const newest = page.entries[0]?.at.getTime() ?? 0;
    const updated = new Date(Math.max(newest, grant.grantChangedMs));
    const { next, previous } = page;
    const document: FeedDocument = {
      id: `urn:proffer:subscription:${subscription}:feed`,
      title: `${subject.handle} on Proffer, as granted to ${subject.vendorName}`,
      description: 'Profile changes and needs, each shown as the grant stands now.',
      author: subject.handle,
      homeUrl: address.entryLinks ? `${publicUrl}/v1/subscriptions/${subscription}` : publicUrl,
      selfUrl: (format) => pageUrl(format, position),
      nextUrl: next ? (format) => pageUrl(format, next) : undefined,
      previousUrl: previous ? (format) => pageUrl(format, previous) : undefined,
      firstUrl: position.kind === 'newest' ? undefined : (format) => pageUrl(format, { kind: 'newest' }),
      updated,
      entries,
    };
    const body = Buffer.from(renderFeed(document, request.format), 'utf8');
    const digest = createHash('sha256').update(RENDERING).update(body).digest('base64url').slice(0, 32);
    const lastModified = new Date(Math.floor(updated.getTime() / 1000) * 1000);
    return {
      body,
      gzip: await gzipForm(body, RENDERING),
      contentType: `${FEED_MEDIA_TYPES[request.format]}; charset=utf-8`,
      etag: `"${digest}"`,
      lastModified,
      lastModifiedHeader: lastModified.toUTCString(),
      grant,
    };
  }
}
