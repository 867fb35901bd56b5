import { sql, type Kysely } from 'kysely';

/**
 * A grant's version: an integer that every change of what a grant shows or allows moves on
 * (status, scope, duties, expiry), kept by a trigger whatever makes the change. The vendor's
 * feed keys its renders by it, so the hot path reads three small columns instead of the scope
 * itself. Reads that only count (`reads_day`, `reads_on_day`) leave it alone. Row locks order
 * the updates of one grant, so two changes never share a version.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table subscriptions add column grant_version bigint not null default 1`.execute(db);
  await sql`
    create function subscriptions_grant_version() returns trigger language plpgsql as $$
    begin
      if (new.status, new.granted_fields, new.granted_categories, new.duties, new.expires_at)
         is distinct from (old.status, old.granted_fields, old.granted_categories, old.duties, old.expires_at) then
        new.grant_version := old.grant_version + 1;
      else
        new.grant_version := old.grant_version;
      end if;
      return new;
    end $$
  `.execute(db);
  await sql`
    create trigger subscriptions_grant_version before update on subscriptions
    for each row execute function subscriptions_grant_version()
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop trigger subscriptions_grant_version on subscriptions`.execute(db);
  await sql`drop function subscriptions_grant_version()`.execute(db);
  await sql`alter table subscriptions drop column grant_version`.execute(db);
}
