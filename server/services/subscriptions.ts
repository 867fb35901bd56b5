import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import {
  evaluate,
  grantedCategories,
  grantedPaths,
  narrowCategories,
  narrowGrant,
  type CompiledTerms,
  type Duties,
  type Evaluation,
  type Purpose,
  type VendorRequest,
} from '../../policies/index.js';
import type { Database, SubscriptionStatus } from '../db/schema.js';
import { ProblemError, notFound } from '../errors.js';
import { erasedProblem, type AcknowledgementSettings } from './acknowledgements.js';
import { createOnce } from './idempotency.js';
import { decodeTimeCursor, encodeTimeCursor, olderThan } from './cursors.js';
import { buildReceipt, signReceipt, type ReceiptEvent, type ReceiptKeys, type ReceiptStatus } from './receipts.js';
import { compiledTerms, currentTerms } from './terms.js';
import { notifyGrantChange, type GrantChange } from './webhooks.js';

/** What signs consent receipts: the server's key and its public URL (the receipts' issuer). */
export interface ReceiptSigner {
  keys: ReceiptKeys;
  issuer: string;
}

/**
 * A consent receipt for the grant as it now stands, signed and stored in the transaction that
 * changed it, so a change and its receipt exist together or not at all.
 */
async function recordReceipt(trx: Kysely<Database>, signer: ReceiptSigner, personId: string, id: string, event: ReceiptEvent): Promise<void> {
  const row = await trx
    .selectFrom('subscriptions as s')
    .innerJoin('people as p', 'p.id', 's.person_id')
    .innerJoin('vendors as v', 'v.id', 's.vendor_id')
    .select(['s.status', 's.decision', 's.granted_fields', 's.granted_categories', 's.duties', 's.terms_version', 's.expires_at', 'p.handle', 'v.id as vendor_id', 'v.name', 'v.homepage', 'v.contact'])
    .where('s.person_id', '=', personId)
    .where('s.id', '=', id)
    .executeTakeFirstOrThrow();
  const granted = new Set(row.granted_fields);
  const fields = (row.decision as unknown as Evaluation).fields.filter((f) => granted.has(f.path)).map((f) => ({ path: f.path, purpose: f.purpose as Purpose }));
  const at = new Date();
  const receipt = buildReceipt({
    receiptId: randomUUID(),
    subscriptionId: id,
    person: { handle: row.handle },
    vendor: { id: row.vendor_id, name: row.name, homepage: row.homepage, contact: row.contact },
    fields,
    categories: row.granted_categories,
    duties: row.duties as Duties,
    termsVersion: row.terms_version,
    status: row.status as ReceiptStatus,
    event,
    at,
    expiresAt: row.expires_at,
    policyUrl: `${signer.issuer}/v1/people/${row.handle}/terms`,
    issuer: signer.issuer,
  });
  const jws = await signReceipt(signer.keys, receipt);
  await trx
    .insertInto('receipts')
    .values({ person_id: personId, id: receipt.consentReceiptID, subscription_id: id, event, jws, receipt: JSON.stringify(receipt), created_at: at })
    .execute();
}

export interface SubscriptionRequestBody extends VendorRequest {
  person: string;
  accepts: NonNullable<VendorRequest['accepts']> & { termsVersion: number };
}

export interface SubscriptionView {
  id: string;
  person: string;
  vendor: { id: string; name: string; homepage: string };
  status: SubscriptionStatus;
  statusReason?: string;
  request: VendorRequest;
  decision: Evaluation;
  grant: { fields: string[]; categories: string[]; duties: Duties; termsVersion: number; expiresAt: string | null };
  /** The consent receipt of the latest change to the grant, if it was ever granted. */
  receipt?: { jws: string; receipt: Record<string, unknown> };
  createdAt: string;
  updatedAt: string;
  decidedAt: string | null;
  endedAt: string | null;
}

/** Live statuses: the ones a terms change re-evaluates and a person may revoke. */
const LIVE: SubscriptionStatus[] = ['active', 'pending'];


