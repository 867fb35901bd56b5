import { sql, type Kysely } from 'kysely';

/**
 * A person's client may send POST /v1/me/needs again when it never saw the answer (a dropped
 * connection, a timeout): under the same Idempotency-Key the retry answers the need the first
 * attempt made instead of adding a second. The digest of the body tells a retry from a different
 * need sent under a reused key.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table needs add column idempotency_key text`.execute(db);
  await sql`alter table needs add column request_digest text`.execute(db);
  await sql`create unique index needs_idempotency_key on needs (person_id, idempotency_key) where idempotency_key is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index needs_idempotency_key`.execute(db);
  await sql`alter table needs drop column request_digest`.execute(db);
  await sql`alter table needs drop column idempotency_key`.execute(db);
}
