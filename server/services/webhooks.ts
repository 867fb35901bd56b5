import { randomBytes, randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import { ProblemError, notFound } from '../errors.js';
import { TargetRefused, vetTarget, type TargetPolicy } from '../push/targets.js';
import { erasedProblem, requestAcknowledgement, type AcknowledgementSettings } from './acknowledgements.js';
import type { components } from '../generated/openapi.js';

/**
 * Webhook registrations (one per subscription, the vendor's) and the outbox that feeds them.
 *
 * Every message is written to `webhook_outbox` in the transaction of the change it tells of, so
 * a change and its message exist together or not at all; the dispatcher (server/push/) delivers
 * them later. Within a subscription, messages are numbered under the webhook row's lock, so their
 * numbers follow the order the changes committed in.
 */

/** The generated contract type: the view cannot drift from schemas/webhook.json. */
export type WebhookView = components['schemas']['Webhook'];

export const newMessageId = () => `msg_${randomUUID().replaceAll('-', '')}`;
const SECRET_PREFIX = 'whsec_';

/** A secret in the Standard Webhooks form: `whsec_` and the base64 of 24 to 64 random bytes. */
function checkSecret(secret: string): void {
  const bytes = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
  if (!secret.startsWith(SECRET_PREFIX) || bytes.length < 24 || bytes.length > 64 || bytes.toString('base64') !== secret.slice(SECRET_PREFIX.length)) {
    throw new ProblemError('validation', 'The secret must be "whsec_" followed by the base64 of 24 to 64 random bytes.', {
      errors: [{ in: 'body', pointer: '/secret', message: 'must be whsec_ and the base64 of 24 to 64 bytes' }],
    });
  }
}

async function view(db: Kysely<Database>, vendorId: string, subscriptionId: string, secret?: string): Promise<WebhookView | undefined> {
  const row = await db
    .selectFrom('webhooks as w')
    .select((eb) => [
      'w.subscription_id', 'w.url', 'w.created_at', 'w.updated_at', 'w.attempts', 'w.next_attempt_at', 'w.last_attempt_at',
      'w.last_delivered_at', 'w.last_error',
      eb.selectFrom('webhook_outbox as o').select((e) => e.fn.countAll<string>().as('n')).whereRef('o.subscription_id', '=', 'w.subscription_id').as('pending'),
    ])
    .where('w.subscription_id', '=', subscriptionId)
    .where('w.vendor_id', '=', vendorId)
    .executeTakeFirst();
  if (!row) return undefined;
  const pending = Number(row.pending ?? 0);
  return {
    subscription: row.subscription_id,
    url: row.url,
    ...(secret ? { secret } : {}),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    delivery: {
      pending,
      attempts: row.attempts,
      nextAttemptAt: pending > 0 ? row.next_attempt_at.toISOString() : null,
      lastAttemptAt: row.last_attempt_at?.toISOString() ?? null,
      lastDeliveredAt: row.last_delivered_at?.toISOString() ?? null,
      lastError: row.last_error,
    },
  };
}

/**
 * Registers (201) or replaces (200) the subscription's webhook. Only a live subscription (pending
 * or active) can have one. Without a secret, a new webhook gets a generated one, shown in this
 * answer only; a replaced webhook keeps its secret. A new URL starts afresh: its retry delay is
 * reset, and messages still waiting go to it.
 */
export async function putWebhook(
  db: Kysely<Database>,
  vendorId: string,
  subscriptionId: string,
  input: { url: string; secret?: string },
  policy: TargetPolicy,
  settings: AcknowledgementSettings,
): Promise<{ webhook: WebhookView; created: boolean }> {
  const subscription = await db
    .selectFrom('subscriptions')
    .select(['id', 'status', 'expires_at'])
    .where('id', '=', subscriptionId)
    .where('vendor_id', '=', vendorId)
    .executeTakeFirst();
  if (!subscription) throw (await erasedProblem(db, vendorId, subscriptionId, settings)) ?? notFound('No subscription with this id.');
  const expired = subscription.status === 'active' && subscription.expires_at !== null && subscription.expires_at <= new Date();
  const status = expired ? 'expired' : subscription.status;
  if (status !== 'active' && status !== 'pending') {
    throw new ProblemError('invalid-state', `A ${status} subscription has nothing more to deliver; a webhook needs a pending or active one.`, {
      extensions: { subscriptionStatus: status },
    });
  }
  if (input.secret !== undefined) checkSecret(input.secret);
  try {
    await vetTarget(input.url, policy);
  } catch (error) {
    if (error instanceof TargetRefused) throw new ProblemError('webhook-target-refused', error.message, { extensions: { reason: error.reason } });
    throw error;
  }
  const generated = input.secret === undefined ? `${SECRET_PREFIX}${randomBytes(32).toString('base64')}` : undefined;
  const now = new Date();
  const row = await db
    .insertInto('webhooks')
    .values({
      subscription_id: subscription.id,
      vendor_id: vendorId,
      url: input.url,
      secret: input.secret ?? (generated as string),
      next_attempt_at: now,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) =>
      oc.column('subscription_id').doUpdateSet({
        url: input.url,
        ...(input.secret !== undefined ? { secret: input.secret } : {}),
        attempts: 0,
        next_attempt_at: now,
        updated_at: now,
      }),
    )
    // xmax is 0 for a row this statement inserted, not for one it updated.
    .returning(sql<boolean>`(xmax = 0)`.as('inserted'))
    .executeTakeFirstOrThrow();
  const created = row.inserted;
  const webhook = await view(db, vendorId, subscription.id, created ? generated : undefined);
  return { webhook: webhook as WebhookView, created };
}

export async function getWebhook(db: Kysely<Database>, vendorId: string, subscriptionId: string): Promise<WebhookView> {
  const webhook = await view(db, vendorId, subscriptionId);
  if (!webhook) throw notFound('This subscription has no webhook.');
  return webhook;
}

/** Removes the webhook; messages not yet delivered are dropped with it (by cascade). */
export async function deleteWebhook(db: Kysely<Database>, vendorId: string, subscriptionId: string): Promise<void> {
  const result = await db.deleteFrom('webhooks').where('subscription_id', '=', subscriptionId).where('vendor_id', '=', vendorId).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw notFound('This subscription has no webhook.');
}

// ---------------------------------------------------------------------------------------------
// The outbox writers: called inside the transaction of the change.

/**
 * A profile or need event, for every active subscription of the person that has a webhook. The
 * message only points at the event: what the vendor sees of it is decided at delivery, against
 * the grant as it stands then. The webhook rows are locked in one order, so two changes of one
 * person never deadlock on them.
 */
export async function enqueueEventMessages(
  trx: Transaction<Database>,
  event: { personId: string; eventId: string; kind: string; at: Date },
): Promise<void> {
  await sql`
    with targets as (
      select w.subscription_id from webhooks w
      join subscriptions s on s.id = w.subscription_id
      where s.person_id = ${event.personId} and s.status = 'active' and (s.expires_at is null or s.expires_at > ${event.at})
      order by w.subscription_id
      for update of w
    ), numbered as (
      update webhooks w set last_seq = w.last_seq + 1 from targets t
      where w.subscription_id = t.subscription_id
      returning w.subscription_id, w.last_seq
    )
    insert into webhook_outbox (subscription_id, seq, message_id, type, person_id, event_id, created_at)
    select subscription_id, last_seq, 'msg_' || replace(gen_random_uuid()::text, '-', ''), ${event.kind}, ${event.personId}, ${event.eventId}, ${event.at}
    from numbered`.execute(trx);
}

/** One message for one subscription, if it has a webhook; answers the message's id, or null. */
export async function enqueueMessage(
  trx: Transaction<Database>,
  message: { subscriptionId: string; type: string; data: Record<string, unknown>; at: Date },
): Promise<string | null> {
  const id = newMessageId();
  const { rows } = await sql<{ message_id: string }>`
    with numbered as (
      update webhooks set last_seq = last_seq + 1 where subscription_id = ${message.subscriptionId}
      returning subscription_id, last_seq
    )
    insert into webhook_outbox (subscription_id, seq, message_id, type, data, created_at)
    select subscription_id, last_seq, ${id}, ${message.type}, ${JSON.stringify(message.data)}::jsonb, ${message.at}
    from numbered
    returning message_id`.execute(trx);
  return rows[0]?.message_id ?? null;
}

/** Drops the messages not yet delivered to these subscriptions (an erasure makes them moot). */
export async function dropPendingMessages(trx: Transaction<Database>, subscriptionIds: string[]): Promise<void> {
  if (subscriptionIds.length === 0) return;
  await trx.deleteFrom('webhook_outbox').where('subscription_id', 'in', subscriptionIds).execute();
}

export type GrantChange = 'approved' | 'rejected' | 'narrowed' | 'revoked' | 'expired';

/**
 * In the transaction of a change to a grant: a message to the vendor's webhook (if any) with the
 * grant as it now stands, and, when an active grant was revoked, the request to confirm deletion
 * of what it held (made whether or not there is a webhook: vendors without one learn of it from
 * the subscription's status and its acknowledgements).
 */
export async function notifyGrantChange(
  trx: Transaction<Database>,
  change: { personId: string; subscriptionId: string; change: GrantChange; heldFields?: string[]; at: Date },
): Promise<void> {
  const row = await trx
    .selectFrom('subscriptions')
    .select(['vendor_id', 'status', 'granted_fields', 'granted_categories', 'duties', 'terms_version', 'expires_at'])
    .where('person_id', '=', change.personId)
    .where('id', '=', change.subscriptionId)
    .executeTakeFirstOrThrow();
  const acknowledge = change.change === 'revoked' && change.heldFields !== undefined && change.heldFields.length > 0;
  const messageId = await enqueueMessage(trx, {
    subscriptionId: change.subscriptionId,
    type: `subscription.${change.change}`,
    data: {
      status: row.status,
      grant: {
        fields: row.granted_fields,
        categories: row.granted_categories,
        duties: row.duties,
        termsVersion: row.terms_version,
        expiresAt: row.expires_at?.toISOString() ?? null,
      },
      ...(acknowledge ? { acknowledgement: 'revocation' } : {}),
    },
    at: change.at,
  });
  if (acknowledge) {
    await requestAcknowledgement(trx, {
      subscriptionId: change.subscriptionId,
      kind: 'revocation',
      vendorId: row.vendor_id,
      personId: change.personId,
      fields: change.heldFields as string[],
      messageId,
      at: change.at,
    });
  }
}

/**
 * In the erasure's transaction, before the person's rows go: every subscription is remembered
 * (ids only) so its vendor is told `410 person-erased` rather than a bare 404; messages not yet
 * delivered are dropped (their events are being erased); every vendor holding an active grant is
 * sent `person.erased` and asked to confirm deletion, and a vendor whose request was still
 * pending is sent `person.erased` alone (it never received anything).
 */
export async function tellVendorsOfErasure(
  trx: Transaction<Database>,
  personId: string,
  subscriptions: { id: string; vendor_id: string; status: string; granted_fields: string[]; expires_at: Date | null }[],
  at: Date,
): Promise<void> {
  if (subscriptions.length === 0) return;
  await trx
    .insertInto('erased_subscriptions')
    .values(subscriptions.map((s) => ({ subscription_id: s.id, vendor_id: s.vendor_id, erased_at: at })))
    .onConflict((oc) => oc.column('subscription_id').doNothing())
    .execute();
  await dropPendingMessages(trx, subscriptions.map((s) => s.id));
  for (const s of subscriptions) {
    const active = s.status === 'active' && (s.expires_at === null || s.expires_at > at);
    if (!active && s.status !== 'pending') continue;
    const messageId = await enqueueMessage(trx, { subscriptionId: s.id, type: 'person.erased', data: active ? { acknowledgement: 'erasure' } : {}, at });
    if (active) {
      await requestAcknowledgement(trx, { subscriptionId: s.id, kind: 'erasure', vendorId: s.vendor_id, personId, fields: s.granted_fields, messageId, at });
    }
  }
}