const expiryFrom = (duties: Duties, from: Date) =>
  duties.grantExpiryDays === undefined ? null : new Date(from.getTime() + duties.grantExpiryDays * 86_400_000);

function selectViews(db: Kysely<Database>) {
  return db
    .selectFrom('subscriptions as s')
    .innerJoin('people as p', 'p.id', 's.person_id')
    .innerJoin('vendors as v', 'v.id', 's.vendor_id')
    .select([
      's.id', 's.person_id', 's.vendor_id', 's.status', 's.status_reason', 's.request', 's.decision', 's.granted_fields',
      's.granted_categories', 's.duties', 's.terms_version', 's.expires_at', 's.created_at', 's.updated_at', 's.decided_at',
      's.ended_at', 's.request_digest', 'p.handle', 'v.name as vendor_name', 'v.homepage as vendor_homepage',
    ]);
}
type ViewRow = Awaited<ReturnType<ReturnType<typeof selectViews>['executeTakeFirstOrThrow']>>;

function view(row: ViewRow): SubscriptionView {
  // An active grant past its expiry reads as expired even before a read marks it so.
  const expired = row.status === 'active' && row.expires_at !== null && row.expires_at <= new Date();
  return {
    id: row.id,
    person: row.handle,
    vendor: { id: row.vendor_id, name: row.vendor_name, homepage: row.vendor_homepage },
    status: expired ? 'expired' : row.status,
    ...(expired ? { statusReason: 'The grant reached its expiry.' } : row.status_reason ? { statusReason: row.status_reason } : {}),
    request: row.request as unknown as VendorRequest,
    decision: row.decision as unknown as Evaluation,
    grant: {
      fields: row.granted_fields,
      categories: row.granted_categories,
      duties: row.duties as Duties,
      termsVersion: row.terms_version,
      expiresAt: row.expires_at?.toISOString() ?? null,
    },
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    decidedAt: row.decided_at?.toISOString() ?? null,
    endedAt: row.ended_at?.toISOString() ?? null,
  };
}

