import { sql, type Kysely } from 'kysely';
import { Batcher } from '../db/batcher.js';
import type { DatabaseHandle } from '../db/database.js';
import type { Database, EventRow, SubscriptionStatus } from '../db/schema.js';
import { grantedEvent, type GrantScope, type GrantedEvent } from '../feeds/granted-events.js';
import { BIGINT_DIGITS, decodeSerialCursor, encodeSerialCursor } from './cursors.js';
import { todayUtc } from './subscriptions.js';

/**
 * What a read of the vendor's feed must know before anything else, from ONE prepared statement:
 * whether the grant is active now (an active grant past its expiry reads `expired`), its version
 * (migration 0008) and the person's data version (their newest event). Three small columns: a
 * render cached under these two versions is answered without reading anything else.
 */
export interface FeedHead {
  subscriptionId: string;
  status: SubscriptionStatus;
  grantVersion: string;
  /** The person's newest event id ('0' before any). */
  newestEventId: string;
}

/**
 * The grant as a render and the access log need it, read on a render-cache miss (and kept with the
 * render): its scope as JSON text (parsed only to render), its duty to count reads, and the times
 * a feed's `updated` and the cache's settling need.
 */
export interface FeedGrant extends FeedHead {
  personId: string;
  vendorId: string;
  fieldsJson: string;
  categoriesJson: string;
  /** The `maxReadsPerDay` duty, when the grant has one: such reads are counted in a transaction. */
  maxReadsPerDay: number | null;
  /** When the grant last changed, in milliseconds. */
  grantChangedMs: number;
  /** When the newest event was written, in milliseconds (null before any). */
  newestEventMs: number | null;
}

interface HeadRow {
  subscription_id: string | null;
  status: SubscriptionStatus | null;
  grant_version: string | null;
  newest_event_id: string | null;
}

const STATUS_NOW = `case when s.status = 'active' and s.expires_at <= now() then 'expired' else s.status end`;
// The person's newest event, from the end of events_pkey (person_id, id): their data version.
const NEWEST_EVENT_ID = '(select id from events where person_id = s.person_id order by id desc limit 1)';
const HEAD_COLUMNS = `r.n, s.id as subscription_id, ${STATUS_NOW} as status, s.grant_version, ${NEWEST_EVENT_ID} as newest_event_id`;
// One row per read asked for (`n`, its place in the batch). `live` false: the session has ended
// (or is not this vendor's). Live without a subscription: not this vendor's subscription.
const HEADS_BY_SESSION = `select ${HEAD_COLUMNS}, ses.id is not null as live
  from unnest($1::uuid[], $2::uuid[], $3::uuid[]) with ordinality as r(session_id, vendor_id, subscription_id, n)
  left join sessions ses on ses.id = r.session_id and ses.vendor_id = r.vendor_id and ses.revoked_at is null and ses.expires_at > now()
  left join subscriptions s on s.id = r.subscription_id and s.vendor_id = ses.vendor_id`;
// Only the links that exist have a row.
const HEADS_BY_CAPABILITY = `select ${HEAD_COLUMNS}
  from unnest($1::text[]) with ordinality as r(digest, n)
  join feed_links l on l.digest = r.digest
  join subscriptions s on s.person_id = l.person_id and s.id = l.subscription_id`;
const GRANT_BY_ID = `select s.id as subscription_id, s.person_id, s.vendor_id, ${STATUS_NOW} as status, s.grant_version,
    s.granted_fields::text as fields_json, s.granted_categories::text as categories_json, s.duties->>'maxReadsPerDay' as max_reads,
    (extract(epoch from s.updated_at) * 1000)::bigint as grant_changed_ms,
    e.id as newest_event_id, (extract(epoch from e.created_at) * 1000)::bigint as newest_event_ms
  from subscriptions s
  left join lateral (select id, created_at from events where person_id = s.person_id order by id desc limit 1) e on true
  where s.id = $1`;

const toHead = (row: HeadRow): FeedHead => ({
  subscriptionId: row.subscription_id as string,
  status: row.status as SubscriptionStatus,
  grantVersion: row.grant_version as string,
  newestEventId: row.newest_event_id ?? '0',
});

/** The rows of a batch in the order of the reads that asked (`n` counts from 1); none: undefined. */
function byPlace<Row extends { n: string }>(rows: Row[], count: number): (Row | undefined)[] {
  const placed = new Array<Row | undefined>(count).fill(undefined);
  for (const row of rows) placed[Number(row.n) - 1] = row;
  return placed;
}

export type SessionHead = { session: 'ended' } | { session: 'live'; head: FeedHead | undefined };

interface SessionRead {
  sessionId: string;
  vendorId: string;
  subscriptionId: string;
}

/**
 * The heads of vendor feed reads. Concurrent reads share one statement (`Batcher`): a
 * busy server checks many grants per round trip instead of one, and every read is still checked
 * by a statement run after it arrived.
 */
export class FeedHeads {
  private readonly bySession: Batcher<SessionRead, SessionHead>;
  private readonly byCapability: Batcher<string, FeedHead | undefined>;

