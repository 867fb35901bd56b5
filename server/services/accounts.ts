import { randomBytes, randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { DatabaseHandle } from '../db/database.js';
import type { Database, PersonRow } from '../db/schema.js';
import { ProblemError, oauthProblem } from '../errors.js';
import type { components } from '../generated/openapi.js';
import { writeDefaultTerms } from './terms.js';
import { digest, hashSecret, randomToken, verifyAgainstDecoy, verifySecret } from './secrets.js';
import { tellVendorsOfErasure } from './webhooks.js';

/** Handles that would impersonate the service or collide with paths and roles. */
export const RESERVED_HANDLES = new Set([
  'admin', 'administrator', 'root', 'system', 'support', 'help', 'security', 'abuse', 'postmaster',
  'webmaster', 'hostmaster', 'noreply', 'no-reply', 'proffer', 'api', 'www', 'mail', 'me', 'self',
  'anonymous', 'everyone', 'null', 'undefined', 'vendor', 'vendors', 'people', 'person', 'terms',
  'intents', 'feeds', 'docs', 'openapi', 'status', 'healthz', 'readyz', 'token', 'oauth', 'login',
  'logout', 'signup', 'settings', 'official', 'staff', 'moderator',
]);

export interface AccountSettings {
  kdfCost: number;
  refreshTokenTtlSeconds: number;
}

/** A person as the API shows them (openapi.yaml's Person). */
export type PersonView = components['schemas']['Person'];

export function personView(row: Pick<PersonRow, 'id' | 'handle' | 'display_name' | 'created_at'>): PersonView {
  return {
    id: row.id,
    handle: row.handle,
    ...(row.display_name !== null ? { displayName: row.display_name } : {}),
    createdAt: row.created_at.toISOString(),
  };
}

const isUniqueViolation = (error: unknown) => (error as { code?: string }).code === '23505';

export async function signUp(
  db: Kysely<Database>,
  settings: AccountSettings,
  input: { handle: string; password: string; displayName?: string },
): Promise<PersonView> {
  // The schema already refused anything but lower-case ASCII, so the handle is its own normal form.
  const handle = input.handle;
  if (RESERVED_HANDLES.has(handle)) throw new ProblemError('handle-reserved', `The handle "${handle}" is reserved.`);
  const taken = new ProblemError('handle-taken', `The handle "${handle}" is not available.`);
  const retired = await db.selectFrom('retired_handles').select('handle_digest').where('handle_digest', '=', digest(handle)).executeTakeFirst();
  if (retired) throw taken;
  const passwordHash = await hashSecret(input.password, settings.kdfCost);
  try {
    const row = await db.transaction().execute(async (trx) => {
      const person = await trx
        .insertInto('people')
        .values({ id: randomUUID(), handle, password_hash: passwordHash, display_name: input.displayName ?? null })
        .returning(['id', 'handle', 'display_name', 'created_at'])
        .executeTakeFirstOrThrow();
      await writeDefaultTerms(trx, person.id);
      return person;
    });
    return personView(row);
  } catch (error) {
    if (isUniqueViolation(error)) throw taken;
    throw error;
  }
}

/** A vendor's registration answer, with its credentials (openapi.yaml's VendorCredentials). */
export type VendorCredentialsView = components['schemas']['VendorCredentials'];

export async function registerVendor(
  db: Kysely<Database>,
  settings: AccountSettings,
  input: { name: string; homepage: string; contact: string },
): Promise<VendorCredentialsView> {
  const id = randomUUID();
  const clientId = `pv_${randomBytes(16).toString('hex')}`;
  const clientSecret = randomToken('ps_');
  const row = await db
    .insertInto('vendors')
    .values({ id, client_id: clientId, secret_hash: await hashSecret(clientSecret, settings.kdfCost), ...input })
    .returning(['created_at'])
    .executeTakeFirstOrThrow();
  return { id, client_id: clientId, client_secret: clientSecret, ...input, createdAt: row.created_at.toISOString() };
}

export interface IssuedSession {
  kind: 'person' | 'vendor';
  subject: string;
  sessionId: string;
  refreshToken: string;
}

async function startSession(
  db: Kysely<Database>,
  settings: AccountSettings,
  principal: { personId: string } | { vendorId: string },
): Promise<IssuedSession> {
  const sessionId = randomUUID();
  const expiresAt = new Date(Date.now() + settings.refreshTokenTtlSeconds * 1000);
  const refreshToken = randomToken('prt_');
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('sessions')
      .values({
        id: sessionId,
        person_id: 'personId' in principal ? principal.personId : null,
        vendor_id: 'vendorId' in principal ? principal.vendorId : null,
        expires_at: expiresAt,
      })
      .execute();
    await trx.insertInto('refresh_tokens').values({ token_digest: digest(refreshToken), session_id: sessionId, expires_at: expiresAt }).execute();
  });
  return 'personId' in principal
    ? { kind: 'person', subject: principal.personId, sessionId, refreshToken }
    : { kind: 'vendor', subject: principal.vendorId, sessionId, refreshToken };
}

