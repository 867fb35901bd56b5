import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { ValidateFunction } from 'ajv';
import { sql, type Kysely } from 'kysely';
import type { Database, NeedRow } from '../db/schema.js';
import { ProblemError, notFound } from '../errors.js';
import { assertValid } from '../validation.js';
import { decodeTimeCursor, encodeTimeCursor, olderThan } from './cursors.js';
import { recordEvent } from './events.js';
import { createOnce } from './idempotency.js';
import { applyMergePatch } from './merge-patch.js';

export type NeedStatus = 'open' | 'fulfilled' | 'withdrawn' | 'expired';
type StoredStatus = NeedRow['status'];

/** What the person writes; `status` and the bookkeeping live in columns beside it. */
export interface NeedInput {
  title: string;
  category: string;
  description?: string;
  quantity?: number;
  budget?: { min?: number; max?: number; currency: string };
  location?: Record<string, string>;
  wantedBy?: string;
  visibility?: 'subscribers' | 'public';
}

export interface NeedView extends NeedInput {
  id: string;
  status: NeedStatus;
  visibility: 'subscribers' | 'public';
  version: number;
  createdAt: string;
  updatedAt: string;
}

const todayUtc = () => new Date().toISOString().slice(0, 10);

/** An open need whose wanted-by date has passed reads as expired; nothing has to sweep it. */
export function effectiveStatus(status: StoredStatus, wantedBy: string | null, today = todayUtc()): NeedStatus {
  return status === 'open' && wantedBy !== null && wantedBy < today ? 'expired' : status;
}

export function needView(row: NeedRow, today = todayUtc()): NeedView {
  const document = row.document as unknown as NeedInput;
  return {
    id: row.id,
    ...document,
    status: effectiveStatus(row.status, row.wanted_by, today),
    visibility: row.visibility,
    version: row.version,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

function checkBudget(input: NeedInput): void {
  const { budget } = input;
  if (budget?.min !== undefined && budget.max !== undefined && budget.min > budget.max) {
    throw new ProblemError('validation', 'The budget minimum is above its maximum.', {
      errors: [{ in: 'body', pointer: '/budget/min', message: 'must not be greater than budget.max' }],
    });
  }
}

function columns(input: NeedInput) {
  const { visibility = 'subscribers', ...rest } = input;
  return {
    document: JSON.stringify({ ...rest, visibility }),
    visibility,
    category: input.category,
    wanted_by: input.wantedBy ?? null,
  };
}

/**
 * A new need. Under an Idempotency-Key a retry answers the need the first attempt made, as it is
 * now (`replayed`), and adds nothing; the same key with another body is refused. A need deleted
 * since no longer holds its key.
 */
export async function createNeed(
  db: Kysely<Database>,
  personId: string,
  input: NeedInput,
  idempotencyKey?: string,
): Promise<{ need: NeedView; replayed: boolean }> {
  checkBudget(input);
  const { value, replayed } = await createOnce(idempotencyKey, input, {
    what: 'need',
    find: async (key) => {
      const row = await db.selectFrom('needs').selectAll().where('person_id', '=', personId).where('idempotency_key', '=', key).executeTakeFirst();
      return row && { digest: row.request_digest, value: needView(row) };
    },
    create: (digest) => {
      const now = new Date();
      return db.transaction().execute(async (trx) => {
        const row = await trx
          .insertInto('needs')
          .values({
            person_id: personId,
            id: randomUUID(),
            status: 'open',
            version: 1,
            created_at: now,
            updated_at: now,
            ...columns(input),
            idempotency_key: idempotencyKey ?? null,
            request_digest: idempotencyKey === undefined ? null : digest,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        const view = needView(row);
        await recordEvent(trx, { personId, kind: 'need.created', subject: row.id, version: 1, at: now, data: { need: view } });
        return view;
      });
    },
  });
  return { need: value, replayed };
}

export async function getNeed(db: Kysely<Database>, personId: string, needId: string): Promise<NeedView> {
  const row = await db.selectFrom('needs').selectAll().where('person_id', '=', personId).where('id', '=', needId).executeTakeFirst();
  if (!row) throw notFound('No need with this id.');
  return needView(row);
}

export async function listNeeds(
  db: Kysely<Database>,
  personId: string,
  options: { limit: number; cursor?: string | undefined; status?: NeedStatus | undefined },
): Promise<{ items: NeedView[]; next: string | null }> {
  const today = todayUtc();
  let query = db.selectFrom('needs').selectAll().where('person_id', '=', personId);
  if (options.cursor) {
    query = query.where(olderThan('created_at', 'id', decodeTimeCursor(options.cursor)));
  }
  if (options.status === 'expired') {
    query = query.where('status', '=', 'open').where('wanted_by', '<', today);
  } else if (options.status === 'open') {
    query = query.where('status', '=', 'open').where((eb) => eb.or([eb('wanted_by', 'is', null), eb('wanted_by', '>=', today)]));
  } else if (options.status) {
    query = query.where('status', '=', options.status);
  }
  const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(options.limit + 1).execute();
  const page = rows.slice(0, options.limit);
  const last = page.at(-1);
  return {
    items: page.map((row) => needView(row, today)),
    next: rows.length > options.limit && last ? encodeTimeCursor(last.created_at, last.id) : null,
  };
}

export async function patchNeed(
  db: Kysely<Database>,
  personId: string,
  needId: string,
  patch: Record<string, unknown>,
  validateInput: ValidateFunction,
): Promise<NeedView> {
  const { status, ...fields } = patch as { status?: StoredStatus } & Record<string, unknown>;
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('needs')
      .selectAll()
      .where('person_id', '=', personId)
      .where('id', '=', needId)
      .forUpdate()
      .executeTakeFirst();
    if (!row) throw notFound('No need with this id.');
    const next = applyMergePatch(row.document, fields);
    assertValid<NeedInput>(validateInput, next, 'body', 'The patched need would not be valid.');
    checkBudget(next);
    const nextStatus = status ?? row.status;
    if (isDeepStrictEqual(next, row.document) && nextStatus === row.status) return needView(row);
    const now = new Date();
    const updated = await trx
      .updateTable('needs')
      .set({ ...columns(next), status: nextStatus, version: sql<number>`version + 1`, updated_at: now })
      .where('person_id', '=', personId)
      .where('id', '=', needId)
      .returningAll()
      .executeTakeFirstOrThrow();
    const view = needView(updated);
    // The stored id, not the URL's spelling of it (UUIDs are case-insensitive on input).
    await recordEvent(trx, { personId, kind: 'need.updated', subject: updated.id, version: updated.version, at: now, data: { need: view } });
    return view;
  });
}

export async function deleteNeed(db: Kysely<Database>, personId: string, needId: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const row = await trx.deleteFrom('needs').where('person_id', '=', personId).where('id', '=', needId).returning(['id', 'version', 'category']).executeTakeFirst();
    if (!row) throw notFound('No need with this id.');
    // The category lets a vendor's feed and webhooks tell whether the deletion is theirs to hear of.
    await recordEvent(trx, { personId, kind: 'need.deleted', subject: row.id, version: row.version + 1, at: new Date(), data: { category: row.category } });
  });
}