async function byId(
  db: Kysely<Database>,
  id: string,
  owner: { vendorId: string } | { personId: string },
  erasure?: AcknowledgementSettings,
): Promise<SubscriptionView> {
  let query = selectViews(db).where('s.id', '=', id);
  query = 'vendorId' in owner ? query.where('s.vendor_id', '=', owner.vendorId) : query.where('s.person_id', '=', owner.personId);
  const row = await query.executeTakeFirst();
  if (!row) {
    // A vendor asking after an erased person's subscription is told so (410), not left guessing.
    if ('vendorId' in owner && erasure) throw (await erasedProblem(db, owner.vendorId, id, erasure)) ?? notFound('No subscription with this id.');
    // Someone else's subscription is "not found": ids reveal nothing.
    throw notFound('No subscription with this id.');
  }
  const latest = await db
    .selectFrom('receipts')
    .select(['jws', 'receipt'])
    .where('person_id', '=', row.person_id)
    .where('subscription_id', '=', id)
    .orderBy('created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return { ...view(row), ...(latest ? { receipt: { jws: latest.jws, receipt: latest.receipt } } : {}) };
}

/** With `erasure` settings, an erased person's subscription answers 410 person-erased instead of 404. */
export const subscriptionForVendor = (db: Kysely<Database>, vendorId: string, id: string, erasure?: AcknowledgementSettings) => byId(db, id, { vendorId }, erasure);
export const subscriptionForPerson = (db: Kysely<Database>, personId: string, id: string) => byId(db, id, { personId });

/**
 * A vendor's request, decided at once by the person's current terms. Under an Idempotency-Key a
 * retry answers the subscription the first attempt made; the same key with another body is refused.
 */
export async function requestSubscription(
  db: Kysely<Database>,
  vendorId: string,
  body: SubscriptionRequestBody,
  idempotencyKey: string | undefined,
  signer: ReceiptSigner,
): Promise<{ subscription: SubscriptionView; replayed: boolean }> {
  const { value, replayed } = await createOnce(idempotencyKey, body, {
    what: 'request',
    find: async (key) => {
      const row = await selectViews(db).where('s.vendor_id', '=', vendorId).where('s.idempotency_key', '=', key).executeTakeFirst();
      return row && { digest: row.request_digest, value: view(row) };
    },
    create: async (digest) => {
      const person = await db.selectFrom('people').select(['id']).where(sql<string>`lower(handle)`, '=', body.person.toLowerCase()).executeTakeFirst();
      if (!person) throw notFound('No person with this handle.');
      const terms = await currentTerms(db, person.id);
      if (body.accepts.termsVersion !== terms.version) {
        throw new ProblemError('terms-outdated', `The request accepts terms version ${body.accepts.termsVersion}; the person's terms are at version ${terms.version}. Read them at /v1/people/${body.person}/terms and ask again.`, {
          extensions: { currentTermsVersion: terms.version },
        });
      }
      const vendor = await db.selectFrom('vendors').select(['id', 'homepage']).where('id', '=', vendorId).executeTakeFirstOrThrow();
      const request: VendorRequest = { fields: body.fields, ...(body.needs ? { needs: body.needs } : {}), accepts: body.accepts };
      const decision = evaluate(compiledTerms(person.id, terms), request, vendor);
      const now = new Date();
      const status: SubscriptionStatus = decision.outcome;
      const active = status === 'active';
      const id = randomUUID();
      await db.transaction().execute(async (trx) => {
        await trx
          .insertInto('subscriptions')
          .values({
            person_id: person.id,
            id,
            vendor_id: vendorId,
            status,
            status_reason: active ? "Granted by the person's terms." : status === 'pending' ? 'Waiting for the person to decide.' : "Refused by the person's terms.",
            request: JSON.stringify(request),
            decision: JSON.stringify(decision),
            granted_fields: JSON.stringify(active ? grantedPaths(decision, { includeAsk: false }) : []),
            granted_categories: JSON.stringify(active ? grantedCategories(decision, { includeAsk: false }) : []),
            duties: JSON.stringify(decision.duties),
            terms_version: terms.version,
            expires_at: active ? expiryFrom(decision.duties, now) : null,
            idempotency_key: idempotencyKey ?? null,
            request_digest: digest,
            created_at: now,
            updated_at: now,
            decided_at: status === 'pending' ? null : now,
          })
          .execute();
        if (active) await recordReceipt(trx, signer, person.id, id, 'granted');
      });
      return byId(db, id, { vendorId });
    },
  });
  return { subscription: value, replayed };
}

export interface Page<T> {
  items: T[];
  next: string | null;
}

export async function listSubscriptions(
  db: Kysely<Database>,
  owner: { vendorId: string } | { personId: string },
  options: { limit: number; cursor?: string | undefined; status?: SubscriptionStatus | undefined },
): Promise<Page<SubscriptionView>> {
  let query = selectViews(db);
  query = 'vendorId' in owner ? query.where('s.vendor_id', '=', owner.vendorId) : query.where('s.person_id', '=', owner.personId);
  // Status as it reads: an active grant past its expiry is listed as expired.
  const now = new Date();
  if (options.status === 'expired') {
    query = query.where((eb) => eb.or([eb('s.status', '=', 'expired'), eb.and([eb('s.status', '=', 'active'), eb('s.expires_at', '<=', now)])]));
  } else if (options.status === 'active') {
    query = query.where('s.status', '=', 'active').where((eb) => eb.or([eb('s.expires_at', 'is', null), eb('s.expires_at', '>', now)]));
  } else if (options.status) {
    query = query.where('s.status', '=', options.status);
  }
  if (options.cursor) {
    query = query.where(olderThan('s.created_at', 's.id', decodeTimeCursor(options.cursor)));
  }
  const rows = await query.orderBy('s.created_at', 'desc').orderBy('s.id', 'desc').limit(options.limit + 1).execute();
  const page = rows.slice(0, options.limit);
  const last = page.at(-1);
  return { items: page.map(view), next: rows.length > options.limit && last ? encodeTimeCursor(last.created_at, last.id) : null };
}

const invalidState = (status: string, action: string) =>
  new ProblemError('invalid-state', `A ${status} subscription cannot be ${action}.`, { extensions: { subscriptionStatus: status } });

/**
 * Moves a subscription from one of `from` to `to`, atomically: of two racing decisions (approve
 * and revoke, say) exactly one applies, and the other is told the state it met.
 */
async function transition(
  db: Kysely<Database>,
  owner: { personId: string } | { vendorId: string },
  id: string,
  from: SubscriptionStatus[],
  action: string,
  change: (current: { decision: Evaluation; request: VendorRequest }) => Record<string, unknown>,
  receipt?: { signer: ReceiptSigner; event: ReceiptEvent; onlyIfWas?: SubscriptionStatus },
  notify?: GrantChange,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    let query = trx.selectFrom('subscriptions').select(['status', 'decision', 'request', 'person_id', 'expires_at', 'granted_fields']).where('id', '=', id);
    query = 'vendorId' in owner ? query.where('vendor_id', '=', owner.vendorId) : query.where('person_id', '=', owner.personId);
    const row = await query.forUpdate().executeTakeFirst();
    if (!row) throw notFound('No subscription with this id.');
    const now = new Date();
    // A grant past its expiry is over, whether or not a read has marked it yet.
    const status = row.status === 'active' && row.expires_at !== null && row.expires_at <= now ? 'expired' : row.status;
    if (!from.includes(status)) throw invalidState(status, action);
    await trx
      .updateTable('subscriptions')
      .set({ ...change({ decision: row.decision as unknown as Evaluation, request: row.request as unknown as VendorRequest }), updated_at: now } as never)
      .where('person_id', '=', row.person_id)
      .where('id', '=', id)
      .execute();
    if (receipt && (!receipt.onlyIfWas || row.status === receipt.onlyIfWas)) {
      await recordReceipt(trx, receipt.signer, row.person_id, id, receipt.event);
    }
    if (notify) {
      // Only a grant that was active held anything the vendor could be asked to delete.
      const heldFields = status === 'active' ? row.granted_fields : [];
      await notifyGrantChange(trx, { personId: row.person_id, subscriptionId: id, change: notify, heldFields, at: now });
    }
  });
}

