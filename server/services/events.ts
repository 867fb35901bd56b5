import type { Kysely, Transaction } from 'kysely';
import type { Database, EventRow } from '../db/schema.js';
import { enqueueEventMessages } from './webhooks.js';

export type EventKind = EventRow['kind'];

export interface EventView {
  id: string;
  kind: EventKind;
  subject: string;
  version: number;
  createdAt: string;
  changed?: string[];
  profile?: Record<string, unknown>;
  need?: Record<string, unknown>;
}

/**
 * Written in the same transaction as the change it records, so neither exists without the other;
 * so is its webhook message to every vendor with an active grant and a webhook (the outbox).
 */
export async function recordEvent(
  trx: Transaction<Database>,
  event: { personId: string; kind: EventKind; subject: string; version: number; at: Date; data: Record<string, unknown> },
): Promise<void> {
  const { id } = await trx
    .insertInto('events')
    .values({
      person_id: event.personId,
      kind: event.kind,
      subject: event.subject,
      version: event.version,
      data: JSON.stringify(event.data),
      created_at: event.at,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  await enqueueEventMessages(trx, { personId: event.personId, eventId: id, kind: event.kind, at: event.at });
}

export function eventView(row: EventRow): EventView {
  return { id: row.id, kind: row.kind, subject: row.subject, version: row.version, createdAt: row.created_at.toISOString(), ...row.data };
}

/** The person's events, newest first; `before` is an event id from a previous page. */
export async function listEvents(
  db: Kysely<Database>,
  personId: string,
  options: { limit: number; before?: string | undefined },
): Promise<EventRow[]> {
  let query = db.selectFrom('events').selectAll().where('person_id', '=', personId);
  if (options.before !== undefined) query = query.where('id', '<', options.before);
  return query.orderBy('id', 'desc').limit(options.limit).execute();
}
