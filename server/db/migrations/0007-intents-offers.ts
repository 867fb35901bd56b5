import { sql, type Kysely } from 'kysely';

/**
 * Public intents and offers.
 *
 * A need that is public and open is *listed*: it carries `listed_at`, the minute it became so
 * (coarse on purpose: nothing finer ever leaves the server), and an `intent_id` of its own, random
 * and unrelated to the need's id, its person or its other needs. Triggers keep `listed_at` right
 * whatever changes a need (the needs service, an erasure's cascade, a later migration), and bump a
 * one-row version of the listed set in the same transaction, so a reader can tell in one
 * primary-key lookup whether what it rendered is still current.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // A volatile default is evaluated per row: every existing need gets its own random id.
  await sql`alter table needs add column intent_id uuid not null default gen_random_uuid()`.execute(db);
  await sql`alter table needs add column listed_at timestamptz`.execute(db);
  await sql`
    update needs set listed_at = date_trunc('minute', updated_at at time zone 'UTC') at time zone 'UTC'
    where visibility = 'public' and status = 'open'
  `.execute(db);
  await sql`create unique index needs_intent_id_key on needs (intent_id)`.execute(db);
  // The public feed's order (newest listing minute first, random id within a minute), listed needs only.
  await sql`create index needs_listed_idx on needs (listed_at desc, intent_id desc) where listed_at is not null`.execute(db);

  await db.schema
    .createTable('public_intents_state')
    .addColumn('id', 'integer', (c) => c.primaryKey().check(sql`id = 1`))
    .addColumn('version', 'bigint', (c) => c.notNull())
    .addColumn('changed_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await sql`insert into public_intents_state (id, version, changed_at) values (1, 1, now())`.execute(db);

  await sql`
    create function needs_listing() returns trigger language plpgsql as $$
    begin
      if new.visibility = 'public' and new.status = 'open' then
        if tg_op = 'INSERT' or old.listed_at is null then
          new.listed_at := date_trunc('minute', new.updated_at at time zone 'UTC') at time zone 'UTC';
        end if;
      else
        new.listed_at := null;
      end if;
      return new;
    end $$
  `.execute(db);
  await sql`create trigger needs_listing before insert or update on needs for each row execute function needs_listing()`.execute(db);

  // OLD is null on INSERT and NEW on DELETE (PostgreSQL 11+), so one condition serves all three.
  // changed_at never goes back, and is never before the change's own time as the server wrote it
  // (updated_at, the clock publication follows), whatever the database's clock says.
  await sql`
    create function public_intents_changed() returns trigger language plpgsql as $$
    begin
      if (tg_op <> 'INSERT' and old.listed_at is not null) or (tg_op <> 'DELETE' and new.listed_at is not null) then
        update public_intents_state
        set version = version + 1,
            changed_at = greatest(changed_at, clock_timestamp(), coalesce(new.updated_at, '-infinity'::timestamptz))
        where id = 1;
      end if;
      return null;
    end $$
  `.execute(db);
  await sql`create trigger needs_public_changed after insert or update or delete on needs for each row execute function public_intents_changed()`.execute(db);

  await db.schema
    .createTable('offers')
    .addColumn('person_id', 'uuid', (c) => c.notNull().references('people.id').onDelete('cascade'))
    .addColumn('id', 'uuid', (c) => c.notNull())
    .addColumn('need_id', 'uuid', (c) => c.notNull())
    .addColumn('vendor_id', 'uuid', (c) => c.notNull().references('vendors.id').onDelete('cascade'))
    // The intent the vendor answered, as the vendor knows it (it never learns the need's id).
    .addColumn('intent_id', 'uuid', (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('price', 'jsonb')
    .addColumn('valid_until', 'timestamptz')
    .addColumn('request', 'jsonb', (c) => c.notNull())
    .addColumn('request_digest', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('status_reason', 'text')
    .addColumn('subscription_id', 'uuid')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addColumn('decided_at', 'timestamptz')
    .addPrimaryKeyConstraint('offers_pkey', ['person_id', 'id'])
    // An offer lives as long as its need.
    .addForeignKeyConstraint('offers_need_fkey', ['person_id', 'need_id'], 'needs', ['person_id', 'id'], (c) => c.onDelete('cascade'))
    .execute();
  // Vendors address their offers by id alone.
  await sql`create unique index offers_id_key on offers (id)`.execute(db);
  await sql`create index offers_need_idx on offers (person_id, need_id, created_at desc, id desc)`.execute(db);
  await sql`create index offers_vendor_idx on offers (vendor_id, created_at desc, id desc)`.execute(db);
  // One open offer per vendor and need: a vendor revises by withdrawing, it cannot pile offers up.
  await sql`create unique index offers_one_open_key on offers (person_id, need_id, vendor_id) where status = 'open'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('offers').execute();
  await sql`drop trigger needs_public_changed on needs`.execute(db);
  await sql`drop trigger needs_listing on needs`.execute(db);
  await sql`drop function public_intents_changed()`.execute(db);
  await sql`drop function needs_listing()`.execute(db);
  await db.schema.dropTable('public_intents_state').execute();
  await sql`drop index needs_listed_idx`.execute(db);
  await sql`drop index needs_intent_id_key`.execute(db);
  await sql`alter table needs drop column listed_at`.execute(db);
  await sql`alter table needs drop column intent_id`.execute(db);
}