export async function approveSubscription(
  db: Kysely<Database>,
  personId: string,
  id: string,
  approval: { fields?: string[]; purposes?: string[] },
  signer: ReceiptSigner,
): Promise<SubscriptionView> {
  await transition(db, { personId }, id, ['pending'], 'approved', ({ decision, request }) => {
    const requestedPaths = new Set(request.fields.map((f) => f.path));
    const unknown = (approval.fields ?? []).filter((path) => !requestedPaths.has(path));
    if (unknown.length) {
      throw new ProblemError('validation', 'An approval can only narrow what was asked for.', {
        errors: unknown.map((path) => ({ in: 'body' as const, pointer: `/fields/${(approval.fields ?? []).indexOf(path)}`, message: `${path} was not requested` })),
      });
    }
    const chosen = decision.fields.filter(
      (f) =>
        f.decision !== 'deny' &&
        (!approval.fields || approval.fields.includes(f.path)) &&
        (!approval.purposes || approval.purposes.includes(f.purpose)),
    );
    if (chosen.length === 0) throw new ProblemError('validation', 'This approval would grant nothing; reject the subscription instead.');
    const now = new Date();
    const fields = [...new Set(chosen.map((f) => f.path))];
    const categories = approval.fields ? [] : grantedCategories(decision, { includeAsk: true });
    return {
      status: 'active',
      status_reason: approval.fields || approval.purposes ? 'Approved, narrowed, by the person.' : 'Approved by the person.',
      granted_fields: JSON.stringify(fields),
      granted_categories: JSON.stringify(categories),
      expires_at: expiryFrom(decision.duties, now),
      decided_at: now,
    };
  }, { signer, event: 'approved' }, 'approved');
  return subscriptionForPerson(db, personId, id);
}

