import { sql, type Kysely } from 'kysely';

/**
 * Push: webhook registrations, the transactional outbox they are fed from, the deletions vendors
 * are asked to acknowledge, and tombstones of erased people's subscriptions.
 *
 * None of these tables references people: an erasure deletes every person-owned row, but the
 * vendors must still be told of it, and must still be able to say they complied. So these rows
 * hold ids only (subscription, vendor, a person id that no longer names anyone), never personal data.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('webhooks')
    .addColumn('subscription_id', 'uuid', (c) => c.primaryKey())
    .addColumn('vendor_id', 'uuid', (c) => c.notNull().references('vendors.id').onDelete('cascade'))
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('secret', 'text', (c) => c.notNull())
    // Each outbox row of this webhook takes the next number; writers bump it under the row lock,
    // so numbers follow commit order within a subscription.
    .addColumn('last_seq', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_attempt_at', 'timestamptz')
    .addColumn('last_delivered_at', 'timestamptz')
    .addColumn('last_error', 'text')
    // Which dispatcher delivers this subscription's events now, and until when (a crashed
    // holder's lease runs out).
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('webhooks_vendor_idx').on('webhooks').column('vendor_id').execute();

  // Only undelivered messages: a row is deleted once delivered (or skipped), so the table stays small.
  await db.schema
    .createTable('webhook_outbox')
    .addColumn('subscription_id', 'uuid', (c) => c.notNull().references('webhooks.subscription_id').onDelete('cascade'))
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('message_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    // Profile and need messages point at the person's event; their content is built at delivery.
    .addColumn('person_id', 'uuid')
    .addColumn('event_id', 'bigint')
    // Other messages carry their (non-personal) data: grant paths, statuses, acknowledgement requests.
    .addColumn('data', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('webhook_outbox_pkey', ['subscription_id', 'seq'])
    .execute();

  await db.schema
    .createTable('acknowledgements')
    .addColumn('subscription_id', 'uuid', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('vendor_id', 'uuid', (c) => c.notNull().references('vendors.id').onDelete('cascade'))
    .addColumn('person_id', 'uuid', (c) => c.notNull())
    .addColumn('fields', 'jsonb', (c) => c.notNull())
    .addColumn('message_id', 'text')
    // Due PROFFER_ACKNOWLEDGEMENT_DEADLINE after it was requested (the deadline in force).
    .addColumn('requested_at', 'timestamptz', (c) => c.notNull())
    .addColumn('acknowledged_at', 'timestamptz')
    .addColumn('overdue_at', 'timestamptz')
    .addPrimaryKeyConstraint('acknowledgements_pkey', ['subscription_id', 'kind'])
    .execute();
  await sql`create index acknowledgements_due_idx on acknowledgements (requested_at) where acknowledged_at is null and overdue_at is null`.execute(db);
  await db.schema.createIndex('acknowledgements_message_idx').on('acknowledgements').column('message_id').execute();

  await db.schema
    .createTable('erased_subscriptions')
    .addColumn('subscription_id', 'uuid', (c) => c.primaryKey())
    .addColumn('vendor_id', 'uuid', (c) => c.notNull().references('vendors.id').onDelete('cascade'))
    .addColumn('erased_at', 'timestamptz', (c) => c.notNull())
    .execute();

  // The periodic sweep finds grants past their expiry without reading every subscription.
  await sql`create index subscriptions_expiry_idx on subscriptions (expires_at) where status = 'active' and expires_at is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index subscriptions_expiry_idx`.execute(db);
  await db.schema.dropTable('erased_subscriptions').execute();
  await db.schema.dropTable('acknowledgements').execute();
  await db.schema.dropTable('webhook_outbox').execute();
  await db.schema.dropTable('webhooks').execute();
}
