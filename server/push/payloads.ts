import type { Kysely } from 'kysely';
import type { AcknowledgementKind, Database, EventRow } from '../db/schema.js';
import { grantedEvent } from '../feeds/granted-events.js';
import { acknowledgementOf, type AcknowledgementSettings } from '../services/acknowledgements.js';

/** A message as the outbox holds it. */
export interface OutboxMessage {
  subscription_id: string;
  seq: string;
  message_id: string;
  type: string;
  person_id: string | null;
  event_id: string | null;
  data: Record<string, unknown> | null;
  created_at: Date;
}

/** The body of a delivery, per Standard Webhooks: `{type, timestamp, data}` (schemas/webhook.json#/$defs/message). */
export interface WebhookPayload {
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}

/** Grant messages a later change makes moot: once the grant is no longer active, the message that follows it says so. */
const SUPERSEDED_UNLESS_ACTIVE = new Set(['subscription.approved', 'subscription.narrowed']);

/**
 * What the vendor receives for this message, built now; null when it must not be sent (it is then
 * marked done). A profile or need event is redacted to the grant as it stands now, and is not
 * sent at all when the grant is no longer active or covers nothing of it: after a revocation,
 * nothing but the revocation message is delivered.
 */
export async function buildPayload(db: Kysely<Database>, message: OutboxMessage, settings: AcknowledgementSettings): Promise<WebhookPayload | null> {
  const subscription = message.subscription_id;
  if (message.event_id !== null && message.person_id !== null) {
    const row = await db
      .selectFrom('events as e')
      .innerJoin('subscriptions as s', 's.person_id', 'e.person_id')
      .select(['e.person_id', 'e.id', 'e.kind', 'e.subject', 'e.version', 'e.data', 'e.created_at', 's.status', 's.granted_fields', 's.granted_categories', 's.expires_at'])
      .where('e.person_id', '=', message.person_id)
      .where('e.id', '=', message.event_id)
      .where('s.id', '=', subscription)
      .executeTakeFirst();
    // Gone (the person was erased) or no longer active: nothing to tell.
    if (!row || row.status !== 'active' || (row.expires_at !== null && row.expires_at <= new Date())) return null;
    const event: EventRow = { person_id: row.person_id, id: row.id, kind: row.kind, subject: row.subject, version: row.version, data: row.data, created_at: row.created_at };
    const granted = grantedEvent(event, { fields: row.granted_fields, categories: row.granted_categories });
    if (!granted) return null;
    const { kind, eventId, at, ...content } = granted;
    return { type: kind, timestamp: at.toISOString(), data: { subscription, event: eventId, ...content } };
  }

  if (SUPERSEDED_UNLESS_ACTIVE.has(message.type)) {
    const current = await db.selectFrom('subscriptions').select(['status', 'expires_at']).where('id', '=', subscription).executeTakeFirst();
    if (!current || current.status !== 'active' || (current.expires_at !== null && current.expires_at <= new Date())) return null;
  }
  const { acknowledgement: kind, ...stored } = message.data ?? {};
  const acknowledgement = typeof kind === 'string' ? await acknowledgementOf(db, subscription, kind as AcknowledgementKind, settings) : undefined;
  return {
    type: message.type,
    timestamp: message.created_at.toISOString(),
    data: { subscription, ...stored, ...(acknowledgement ? { acknowledgement } : {}) },
  };
}