export async function rejectSubscription(db: Kysely<Database>, personId: string, id: string, reason: string | undefined): Promise<SubscriptionView> {
  await transition(db, { personId }, id, ['pending'], 'rejected', () => ({
    status: 'rejected',
    status_reason: reason ?? 'Rejected by the person.',
    decided_at: new Date(),
  }), undefined, 'rejected');
  return subscriptionForPerson(db, personId, id);
}

export async function revokeSubscription(
  db: Kysely<Database>,
  personId: string,
  id: string,
  reason: string | undefined,
  signer: ReceiptSigner,
): Promise<SubscriptionView> {
  await transition(db, { personId }, id, LIVE, 'revoked', () => ({
    status: 'revoked',
    status_reason: reason ?? 'Revoked by the person.',
    granted_fields: '[]',
    granted_categories: '[]',
    ended_at: new Date(),
  }), { signer, event: 'revoked', onlyIfWas: 'active' }, 'revoked');
  return subscriptionForPerson(db, personId, id);
}

export async function endSubscription(db: Kysely<Database>, vendorId: string, id: string, signer: ReceiptSigner): Promise<SubscriptionView> {
  await transition(db, { vendorId }, id, LIVE, 'ended', () => ({
    status: 'ended',
    status_reason: 'Ended by the vendor.',
    granted_fields: '[]',
    granted_categories: '[]',
    ended_at: new Date(),
  }), { signer, event: 'ended', onlyIfWas: 'active' });
  return subscriptionForVendor(db, vendorId, id);
}

/**
 * After a terms change, inside the transaction that wrote the new version: every live grant is
 * decided again and can only narrow (the vendor must ask again to get more); a grant left with
 * nothing is revoked, a pending request the new terms deny is rejected.
 */
export async function reevaluateGrants(
  trx: Transaction<Database>,
  personId: string,
  compiled: CompiledTerms,
  termsVersion: number,
  signer: ReceiptSigner,
): Promise<void> {
  const live = await trx
    .selectFrom('subscriptions as s')
    .innerJoin('vendors as v', 'v.id', 's.vendor_id')
    .select(['s.id', 's.status', 's.request', 's.granted_fields', 's.granted_categories', 'v.id as vendor_id', 'v.homepage'])
    .where('s.person_id', '=', personId)
    .where('s.status', 'in', LIVE)
    // In id order, so their webhook rows are locked in the order every writer locks them (no deadlock).
    .orderBy('s.id')
    .forUpdate()
    .execute();
  const now = new Date();
  for (const row of live) {
    const decision = evaluate(compiled, row.request as unknown as VendorRequest, { id: row.vendor_id, homepage: row.homepage });
    const update =
      row.status === 'pending'
        ? decision.outcome === 'rejected'
          ? { status: 'rejected' as const, status_reason: 'The person changed their terms; they now refuse this request.', decided_at: now }
          : {}
        : (() => {
            const fields = narrowGrant(row.granted_fields, decision);
            const categories = narrowCategories(row.granted_categories, decision);
            // A required field the new terms deny rejects the request as a whole, as at request time.
            const reason =
              decision.outcome === 'rejected'
                ? 'The person changed their terms; a field this subscription requires is no longer granted.'
                : 'The person changed their terms; nothing of this grant remains.';
            return decision.outcome === 'rejected' || (fields.length === 0 && categories.length === 0)
              ? { status: 'revoked' as const, status_reason: reason, granted_fields: '[]', granted_categories: '[]', ended_at: now }
              : { granted_fields: JSON.stringify(fields), granted_categories: JSON.stringify(categories) };
          })();
    await trx
      .updateTable('subscriptions')
      .set({ ...update, decision: JSON.stringify(decision), terms_version: termsVersion, updated_at: now })
      .where('person_id', '=', personId)
      .where('id', '=', row.id)
      .execute();
    if (row.status === 'active') {
      const revoked = 'status' in update && update.status === 'revoked';
      const narrowed = 'granted_fields' in update && update.granted_fields !== JSON.stringify(row.granted_fields);
      if (revoked || narrowed) await recordReceipt(trx, signer, personId, row.id, revoked ? 'revoked' : 'narrowed');
      // The vendor hears of fewer needs' categories too, though the receipt speaks of fields.
      const categoriesNarrowed = 'granted_categories' in update && update.granted_categories !== JSON.stringify(row.granted_categories);
      if (revoked || narrowed || categoriesNarrowed) {
        await notifyGrantChange(trx, { personId, subscriptionId: row.id, change: revoked ? 'revoked' : 'narrowed', heldFields: row.granted_fields, at: now });
      }
    } else if ('status' in update && update.status === 'rejected') {
      await notifyGrantChange(trx, { personId, subscriptionId: row.id, change: 'rejected', at: now });
    }
  }
}

