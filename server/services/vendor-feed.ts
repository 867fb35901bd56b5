import { sql, type Kysely } from 'kysely';
import type { DatabaseHandle } from '../db/database.js';
import type { Database, EventRow, SubscriptionStatus } from '../db/schema.js';
import { grantedEvent, type GrantScope, type GrantedEvent } from '../feeds/granted-events.js';
import { BIGINT_DIGITS, decodeSerialCursor, encodeSerialCursor } from './cursors.js';
import { todayUtc } from './subscriptions.js';

/**
 * The grant as the vendor's feed needs it, from ONE statement: its status as it reads now (an
 * active grant past its expiry is `expired`), its scope, its version, and the person's data
 * version (their newest event). Nothing here is parsed on a read that the cache answers: the
 * scope is JSON text, compared and only parsed to render; versions are integers as text.
 */
export interface FeedGrant {
  subscriptionId: string;
  personId: string;
  vendorId: string;
  status: SubscriptionStatus;
  fieldsJson: string;
  categoriesJson: string;
  /** The `maxReadsPerDay` duty, when the grant has one: such reads are counted in a transaction. */
  maxReadsPerDay: number | null;
  /** `updated_at` in microseconds: every grant change sets it, reads never touch it. */
  grantVersion: string;
  /** The person's newest event id ('0' before any), and its time in milliseconds. */
  newestEventId: string;
  newestEventMs: string | null;
}

interface GrantRow {
  subscription_id: string | null;
  person_id: string;
  vendor_id: string;
  status: SubscriptionStatus;
  fields_json: string;
  categories_json: string;
  max_reads: string | null;
  grant_version: string;
  newest_event_id: string | null;
  newest_event_ms: string | null;
}

// The one statement of a read, prepared once per connection (DatabaseHandle.prepared). No row: the
// session has ended (or is not this vendor's). A row without a subscription: not this vendor's.
const GRANT_COLUMNS = `s.id as subscription_id, s.person_id, s.vendor_id,
  case when s.status = 'active' and s.expires_at <= now() then 'expired' else s.status end as status,
  s.granted_fields::text as fields_json, s.granted_categories::text as categories_json, s.duties->>'maxReadsPerDay' as max_reads,
  (extract(epoch from s.updated_at) * 1000000)::bigint as grant_version,
  e.id as newest_event_id, (extract(epoch from e.created_at) * 1000)::bigint as newest_event_ms`;
// The person's newest event, from the end of events_pkey (person_id, id): their data version.
const NEWEST_EVENT = 'left join lateral (select id, created_at from events where person_id = s.person_id order by id desc limit 1) e on true';
const BY_SESSION = `select ${GRANT_COLUMNS}
  from sessions ses
  left join subscriptions s on s.id = $3 and s.vendor_id = ses.vendor_id
  ${NEWEST_EVENT}
  where ses.id = $1 and ses.vendor_id = $2 and ses.revoked_at is null and ses.expires_at > now()`;
const BY_CAPABILITY = `select l.id as link_id, ${GRANT_COLUMNS}
  from feed_links l
  join subscriptions s on s.person_id = l.person_id and s.id = l.subscription_id
  ${NEWEST_EVENT}
  where l.digest = $1`;

function toGrant(row: GrantRow): FeedGrant {
  return {
    subscriptionId: row.subscription_id as string,
    personId: row.person_id,
    vendorId: row.vendor_id,
    status: row.status,
    fieldsJson: row.fields_json,
    categoriesJson: row.categories_json,
    maxReadsPerDay: row.max_reads === null ? null : Number(row.max_reads),
    grantVersion: row.grant_version,
    newestEventId: row.newest_event_id ?? '0',
    newestEventMs: row.newest_event_ms,
  };
}

export type SessionGrant = { session: 'ended' } | { session: 'live'; grant: FeedGrant | undefined };

/**
 * The session must be live in the same statement: `authenticate` left that check to this query
 * (`sessionCheckedByHandler`). No row: the session has ended (or is not this vendor's). A row
 * without a subscription: not this vendor's subscription.
 */
export async function feedGrantForSession(
  database: DatabaseHandle,
  principal: { sessionId: string; vendorId: string },
  subscriptionId: string,
): Promise<SessionGrant> {
  const [row] = await database.prepared<GrantRow>('vendor-feed-grant-by-session', BY_SESSION, [principal.sessionId, principal.vendorId, subscriptionId]);
  if (!row) return { session: 'ended' };
  return { session: 'live', grant: row.subscription_id === null ? undefined : toGrant(row) };
}

export async function feedGrantForCapability(database: DatabaseHandle, digest: string): Promise<(FeedGrant & { linkId: string }) | undefined> {
  const [row] = await database.prepared<GrantRow & { link_id: string }>('vendor-feed-grant-by-link', BY_CAPABILITY, [digest]);
  return row ? { ...toGrant(row), linkId: row.link_id } : undefined;
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
  | { outcome: 'counted'; fieldsJson: string; categoriesJson: string; grantVersion: string }
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
        sql<string>`(extract(epoch from updated_at) * 1000000)::bigint`.as('grant_version'),
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
    return { outcome: 'counted', fieldsJson: row.fields_json, categoriesJson: row.categories_json, grantVersion: row.grant_version } as const;
  });
}
