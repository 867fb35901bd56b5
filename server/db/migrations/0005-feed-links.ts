import type { Kysely } from 'kysely';

/**
 * Capability feed links: an unguessable URL that serves one subscription's feed without a token.
 * Only the SHA-256 digest of the capability is stored, so the table (or a backup of it) cannot be
 * turned back into working URLs; the link is found by that digest.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('feed_links')
    .addColumn('person_id', 'uuid', (c) => c.notNull())
    .addColumn('id', 'uuid', (c) => c.notNull())
    .addColumn('subscription_id', 'uuid', (c) => c.notNull())
    .addColumn('vendor_id', 'uuid', (c) => c.notNull())
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('rotated_at', 'timestamptz')
    .addPrimaryKeyConstraint('feed_links_pkey', ['person_id', 'id'])
    // A link lives and dies with its subscription (and so with the person).
    .addForeignKeyConstraint('feed_links_subscription_fkey', ['person_id', 'subscription_id'], 'subscriptions', ['person_id', 'id'], (fk) =>
      fk.onDelete('cascade'),
    )
    .execute();
  await db.schema.createIndex('feed_links_digest_key').unique().on('feed_links').column('digest').execute();
  await db.schema.createIndex('feed_links_subscription_idx').on('feed_links').columns(['subscription_id', 'created_at']).execute();

}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('feed_links').execute();
}