export const todayUtc = () => new Date().toISOString().slice(0, 10);

/** A read past the duty's daily limit, profile or feed alike: retry when the UTC day turns. */
export function readLimitReached(limit: number): ProblemError {
  const secondsToNextDay = Math.ceil((Date.parse(`${todayUtc()}T00:00:00Z`) + 86_400_000 - Date.now()) / 1000);
  return new ProblemError('read-limit', `The person's terms allow ${limit} reads a day under this grant; try again tomorrow (UTC).`, {
    headers: { 'retry-after': String(secondsToNextDay) },
  });
}

/**
 * Marks an active grant past its expiry as expired, with its receipt and its webhook message.
 * The caller holds the subscription's row lock and has checked the expiry.
 */
export async function expireGrant(trx: Transaction<Database>, signer: ReceiptSigner, personId: string, id: string, now: Date): Promise<void> {
  await trx
    .updateTable('subscriptions')
    .set({ status: 'expired', status_reason: 'The grant reached its expiry.', granted_fields: '[]', granted_categories: '[]', ended_at: now, updated_at: now })
    .where('person_id', '=', personId)
    .where('id', '=', id)
    .execute();
  await recordReceipt(trx, signer, personId, id, 'expired');
  await notifyGrantChange(trx, { personId, subscriptionId: id, change: 'expired', at: now });
}

/**
 * Expires grants past their expiry that no read has marked yet, so their receipt and their
 * vendor's message do not wait for a read that may never come. Run periodically; grants another
 * process is expiring right now are skipped. Answers how many it expired.
 */
export async function expireDueGrants(db: Kysely<Database>, signer: ReceiptSigner, limit = 100): Promise<number> {
  const now = new Date();
  const due = await db
    .selectFrom('subscriptions')
    .select(['person_id', 'id'])
    .where('status', '=', 'active')
    .where('expires_at', '<=', now)
    .orderBy('expires_at')
    .limit(limit)
    .execute();
  let expired = 0;
  for (const { person_id, id } of due) {
    const done = await db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('subscriptions')
        .select(['status', 'expires_at'])
        .where('person_id', '=', person_id)
        .where('id', '=', id)
        .forUpdate()
        .skipLocked()
        .executeTakeFirst();
      if (!row || row.status !== 'active' || row.expires_at === null || row.expires_at > now) return false;
      await expireGrant(trx, signer, person_id, id, now);
      return true;
    });
    if (done) expired++;
  }
  return expired;
}

/**
 * The vendor's read of the filled-in form. The grant is checked in the same statement that
 * fetches the profile, under a row lock, and the read is logged in the same transaction: a
 * revocation or narrowing committed before this read began is always seen.
 */
