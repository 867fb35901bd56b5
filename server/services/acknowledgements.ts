import { sql, type Kysely, type Transaction } from 'kysely';
import type { AcknowledgementKind, Database } from '../db/schema.js';
import { ProblemError, notFound } from '../errors.js';
import type { components } from '../generated/openapi.js';

/**
 * Deletions a vendor is asked to confirm: after a revocation of an active grant (`revocation`) and
 * after the person's erasure (`erasure`). A request is due a fixed time after it was made
 * (PROFFER_ACKNOWLEDGEMENT_DEADLINE); the confirmation, or its absence past the due date, is
 * written to the person's access log (`deletion-acknowledged`, `deletion-overdue`). After an
 * erasure there is no one to show it to: it is recorded, and shown to no one.
 */

export interface AcknowledgementSettings {
  publicUrl: string;
  deadlineSeconds: number;
}

export type AcknowledgementView = components['schemas']['Acknowledgement'];

export const acknowledgementUrl = (publicUrl: string, subscriptionId: string) => `${publicUrl}/v1/subscriptions/${subscriptionId}/acknowledgements`;

const dueBy = (requestedAt: Date, settings: AcknowledgementSettings) => new Date(requestedAt.getTime() + settings.deadlineSeconds * 1000);

type Row = {
  subscription_id: string;
  kind: AcknowledgementKind;
  message_id: string | null;
  fields: string[];
  requested_at: Date;
  acknowledged_at: Date | null;
  overdue_at: Date | null;
};

export function acknowledgementView(row: Row, settings: AcknowledgementSettings): AcknowledgementView {
  const due = dueBy(row.requested_at, settings);
  return {
    subscription: row.subscription_id,
    kind: row.kind,
    webhookId: row.message_id,
    fields: row.fields,
    url: acknowledgementUrl(settings.publicUrl, row.subscription_id),
    requestedAt: row.requested_at.toISOString(),
    dueBy: due.toISOString(),
    acknowledgedAt: row.acknowledged_at?.toISOString() ?? null,
    overdue: row.overdue_at !== null || (row.acknowledged_at === null && due <= new Date()) || (row.acknowledged_at !== null && row.acknowledged_at > due),
  };
}

const COLUMNS = ['subscription_id', 'kind', 'message_id', 'fields', 'requested_at', 'acknowledged_at', 'overdue_at'] as const;

/** In the transaction of the revocation or erasure: the vendor owes a confirmation. */
export async function requestAcknowledgement(
  trx: Transaction<Database>,
  request: { subscriptionId: string; kind: AcknowledgementKind; vendorId: string; personId: string; fields: string[]; messageId: string | null; at: Date },
): Promise<void> {
  await trx
    .insertInto('acknowledgements')
    .values({
      subscription_id: request.subscriptionId,
      kind: request.kind,
      vendor_id: request.vendorId,
      person_id: request.personId,
      fields: JSON.stringify(request.fields),
      message_id: request.messageId,
      requested_at: request.at,
    })
    .onConflict((oc) => oc.columns(['subscription_id', 'kind']).doNothing())
    .execute();
}

/** The acknowledgement a message asks for, to put in its payload. */
export async function acknowledgementOf(db: Kysely<Database>, subscriptionId: string, kind: AcknowledgementKind, settings: AcknowledgementSettings) {
  const row = await db.selectFrom('acknowledgements').select(COLUMNS).where('subscription_id', '=', subscriptionId).where('kind', '=', kind).executeTakeFirst();
  return row && acknowledgementView(row, settings);
}

/** What this vendor is asked to acknowledge under this subscription (none is an empty list). */
export async function listAcknowledgements(db: Kysely<Database>, vendorId: string, subscriptionId: string, settings: AcknowledgementSettings) {
  const rows = await db
    .selectFrom('acknowledgements')
    .select(COLUMNS)
    .where('subscription_id', '=', subscriptionId)
    .where('vendor_id', '=', vendorId)
    .orderBy('requested_at')
    .execute();
  if (rows.length === 0) {
    const known =
      (await db.selectFrom('subscriptions').select('id').where('id', '=', subscriptionId).where('vendor_id', '=', vendorId).executeTakeFirst()) ??
      (await db.selectFrom('erased_subscriptions').select('subscription_id as id').where('subscription_id', '=', subscriptionId).where('vendor_id', '=', vendorId).executeTakeFirst());
    if (!known) throw notFound('No subscription with this id.');
  }
  return { items: rows.map((row) => acknowledgementView(row, settings)) };
}

/**
 * The vendor confirms it deleted what it held. Naming the message (`webhookId`) or the kind is
 * enough; naming both, they must agree. A second confirmation answers the first (idempotent).
 */
