import { sql, type Expression, type Kysely, type SqlBool } from 'kysely';
import { parseCategory } from '../../policies/index.js';
import { Batcher } from '../db/batcher.js';
import type { DatabaseHandle } from '../db/database.js';
import type { Database } from '../db/schema.js';
import { ProblemError, notFound } from '../errors.js';
import { isUuid } from '../http/auth.js';
import { decodeTimeCursor, encodeTimeCursor, olderThan } from './cursors.js';
import type { NeedInput } from './needs.js';
import type { components } from '../generated/openapi.js';

/**
 * Public intents: needs their people marked public, while open, cast pseudonymously.
 *
 * What leaves the server about a listed need is its content, an intent id of its own (random,
 * unrelated to the need's id, its person or its other needs) and two times to the minute. The
 * feed is ordered by the listing minute and, within a minute, by the random intent id, so
 * neither times nor order tell which needs were cast together. With batching on (the default) a
 * need listed during a minute shows from the next full minute, with every other need listed in
 * that minute: someone polling the feed every second learns no more than the minute either.
 */

/** The generated contract type: the view cannot drift from schemas/intent.json. */
export type IntentView = components['schemas']['Intent'];

export interface IntentFilters {
  /** Category patterns (`sports`, `sports/cycling`; `*` stands for one segment): each covers its sub-categories. */
  categories?: string[] | undefined;
  country?: string | undefined;
  region?: string | undefined;
  locality?: string | undefined;
  /** A prefix: `69` matches `69001`. */
  postalCode?: string | undefined;
  /** Location filters also match needs that do not say (no location, or not that part of it). */
  includeUnlocated?: boolean | undefined;
  currency?: string | undefined;
  /** With `budgetMax`: the range a vendor can serve; a need matches when its budget overlaps it. */
  budgetMin?: number | undefined;
  budgetMax?: number | undefined;
  /** A need wanted strictly before this date (needs without a date do not match). */
  wantedBefore?: string | undefined;
  /** A need wanted strictly after this date, or without a date. */
  wantedAfter?: string | undefined;
}

/** When the listing is read: what is visible depends on the day (wanted-by) and, with batching, the minute. */
export interface IntentClock {
  now: Date;
  batching: boolean;
}

const MINUTE_MS = 60_000;
export const floorToMinute = (at: Date) => new Date(Math.floor(at.getTime() / MINUTE_MS) * MINUTE_MS);
export const dayOf = (at: Date) => at.toISOString().slice(0, 10);

/** Listed needs a reader may see now: open by date too, and, with batching, listed before this minute. */
function visibleIntents(db: Kysely<Database>, clock: IntentClock) {
  let query = db
    .selectFrom('needs')
    .select(['intent_id', 'document', 'category', 'wanted_by', 'listed_at', 'updated_at'])
    .where('listed_at', 'is not', null)
    .where((eb) => eb.or([eb('wanted_by', 'is', null), eb('wanted_by', '>=', dayOf(clock.now))]));
  if (clock.batching) query = query.where('listed_at', '<', floorToMinute(clock.now));
  return query;
}
type IntentRow = Awaited<ReturnType<ReturnType<typeof visibleIntents>['executeTakeFirstOrThrow']>>;

export function intentView(row: IntentRow, publicUrl: string): IntentView {
  // Named members only: whatever else a stored document held would never reach the public.
  const need = row.document as unknown as NeedInput;
  const listedAt = row.listed_at as Date;
  const updatedAt = floorToMinute(row.updated_at);
  return {
    id: row.intent_id,
    title: need.title,
    ...(need.description !== undefined ? { description: need.description } : {}),
    category: row.category,
    ...(need.quantity !== undefined ? { quantity: need.quantity } : {}),
    ...(need.budget !== undefined ? { budget: need.budget } : {}),
    ...(need.location !== undefined ? { location: need.location } : {}),
    ...(row.wanted_by !== null ? { wantedBy: row.wanted_by } : {}),
    publishedAt: listedAt.toISOString(),
    updatedAt: (updatedAt > listedAt ? updatedAt : listedAt).toISOString(),
    offersUrl: `${publicUrl}/v1/intents/${row.intent_id}/offers`,
  };
}

/** A category pattern as a regular expression over stored categories: the pattern and everything below it. */
function categoryRegex(pattern: string): string {
  const segments = parseCategory(pattern);
  if (!segments) {
    throw new ProblemError('validation', `"${pattern}" is not a category pattern.`, {
      errors: [{ in: 'query', pointer: '/category', message: 'must be lower-case words joined by - and /, or *' }],
    });
  }
  // Segments are [a-z0-9-] or *: nothing in them needs escaping.
  return `^${segments.map((s) => (s === '*' ? '[a-z0-9-]+' : s)).join('/')}(/|$)`;
}