export async function readGrantedProfile(
  db: Kysely<Database>,
  vendorId: string,
  id: string,
  address: string,
  redact: (profile: Record<string, unknown>, fields: string[]) => Record<string, unknown>,
  signer: ReceiptSigner,
  erasure: AcknowledgementSettings,
): Promise<Record<string, unknown>> {
  const outcome = await db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('subscriptions as s')
      .leftJoin('profiles as p', 'p.person_id', 's.person_id')
      .select(['s.person_id', 's.status', 's.granted_fields', 's.expires_at', 's.duties', 's.reads_day', 's.reads_on_day', 'p.document'])
      .where('s.id', '=', id)
      .where('s.vendor_id', '=', vendorId)
      .forUpdate('s')
      .executeTakeFirst();
    // An erased person's: 410, with the deletion this vendor must confirm.
    if (!row) throw (await erasedProblem(trx, vendorId, id, erasure)) ?? notFound('No subscription with this id.');
    const now = new Date();
    if (row.status === 'active' && row.expires_at !== null && row.expires_at <= now) {
      await expireGrant(trx, signer, row.person_id, id, now);
      return { refused: 'expired' as const };
    }
    if (row.status !== 'active') return { refused: row.status };
    const today = todayUtc();
    const readsToday = row.reads_day === today ? row.reads_on_day : 0;
    const limit = (row.duties as Duties).maxReadsPerDay;
    if (limit !== undefined && readsToday >= limit) return { limited: limit };
    const profile = redact(row.document ?? {}, row.granted_fields);
    await trx
      .updateTable('subscriptions')
      .set({ reads_day: today, reads_on_day: readsToday + 1 })
      .where('person_id', '=', row.person_id)
      .where('id', '=', id)
      .execute();
    await trx
      .insertInto('access_log')
      .values({ person_id: row.person_id, subscription_id: id, vendor_id: vendorId, what: 'profile', fields: JSON.stringify(row.granted_fields), address, at: now })
      .execute();
    return { profile };
  });
  if ('refused' in outcome) {
    throw new ProblemError('grant-inactive', `This subscription is ${outcome.refused}: nothing may be read under it.`, { extensions: { subscriptionStatus: outcome.refused } });
  }
  if ('limited' in outcome && outcome.limited !== undefined) {
    throw readLimitReached(outcome.limited);
  }
  return outcome.profile;
}

export async function accessLog(
  db: Kysely<Database>,
  personId: string,
  options: { limit: number; before?: string | undefined; vendor?: string | undefined; subscription?: string | undefined },
) {
  let query = db
    .selectFrom('access_log as a')
    .leftJoin('vendors as v', 'v.id', 'a.vendor_id')
    .select(['a.id', 'a.at', 'a.vendor_id', 'v.name', 'a.subscription_id', 'a.what', 'a.fields', 'a.address'])
    .where('a.person_id', '=', personId);
  if (options.vendor) query = query.where('a.vendor_id', '=', options.vendor);
  if (options.subscription) query = query.where('a.subscription_id', '=', options.subscription);
  if (options.before) query = query.where('a.id', '<', options.before);
  const rows = await query.orderBy('a.id', 'desc').limit(options.limit + 1).execute();
  const page = rows.slice(0, options.limit);
  return {
    items: page.map((r) => ({
      id: r.id,
      at: r.at.toISOString(),
      vendor: { id: r.vendor_id, name: r.name ?? '(vendor no longer registered)' },
      subscription: r.subscription_id,
      what: r.what,
      fields: r.fields,
      address: r.address,
    })),
    nextBefore: rows.length > options.limit ? (page.at(-1)?.id ?? null) : null,
  };
}

export async function listReceipts(db: Kysely<Database>, personId: string, options: { limit: number; cursor?: string | undefined }) {
  let query = db.selectFrom('receipts').select(['id', 'jws', 'receipt', 'created_at']).where('person_id', '=', personId);
  if (options.cursor) {
    query = query.where(olderThan('created_at', 'id', decodeTimeCursor(options.cursor)));
  }
  const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(options.limit + 1).execute();
  const page = rows.slice(0, options.limit);
  const last = page.at(-1);
  return {
    items: page.map((r) => ({ jws: r.jws, receipt: r.receipt })),
    next: rows.length > options.limit && last ? encodeTimeCursor(last.created_at, last.id) : null,
  };
}