export async function passwordGrant(
  db: Kysely<Database>,
  settings: AccountSettings,
  username: string | undefined,
  password: string | undefined,
): Promise<IssuedSession> {
  if (!username || password === undefined) throw oauthProblem('invalid_request', 'The password grant needs username and password.');
  const wrong = oauthProblem('invalid_grant', 'The handle or password is wrong.');
  const person = await db
    .selectFrom('people')
    .select(['id', 'password_hash'])
    .where(sql<string>`lower(handle)`, '=', username.toLowerCase())
    .executeTakeFirst();
  if (!person) {
    await verifyAgainstDecoy(password, settings.kdfCost);
    throw wrong;
  }
  if (!(await verifySecret(password, person.password_hash))) throw wrong;
  return startSession(db, settings, { personId: person.id });
}

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
}

/** Authenticates a vendor by its client credentials, or throws invalid_client. */
export async function authenticateClient(db: Kysely<Database>, settings: AccountSettings, credentials: ClientCredentials): Promise<string> {
  const wrong = oauthProblem('invalid_client', 'The client credentials are wrong.');
  const vendor = await db.selectFrom('vendors').select(['id', 'secret_hash']).where('client_id', '=', credentials.clientId).executeTakeFirst();
  if (!vendor) {
    await verifyAgainstDecoy(credentials.clientSecret, settings.kdfCost);
    throw wrong;
  }
  if (!(await verifySecret(credentials.clientSecret, vendor.secret_hash))) throw wrong;
  return vendor.id;
}

export async function clientCredentialsGrant(
  db: Kysely<Database>,
  settings: AccountSettings,
  credentials: ClientCredentials | undefined,
): Promise<IssuedSession> {
  if (!credentials) throw oauthProblem('invalid_client', 'The client_credentials grant needs client_id and client_secret (in the body or with HTTP Basic).');
  const vendorId = await authenticateClient(db, settings, credentials);
  return startSession(db, settings, { vendorId });
}

/**
 * Rotates a refresh token: the presented one is spent and a new one issued in the same session.
 * A spent token presented again means it leaked (or a client misbehaves): the session ends.
 */