  constructor(database: DatabaseHandle) {
    this.bySession = new Batcher(async (reads) => {
      const rows = await database.prepared<HeadRow & { n: string; live: boolean }>('vendor-feed-heads-by-session', HEADS_BY_SESSION, [
        reads.map((r) => r.sessionId),
        reads.map((r) => r.vendorId),
        reads.map((r) => r.subscriptionId),
      ]);
      return byPlace(rows, reads.length).map((row): SessionHead => {
        if (!row?.live) return { session: 'ended' };
        return { session: 'live', head: row.subscription_id === null ? undefined : toHead(row) };
      });
    });
    this.byCapability = new Batcher(async (digests) => {
      const rows = await database.prepared<HeadRow & { n: string }>('vendor-feed-heads-by-link', HEADS_BY_CAPABILITY, [digests]);
      return byPlace(rows, digests.length).map((row) => (row ? toHead(row) : undefined));
    });
  }

  /**
   * The session must be live in the same statement: `authenticate` left that check to this query
   * (`sessionCheckedByHandler`). 'ended': the session has ended (or is not this vendor's). Live
   * without a head: not this vendor's subscription.
   */
  forSession(principal: { sessionId: string; vendorId: string }, subscriptionId: string): Promise<SessionHead> {
    return this.bySession.submit({ sessionId: principal.sessionId, vendorId: principal.vendorId, subscriptionId });
  }

  /** The head of the grant a capability link (by its digest) serves; undefined: no such link. */
  forCapability(digest: string): Promise<FeedHead | undefined> {
    return this.byCapability.submit(digest);
  }

  /** For tests and diagnostics: how many statements answered how many reads. */
  get stats() {
    return { bySession: { ...this.bySession.stats }, byCapability: { ...this.byCapability.stats } };
  }
}

/** The whole grant, for a render (undefined: the subscription is gone). */
export async function feedGrant(database: DatabaseHandle, subscriptionId: string): Promise<FeedGrant | undefined> {
  const [row] = await database.prepared<
    HeadRow & { person_id: string; vendor_id: string; fields_json: string; categories_json: string; max_reads: string | null; grant_changed_ms: string; newest_event_ms: string | null }
  >('vendor-feed-grant', GRANT_BY_ID, [subscriptionId]);
  if (!row) return undefined;
  return {
    ...toHead(row),
    personId: row.person_id,
    vendorId: row.vendor_id,
    fieldsJson: row.fields_json,
    categoriesJson: row.categories_json,
    maxReadsPerDay: row.max_reads === null ? null : Number(row.max_reads),
    grantChangedMs: Number(row.grant_changed_ms),
    newestEventMs: row.newest_event_ms === null ? null : Number(row.newest_event_ms),
  };
}

// ---------------------------------------------------------------------------------------------
// Pages

/** Where a page starts: the newest entries, entries older than an event, or newer than one. */
export type PagePosition = { kind: 'newest' } | { kind: 'older'; than: string } | { kind: 'newer'; than: string };

const OLDER = 'o';
const NEWER = 'n';
export const encodePosition = (position: Exclude<PagePosition, { kind: 'newest' }>) =>
  encodeSerialCursor(position.kind === 'older' ? OLDER : NEWER, position.than);

/** A cursor of this feed, or a 400 naming `cursor`. */
export function decodePosition(cursor: string | undefined): PagePosition {
  if (cursor === undefined) return { kind: 'newest' };
  const kind = Buffer.from(cursor, 'base64url').toString('utf8').startsWith(NEWER) ? NEWER : OLDER;
  const than = decodeSerialCursor(kind, cursor, BIGINT_DIGITS);
  return { kind: kind === NEWER ? 'newer' : 'older', than };
}

/** At most this many events are read to fill one page; a sparse grant gets a short page and a `next` link. */
export const MAX_SCANNED_EVENTS = 1000;

export interface GrantedPage {
  /** Newest first, each the event as the grant shows it now. */
  entries: GrantedEvent[];
  next: PagePosition | undefined;
  previous: PagePosition | undefined;
}

/**
 * One page of the person's events as the grant shows them now (`grantedEvent`): events the grant
 * does not cover are skipped, which may take several batches; the scan stops after
 * MAX_SCANNED_EVENTS and the page then links on from where it stopped.
 */
