import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('subscriptions')
    .addColumn('person_id', 'uuid', (c) => c.notNull().references('people.id').onDelete('cascade'))
    .addColumn('id', 'uuid', (c) => c.notNull())
    .addColumn('vendor_id', 'uuid', (c) => c.notNull().references('vendors.id').onDelete('cascade'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('status_reason', 'text')
    .addColumn('request', 'jsonb', (c) => c.notNull())
    .addColumn('decision', 'jsonb', (c) => c.notNull())
    // The grant as it stands now: what every read is checked against.
    .addColumn('granted_fields', 'jsonb', (c) => c.notNull())
    .addColumn('granted_categories', 'jsonb', (c) => c.notNull())
    .addColumn('duties', 'jsonb', (c) => c.notNull())
    .addColumn('terms_version', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz')
    .addColumn('reads_day', 'date')
    .addColumn('reads_on_day', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('idempotency_key', 'text')
    .addColumn('request_digest', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addColumn('decided_at', 'timestamptz')
    .addColumn('ended_at', 'timestamptz')
    .addPrimaryKeyConstraint('subscriptions_pkey', ['person_id', 'id'])
    .execute();
  // Vendors address their subscriptions by id alone.
  await db.schema.createIndex('subscriptions_id_key').unique().on('subscriptions').column('id').execute();
  await db.schema.createIndex('subscriptions_vendor_idx').on('subscriptions').columns(['vendor_id', 'created_at']).execute();
  await sql`create unique index subscriptions_idempotency_key on subscriptions (vendor_id, idempotency_key) where idempotency_key is not null`.execute(db);

  await db.schema
    .createTable('access_log')
    .addColumn('person_id', 'uuid', (c) => c.notNull().references('people.id').onDelete('cascade'))
    .addColumn('id', 'bigint', (c) => c.notNull().generatedAlwaysAsIdentity())
    .addColumn('subscription_id', 'uuid', (c) => c.notNull())
    .addColumn('vendor_id', 'uuid', (c) => c.notNull())
    .addColumn('what', 'text', (c) => c.notNull())
    .addColumn('fields', 'jsonb', (c) => c.notNull())
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('access_log_pkey', ['person_id', 'id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('access_log').execute();
  await db.schema.dropTable('subscriptions').execute();
}