export async function refreshGrant(
  db: Kysely<Database>,
  settings: AccountSettings,
  refreshToken: string | undefined,
  client: ClientCredentials | undefined,
): Promise<IssuedSession> {
  if (!refreshToken) throw oauthProblem('invalid_request', 'The refresh_token grant needs refresh_token.');
  const invalid = oauthProblem('invalid_grant', 'The refresh token is invalid, expired or revoked.');
  const row = await db
    .selectFrom('refresh_tokens as t')
    .innerJoin('sessions as s', 's.id', 't.session_id')
    .select(['t.token_digest', 't.rotated_at', 't.expires_at', 's.id as session_id', 's.person_id', 's.vendor_id', 's.revoked_at', 's.expires_at as session_expires_at'])
    .where('t.token_digest', '=', digest(refreshToken))
    .executeTakeFirst();
  if (!row) throw invalid;
  if (row.vendor_id) {
    // A vendor is a confidential client: its refresh token is worthless without its credentials.
    if (!client) throw oauthProblem('invalid_client', 'A vendor must authenticate to use its refresh token.');
    const vendorId = await authenticateClient(db, settings, client);
    if (vendorId !== row.vendor_id) throw invalid;
  }
  const now = new Date();
  if (row.revoked_at || row.expires_at <= now || row.session_expires_at <= now) throw invalid;

  const next = randomToken('prt_');
  const expiresAt = new Date(now.getTime() + settings.refreshTokenTtlSeconds * 1000);
  const rotated = await db.transaction().execute(async (trx) => {
    const spent = await trx
      .updateTable('refresh_tokens')
      .set({ rotated_at: now })
      .where('token_digest', '=', row.token_digest)
      .where('rotated_at', 'is', null)
      .executeTakeFirst();
    if (spent.numUpdatedRows === 0n) return false;
    await trx.insertInto('refresh_tokens').values({ token_digest: digest(next), session_id: row.session_id, expires_at: expiresAt }).execute();
    await trx.updateTable('sessions').set({ expires_at: expiresAt }).where('id', '=', row.session_id).execute();
    return true;
  });
  if (!rotated) {
    await revokeSession(db, row.session_id);
    throw invalid;
  }
  return row.person_id
    ? { kind: 'person', subject: row.person_id, sessionId: row.session_id, refreshToken: next }
    : { kind: 'vendor', subject: row.vendor_id as string, sessionId: row.session_id, refreshToken: next };
}

export async function revokeSession(db: Kysely<Database>, sessionId: string): Promise<void> {
  await db.updateTable('sessions').set({ revoked_at: new Date() }).where('id', '=', sessionId).where('revoked_at', 'is', null).execute();
}

export async function sessionOfRefreshToken(db: Kysely<Database>, refreshToken: string): Promise<string | undefined> {
  const row = await db.selectFrom('refresh_tokens').select('session_id').where('token_digest', '=', digest(refreshToken)).executeTakeFirst();
  return row?.session_id;
}

/** Whether an access token's session still stands: checked on every authenticated request. */
// Asked by every authenticated request: prepared, so each connection plans it once.
const LIVE_SESSION = {
  person: 'select 1 from sessions where id = $1 and person_id = $2 and revoked_at is null and expires_at > now()',
  vendor: 'select 1 from sessions where id = $1 and vendor_id = $2 and revoked_at is null and expires_at > now()',
} as const;

export async function isSessionLive(database: DatabaseHandle, sessionId: string, kind: 'person' | 'vendor', subject: string): Promise<boolean> {
  const rows = await database.prepared(`live-${kind}-session`, LIVE_SESSION[kind], [sessionId, subject]);
  return rows.length > 0;
}

export async function getPerson(db: Kysely<Database>, personId: string): Promise<PersonView | undefined> {
  const row = await db.selectFrom('people').select(['id', 'handle', 'display_name', 'created_at']).where('id', '=', personId).executeTakeFirst();
  return row && personView(row);
}

/**
 * Erasure: every row about the person goes (by cascade), and the handle is retired for good.
 * Every vendor with an active grant or a pending request is told, in the same transaction
 * (tellVendorsOfErasure: ids only survive, never personal data).
 */
export async function erasePerson(db: Kysely<Database>, personId: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    // Locked first, so no grant changes status between this read and the erasure.
    const subscriptions = await trx
      .selectFrom('subscriptions')
      .select(['id', 'vendor_id', 'status', 'granted_fields', 'expires_at'])
      .where('person_id', '=', personId)
      .orderBy('id')
      .forUpdate()
      .execute();
    const person = await trx.deleteFrom('people').where('id', '=', personId).returning('handle').executeTakeFirst();
    if (person) {
      await trx.insertInto('retired_handles').values({ handle_digest: digest(person.handle) }).onConflict((oc) => oc.doNothing()).execute();
      await tellVendorsOfErasure(trx, personId, subscriptions, new Date());
    }
  });
}
