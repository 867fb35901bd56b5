import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import type { Database } from '../db/schema.js';
import { dayOf, floorToMinute, ListedSetStates, listIntents, type IntentFilters, type IntentView } from '../services/intents.js';
import type { DatabaseHandle } from '../db/database.js';
import { gzipForm } from '../http/content-coding.js';
import type { SchemaSet } from '../xml/index.js';
import { entryXml, FEED_MEDIA_TYPES, renderFeed, type FeedDocument, type FeedEntry, type FeedFormat } from './render.js';
import type { RenderedFeed } from './vendor-feed.js';

export interface IntentFeedRequest {
  filters: IntentFilters;
  /** The filters as a query string in a fixed order: part of the cache key and of every link. */
  filterQuery: string;
  format: FeedFormat;
  limit: number;
  cursor: string | undefined;
}

/** What a reader sees of an intent at a glance: category, budget, place, date. Text, never markup. */
export function intentSummary(intent: IntentView): string {
  const facts = [intent.category];
  if (intent.quantity !== undefined && intent.quantity > 1) facts.push(`quantity ${intent.quantity}`);
  const { budget } = intent;
  if (budget) {
    const range =
      budget.min !== undefined && budget.max !== undefined ? `${budget.min}–${budget.max}` : budget.max !== undefined ? `up to ${budget.max}` : budget.min !== undefined ? `from ${budget.min}` : 'in';
    facts.push(`budget ${range} ${budget.currency}`);
  }
  if (intent.location) {
    const { locality, postalCode, region, country } = intent.location;
    const place = [postalCode && locality ? `${postalCode} ${locality}` : (locality ?? postalCode), region, country].filter(Boolean).join(', ');
    if (place) facts.push(place);
  }
  if (intent.wantedBy) facts.push(`wanted by ${intent.wantedBy}`);
  const line = facts.join(' · ');
  return intent.description ? `${line}\n\n${intent.description}` : line;
}

const MAX_CACHE_BYTES = 32 * 2 ** 20;
/** Bumped when the rendering changes, so no tag of an older rendering is ever answered 304. */
const RENDERING = 'i1';

/**
 * The public intent feed, rendered once per (version of the listed set, visibility window,
 * format, query) and kept in a bounded LRU cache: a read costs one primary-key lookup of the
 * version when the page was rendered before. The window is the minute with batching (what is
 * visible changes on the minute), else the UTC day (needs past their wanted-by date drop out).
 */
export class IntentFeedRenderer {
  private readonly cache = new LRUCache<string, RenderedFeed>({
    maxSize: MAX_CACHE_BYTES,
    sizeCalculation: (value, key) => value.body.length + (value.gzip?.body.length ?? 0) + key.length * 2 + 256,
  });
  /** Renders under way: concurrent misses of one key wait for one render. */
  private readonly rendering = new Map<string, Promise<RenderedFeed>>();

  private readonly states: ListedSetStates;

  constructor(private readonly deps: { db: Kysely<Database>; database: DatabaseHandle; publicUrl: string; xmlSchemas: SchemaSet; batching: boolean }) {
    this.states = new ListedSetStates(deps.database);
  }

  async page(request: IntentFeedRequest, now = new Date()): Promise<RenderedFeed> {
    const state = await this.states.current();
    const window = this.deps.batching ? floorToMinute(now).toISOString() : dayOf(now);
    const key = [state.version, window, request.format, request.limit, request.cursor ?? '', request.filterQuery].join('\u0000');
    let rendered = this.cache.get(key);
    if (!rendered) {
      let pending = this.rendering.get(key);
      if (!pending) {
        pending = this.render(request, now, state.changedAt).finally(() => this.rendering.delete(key));
        this.rendering.set(key, pending);
        this.cache.set(key, await pending);
      }
      rendered = await pending;
    }
    return { ...rendered, lastModified: lastModified(state.changedAt, now) };
  }

  private async render(request: IntentFeedRequest, now: Date, changedAt: Date): Promise<RenderedFeed> {
    const { db, publicUrl, xmlSchemas, batching } = this.deps;
    const page = await listIntents(db, publicUrl, { now, batching }, request.filters, { limit: request.limit, cursor: request.cursor });
    const base = `${publicUrl}/v1/intents`;
    const pageUrl = (format: FeedFormat, cursor: string | undefined) => {
      const query = new URLSearchParams(request.filterQuery);
      query.set('format', format);
      query.set('limit', String(request.limit));
      if (cursor) query.set('cursor', cursor);
      return `${base}?${query}`;
    };
    const entries: FeedEntry[] = page.items.map((intent) => ({
      // The intent id is random: a URN of it is unique without naming this server or anyone.
      id: `urn:uuid:${intent.id}`,
      title: intent.title,
      summary: intentSummary(intent),
      url: `${base}/${intent.id}`,
      published: new Date(intent.publishedAt),
      updated: new Date(intent.updatedAt),
      data: intent,
      xml: entryXml(intent, { root: 'intent', schemaRef: 'intent.json', schemas: xmlSchemas }),
    }));
    const newest = Math.max(0, ...entries.map((e) => e.updated.getTime()));
    const document: FeedDocument = {
      id: request.filterQuery ? `${base}?${request.filterQuery}` : base,
      title: 'Public intents on Proffer',
      description: 'Needs people cast publicly and pseudonymously. Answer one with an offer at its offersUrl.',
      author: 'Proffer',
      homeUrl: base,
      selfUrl: (format) => pageUrl(format, request.cursor),
      nextUrl: page.next ? (format) => pageUrl(format, page.next ?? undefined) : undefined,
      firstUrl: request.cursor ? (format) => pageUrl(format, undefined) : undefined,
      updated: newest > 0 ? new Date(newest) : floorToMinute(changedAt),
      entries,
    };
    const body = Buffer.from(renderFeed(document, request.format), 'utf8');
    const digest = createHash('sha256').update(RENDERING).update(body).digest('base64url').slice(0, 32);
    const gzip = await gzipForm(body, RENDERING);
    return { body, gzip, contentType: `${FEED_MEDIA_TYPES[request.format]}; charset=utf-8`, etag: `"${digest}"`, lastModified: new Date(0) };
  }
}

/**
 * Last-Modified without the exact time of any change: the end of the minute of the latest change
 * to the listed set (or the start of the UTC day, when wanted-by dates retire needs), or now if
 * that minute has not ended. A date a client was given before a change is then earlier than the
 * Last-Modified after it (to the second, as HTTP dates go), and nothing finer than the minute of
 * any change is told.
 */
export function lastModified(changedAt: Date, now: Date): Date {
  const dayStart = new Date(`${dayOf(now)}T00:00:00Z`);
  // The end of the minute (a need cast at 10:00:00.000 shows from 10:01 when batching).
  const end = changedAt >= dayStart ? new Date(floorToMinute(changedAt).getTime() + 60_000) : dayStart;
  const at = end < now ? end : now;
  return new Date(Math.floor(at.getTime() / 1000) * 1000);
}