function filterConditions(filters: IntentFilters): Expression<SqlBool>[] {
  const conditions: Expression<SqlBool>[] = [];
  if (filters.categories?.length) {
    const alternatives = filters.categories.map((pattern) => sql<SqlBool>`category ~ ${categoryRegex(pattern)}`);
    conditions.push(sql<SqlBool>`(${sql.join(alternatives, sql` or `)})`);
  }
  const located = (member: string, condition: Expression<SqlBool>) =>
    filters.includeUnlocated ? sql<SqlBool>`(document->'location'->>${member} is null or ${condition})` : condition;
  if (filters.country !== undefined) conditions.push(located('country', sql<SqlBool>`document->'location'->>'country' = ${filters.country}`));
  // Case folded by the database on both sides, so both fold alike whatever its locale.
  if (filters.region !== undefined) conditions.push(located('region', sql<SqlBool>`lower(document->'location'->>'region') = lower(${filters.region})`));
  if (filters.locality !== undefined) conditions.push(located('locality', sql<SqlBool>`lower(document->'location'->>'locality') = lower(${filters.locality})`));
  if (filters.postalCode !== undefined) {
    // The parameter's pattern allows letters, digits, spaces and hyphens only: no LIKE wildcards.
    conditions.push(located('postalCode', sql<SqlBool>`upper(document->'location'->>'postalCode') like upper(${filters.postalCode}) || '%'`));
  }
  if (filters.budgetMin !== undefined || filters.budgetMax !== undefined) {
    if (filters.currency === undefined) {
      throw new ProblemError('validation', 'A budget range needs a currency.', {
        errors: [{ in: 'query', pointer: '/currency', message: 'is required with budgetMin or budgetMax' }],
      });
    }
    if (filters.budgetMin !== undefined && filters.budgetMax !== undefined && filters.budgetMin > filters.budgetMax) {
      throw new ProblemError('validation', 'budgetMin is above budgetMax.', {
        errors: [{ in: 'query', pointer: '/budgetMin', message: 'must not be greater than budgetMax' }],
      });
    }
  }
  if (filters.currency !== undefined) conditions.push(sql<SqlBool>`document->'budget'->>'currency' = ${filters.currency}`);
  // Overlap of [need.min, need.max] (either end open) with [budgetMin, budgetMax].
  if (filters.budgetMin !== undefined) {
    conditions.push(sql<SqlBool>`(document->'budget'->>'max' is null or (document->'budget'->>'max')::numeric >= ${filters.budgetMin})`);
  }
  if (filters.budgetMax !== undefined) {
    conditions.push(sql<SqlBool>`(document->'budget'->>'min' is null or (document->'budget'->>'min')::numeric <= ${filters.budgetMax})`);
  }
  if (filters.wantedBefore !== undefined) conditions.push(sql<SqlBool>`wanted_by < ${filters.wantedBefore}`);
  if (filters.wantedAfter !== undefined) conditions.push(sql<SqlBool>`(wanted_by is null or wanted_by > ${filters.wantedAfter})`);
  return conditions;
}

const invalidCursor = () =>
  new ProblemError('validation', 'The cursor is not one this server gave out.', {
    errors: [{ in: 'query', pointer: '/cursor', message: 'is not a valid cursor' }],
  });

/**
 * One page of visible intents, newest listing minute first. Filters are checked before any
 * query, so a bad one is a 400 whatever the data.
 */
export async function listIntents(
  db: Kysely<Database>,
  publicUrl: string,
  clock: IntentClock,
  filters: IntentFilters,
  page: { limit: number; cursor?: string | undefined },
): Promise<{ items: IntentView[]; next: string | null }> {
  const conditions = filterConditions(filters);
  let query = visibleIntents(db, clock);
  for (const condition of conditions) query = query.where(condition);
  if (page.cursor !== undefined) {
    const after = decodeTimeCursor(page.cursor);
    if (!isUuid(after.id) || after.createdAt.getTime() % MINUTE_MS !== 0) throw invalidCursor();
    query = query.where(olderThan('listed_at', 'intent_id', after));
  }
  const rows = await query.orderBy('listed_at', 'desc').orderBy('intent_id', 'desc').limit(page.limit + 1).execute();
  const shown = rows.slice(0, page.limit);
  const last = shown.at(-1);
  return {
    items: shown.map((row) => intentView(row, publicUrl)),
    next: rows.length > page.limit && last?.listed_at ? encodeTimeCursor(last.listed_at, last.intent_id) : null,
  };
}

export interface ListedSetState {
  /** Moves on in the transaction of every change to a listed need. */
  version: string;
  changedAt: Date;
}

const LISTED_SET_STATE = 'select version, changed_at from public_intents_state where id = 1';

/**
 * The version of the listed set, which every read of the public intent feed asks first. All reads
 * waiting at one moment share one lookup (`Batcher`), a prepared primary-key read: each still gets
 * a state read after it arrived.
 */
export class ListedSetStates {
  private readonly batcher: Batcher<null, ListedSetState>;

  constructor(database: DatabaseHandle) {
    this.batcher = new Batcher(async (reads) => {
      const [row] = await database.prepared<{ version: string; changed_at: Date }>('public-intents-state', LISTED_SET_STATE, []);
      if (!row) throw new Error('public_intents_state has no row: migration 0007 has not run');
      const state = { version: String(row.version), changedAt: row.changed_at };
      return reads.map(() => state);
    });
  }

  current(): Promise<ListedSetState> {
    return this.batcher.submit(null);
  }

  /** For tests and diagnostics: how many lookups answered how many reads. */
  get stats() {
    return { ...this.batcher.stats };
  }
}

/** Unknown, never public, no longer open, or not shown yet: all alike, so an id reveals nothing. */
const noSuchIntent = () => notFound('No open public intent with this id.');

export async function getIntent(db: Kysely<Database>, publicUrl: string, clock: IntentClock, intentId: string): Promise<IntentView> {
  const row = await visibleIntents(db, clock).where('intent_id', '=', intentId).executeTakeFirst();
  if (!row) throw noSuchIntent();
  return intentView(row, publicUrl);
}

/** The need behind a visible intent, for answering it: only the server ever sees this link. */
export async function needOfIntent(
  db: Kysely<Database>,
  clock: IntentClock,
  intentId: string,
): Promise<{ personId: string; needId: string; intentId: string }> {
  const row = await visibleIntents(db, clock).select(['person_id', 'id']).where('intent_id', '=', intentId).executeTakeFirst();
  if (!row) throw noSuchIntent();
  return { personId: row.person_id, needId: row.id, intentId: row.intent_id };
}