export async function grantedPage(
  db: Kysely<Database>,
  personId: string,
  scope: GrantScope,
  position: PagePosition,
  limit: number,
): Promise<GrantedPage> {
  const descending = position.kind !== 'newer';
  const found: GrantedEvent[] = [];
  let scanned = 0;
  let exhausted = false;
  let lastScanned: string | undefined;
  let batch = limit + 1;
  // Kinds the grant cannot show are not even read.
  const kinds =
    scope.fields.length === 0 ? (['need.created', 'need.updated', 'need.deleted'] as const) : scope.categories.length === 0 ? (['profile.updated'] as const) : undefined;
  if (scope.fields.length === 0 && scope.categories.length === 0) exhausted = true;

  while (!exhausted && found.length <= limit && scanned < MAX_SCANNED_EVENTS) {
    let query = db.selectFrom('events').selectAll().where('person_id', '=', personId);
    const from = lastScanned ?? (position.kind === 'newest' ? undefined : position.than);
    if (from !== undefined) query = query.where('id', descending ? '<' : '>', from);
    if (kinds) query = query.where('kind', 'in', kinds);
    const size = Math.min(batch, MAX_SCANNED_EVENTS - scanned);
    const rows: EventRow[] = await query.orderBy('id', descending ? 'desc' : 'asc').limit(size).execute();
    scanned += rows.length;
    if (rows.length < size) exhausted = true;
    for (const row of rows) {
      if (found.length > limit) break;
      lastScanned = row.id;
      const granted = grantedEvent(row, scope);
      if (granted) found.push(granted);
    }
    batch *= 4;
  }

  const more = found.length > limit;
  const onPage = found.slice(0, limit);
  // Where to go on when this scan ended early: from the last granted entry, or the last event read.
  const continueFrom = more ? onPage.at(-1)?.eventId : !exhausted ? lastScanned : undefined;
  const entries = descending ? onPage : onPage.reverse();
  const newest = entries[0]?.eventId;
  const oldest = entries.at(-1)?.eventId;

  if (descending) {
    const previousFrom = newest ?? (position.kind === 'older' ? (BigInt(position.than) - 1n).toString() : undefined);
    return {
      entries,
      next: continueFrom === undefined ? undefined : { kind: 'older', than: continueFrom },
      previous: position.kind === 'older' && previousFrom !== undefined && previousFrom !== '0' ? { kind: 'newer', than: previousFrom } : undefined,
    };
  }
  const than = position.kind === 'newer' ? position.than : '0';
  return {
    entries,
    next: { kind: 'older', than: oldest ?? (BigInt(than) + 1n).toString() },
    previous: continueFrom === undefined ? undefined : { kind: 'newer', than: continueFrom },
  };
}

/** What a feed's title and links need, read only when a page is rendered. */
export async function feedSubject(db: Kysely<Database>, personId: string, subscriptionId: string) {
  return db
    .selectFrom('subscriptions as s')
    .innerJoin('people as p', 'p.id', 's.person_id')
    .innerJoin('vendors as v', 'v.id', 's.vendor_id')
    .select(['p.handle', 'v.name as vendorName'])
    .where('s.person_id', '=', personId)
    .where('s.id', '=', subscriptionId)
    .executeTakeFirst();
}

// ---------------------------------------------------------------------------------------------
// Reads under a `maxReadsPerDay` duty

export type CountedRead =
  | { outcome: 'counted'; fieldsJson: string; categoriesJson: string; grantVersion: string; grantChangedMs: number }
  | { outcome: 'refused'; status: SubscriptionStatus }
  | { outcome: 'limited'; limit: number };

/**
 * A read under a grant that limits reads a day: the grant is locked, checked, counted and the
 * read logged in one transaction (the profile read shares the counter), so concurrent reads
 * cannot overrun the limit. Slower than the group-committed log, and only for such grants.
 */
export async function countLimitedRead(
  db: Kysely<Database>,
  grant: { personId: string; subscriptionId: string; vendorId: string },
  entry: { what: string; address: string },
): Promise<CountedRead> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('subscriptions')
      .select(['status', 'expires_at', 'duties', 'reads_day', 'reads_on_day'])
      .select((eb) => [
        eb.cast<string>('granted_fields', 'text').as('fields_json'),
        eb.cast<string>('granted_categories', 'text').as('categories_json'),
        'grant_version',
        sql<string>`(extract(epoch from updated_at) * 1000)::bigint`.as('grant_changed_ms'),
      ])
      .where('person_id', '=', grant.personId)
      .where('id', '=', grant.subscriptionId)
      .forUpdate()
      .executeTakeFirst();
    if (!row) return { outcome: 'refused', status: 'ended' } as const;
    const now = new Date();
    const status = row.status === 'active' && row.expires_at !== null && row.expires_at <= now ? 'expired' : row.status;
    if (status !== 'active') return { outcome: 'refused', status } as const;
    const today = todayUtc();
    const readsToday = row.reads_day === today ? row.reads_on_day : 0;
    const limit = (row.duties as { maxReadsPerDay?: number }).maxReadsPerDay;
    if (limit !== undefined && readsToday >= limit) return { outcome: 'limited', limit } as const;
    await trx
      .updateTable('subscriptions')
      .set({ reads_day: today, reads_on_day: readsToday + 1 })
      .where('person_id', '=', grant.personId)
      .where('id', '=', grant.subscriptionId)
      .execute();
    await trx
      .insertInto('access_log')
      .values({
        person_id: grant.personId,
        subscription_id: grant.subscriptionId,
        vendor_id: grant.vendorId,
        what: entry.what,
        fields: row.fields_json,
        address: entry.address,
        at: now,
      })
      .execute();
    return {
      outcome: 'counted',
      fieldsJson: row.fields_json,
      categoriesJson: row.categories_json,
      grantVersion: row.grant_version,
      grantChangedMs: Number(row.grant_changed_ms),
    } as const;
  });
}