export async function acknowledge(
  db: Kysely<Database>,
  vendorId: string,
  subscriptionId: string,
  input: { kind?: AcknowledgementKind; webhookId?: string },
  address: string,
  settings: AcknowledgementSettings,
): Promise<{ acknowledgement: AcknowledgementView; created: boolean }> {
  return db.transaction().execute(async (trx) => {
    let query = trx
      .selectFrom('acknowledgements')
      .select([...COLUMNS, 'person_id'])
      .where('subscription_id', '=', subscriptionId)
      .where('vendor_id', '=', vendorId);
    if (input.kind) query = query.where('kind', '=', input.kind);
    if (input.webhookId) query = query.where('message_id', '=', input.webhookId);
    const rows = await query.orderBy('requested_at').forUpdate().execute();
    const row = rows[0];
    if (!row) throw notFound('Nothing to acknowledge under this subscription: no revocation or erasure asked this vendor to delete anything, or not the one named.');
    if (rows.length > 1) {
      throw new ProblemError('validation', 'Both a revocation and an erasure are to be acknowledged here: name the one (kind or webhookId).', {
        errors: [{ in: 'body', pointer: '/kind', message: 'required when more than one acknowledgement is due' }],
      });
    }
    if (row.acknowledged_at) return { acknowledgement: acknowledgementView(row, settings), created: false };
    const now = new Date();
    await trx.updateTable('acknowledgements').set({ acknowledged_at: now }).where('subscription_id', '=', subscriptionId).where('kind', '=', row.kind).execute();
    await logForPerson(trx, { personId: row.person_id, subscriptionId, vendorId, what: 'deletion-acknowledged', fields: row.fields, address, at: now });
    return { acknowledgement: acknowledgementView({ ...row, acknowledged_at: now }, settings), created: true };
  });
}

/** An access-log entry, unless the person has been erased (then there is no one to show it to). */
async function logForPerson(
  trx: Transaction<Database>,
  entry: { personId: string; subscriptionId: string; vendorId: string; what: string; fields: string[]; address: string; at: Date },
): Promise<void> {
  await sql`
    insert into access_log (person_id, subscription_id, vendor_id, what, fields, address, at)
    select id, ${entry.subscriptionId}, ${entry.vendorId}, ${entry.what}, ${JSON.stringify(entry.fields)}::jsonb, ${entry.address}, ${entry.at}
    from people where id = ${entry.personId}`.execute(trx);
}

/**
 * Marks every request past its due date overdue, once, and logs it for the person (an erased
 * person has no log). Safe with several processes: the update's row locks let one of them win.
 */
export async function markOverdue(db: Kysely<Database>, settings: AcknowledgementSettings): Promise<number> {
  const now = new Date();
  const dueBefore = new Date(now.getTime() - settings.deadlineSeconds * 1000);
  const { rows } = await sql<{ n: string }>`
    with overdue as (
      update acknowledgements set overdue_at = ${now}
      where acknowledged_at is null and overdue_at is null and requested_at <= ${dueBefore}
      returning person_id, subscription_id, vendor_id, fields
    ), logged as (
      insert into access_log (person_id, subscription_id, vendor_id, what, fields, address, at)
      select o.person_id, o.subscription_id, o.vendor_id, 'deletion-overdue', o.fields, '', ${now}
      from overdue o where exists (select 1 from people p where p.id = o.person_id)
    )
    select count(*)::text as n from overdue`.execute(db);
  return Number(rows[0]?.n ?? 0);
}

/**
 * For a subscription id that is no longer found: when the person behind it erased themselves,
 * the 410 problem that tells the vendor so (and where to confirm deletion); else undefined.
 */
export async function erasedProblem(db: Kysely<Database>, vendorId: string, subscriptionId: string, settings?: AcknowledgementSettings): Promise<ProblemError | undefined> {
  const erased = await db
    .selectFrom('erased_subscriptions as e')
    .leftJoin('acknowledgements as a', (join) => join.onRef('a.subscription_id', '=', 'e.subscription_id').on('a.kind', '=', 'erasure'))
    .select(['e.erased_at', 'a.subscription_id', 'a.kind', 'a.message_id', 'a.fields', 'a.requested_at', 'a.acknowledged_at', 'a.overdue_at'])
    .where('e.subscription_id', '=', subscriptionId)
    .where('e.vendor_id', '=', vendorId)
    .executeTakeFirst();
  if (!erased) return undefined;
  const acknowledgement =
    settings && erased.subscription_id && erased.requested_at && erased.fields
      ? acknowledgementView(
          {
            subscription_id: erased.subscription_id,
            kind: 'erasure',
            message_id: erased.message_id,
            fields: erased.fields,
            requested_at: erased.requested_at,
            acknowledged_at: erased.acknowledged_at,
            overdue_at: erased.overdue_at,
          },
          settings,
        )
      : undefined;
  return new ProblemError(
    'person-erased',
    acknowledgement
      ? `The person erased their account on ${erased.erased_at.toISOString()}. Delete what you hold of them and confirm at ${acknowledgement.url} by ${acknowledgement.dueBy}.`
      : `The person erased their account on ${erased.erased_at.toISOString()}.`,
    { extensions: { erasedAt: erased.erased_at.toISOString(), ...(acknowledgement ? { acknowledgement } : {}) } },
  );
}
