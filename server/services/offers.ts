import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AcceptedDuties, NeedsRequest, RequestedField } from '../../policies/index.js';
import type { Database, StoredOfferStatus, SubscriptionStatus } from '../db/schema.js';
import { ProblemError, notFound } from '../errors.js';
import { requestDigest } from './idempotency.js';
import { decodeTimeCursor, encodeTimeCursor, olderThan } from './cursors.js';
import { needOfIntent, type IntentClock } from './intents.js';
import { requestSubscription, type ReceiptSigner, type SubscriptionRequestBody } from './subscriptions.js';
import { currentTerms } from './terms.js';

/**
 * Offers: a vendor's answer to a public intent. The vendor addresses the intent, never the
 * person; only the server links an offer to the need behind it. The person sees offers per need
 * and may accept one, which makes the subscription request the offer describes, decided by the
 * person's terms as they stand at acceptance (an accepted offer binds the vendor to those terms).
 * From then on the vendor knows who the person is: accepting is consenting to that.
 */

export interface OfferRequest {
  fields: RequestedField[];
  needs?: NeedsRequest;
  accepts?: { duties: AcceptedDuties };
}

export interface OfferInput {
  message: string;
  price?: { amount: number; currency: string };
  validUntil?: string;
  request: OfferRequest;
}

export type OfferStatus = StoredOfferStatus;

interface OfferCommon {
  id: string;
  message: string;
  price?: { amount: number; currency: string };
  validUntil?: string;
  request: OfferRequest;
  status: OfferStatus;
  statusReason?: string;
  subscription: { id: string; status: SubscriptionStatus } | null;
  createdAt: string;
  updatedAt: string;
  decidedAt: string | null;
}

/** What the vendor that made it sees: the intent, not the need or the person. */
export interface VendorOfferView extends OfferCommon {
  intentId: string;
}

/** What the person sees under their need. */
export interface PersonOfferView extends OfferCommon {
  needId: string;
  vendor: { id: string; name: string; homepage: string };
}

/**
 * The subscription request an accepted offer makes carries this Idempotency-Key: a retried or
 * racing acceptance finds the request already made. The space keeps it out of reach of vendors,
 * whose Idempotency-Key header allows none.
 */
const acceptanceKey = (offerId: string) => `offer ${offerId}`;

function selectOffers(db: Kysely<Database>) {
  return db
    .selectFrom('offers as o')
    .innerJoin('vendors as v', 'v.id', 'o.vendor_id')
    .leftJoin('subscriptions as s', (join) => join.onRef('s.person_id', '=', 'o.person_id').onRef('s.id', '=', 'o.subscription_id'))
    .select([
      'o.person_id', 'o.id', 'o.need_id', 'o.vendor_id', 'o.intent_id', 'o.message', 'o.price', 'o.valid_until', 'o.request', 'o.request_digest',
      'o.status', 'o.status_reason', 'o.subscription_id', 'o.created_at', 'o.updated_at', 'o.decided_at',
      'v.name as vendor_name', 'v.homepage as vendor_homepage', 's.status as subscription_status', 's.expires_at as subscription_expires_at',
    ]);
}
type OfferRow = Awaited<ReturnType<ReturnType<typeof selectOffers>['executeTakeFirstOrThrow']>>;

/** An open offer past its validUntil reads as expired; nothing has to sweep it. */
const effectiveStatus = (row: { status: StoredOfferStatus; valid_until: Date | null }, now: Date): OfferStatus =>
  row.status === 'open' && row.valid_until !== null && row.valid_until <= now ? 'expired' : row.status;

function common(row: OfferRow, now: Date): OfferCommon {
  const subscriptionStatus =
    row.subscription_status === 'active' && row.subscription_expires_at !== null && row.subscription_expires_at <= now ? 'expired' : row.subscription_status;
  return {
    id: row.id,
    message: row.message,
    ...(row.price ? { price: row.price } : {}),
    ...(row.valid_until ? { validUntil: row.valid_until.toISOString() } : {}),
    request: row.request as unknown as OfferRequest,
    status: effectiveStatus(row, now),
    ...(row.status_reason ? { statusReason: row.status_reason } : {}),
    subscription: row.subscription_id && subscriptionStatus ? { id: row.subscription_id, status: subscriptionStatus } : null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    decidedAt: row.decided_at?.toISOString() ?? null,
  };
}

const vendorView = (row: OfferRow, now = new Date()): VendorOfferView => ({ ...common(row, now), intentId: row.intent_id });
const personView = (row: OfferRow, now = new Date()): PersonOfferView => ({
  ...common(row, now),
  needId: row.need_id,
  vendor: { id: row.vendor_id, name: row.vendor_name, homepage: row.vendor_homepage },
});

const noSuchOffer = () => notFound('No offer with this id.');

const invalidState = (status: OfferStatus, action: string) =>
  new ProblemError('invalid-state', `This offer is ${status}: it cannot be ${action}.`, { extensions: { offerStatus: status } });

/**
 * A vendor answers a visible public intent. One open offer per vendor and need: the same body
 * again answers the offer already made (a retry), another body is refused naming it (withdraw
 * it first to make a new one).
 */
export async function createOffer(
  db: Kysely<Database>,
  clock: IntentClock,
  vendorId: string,
  intentId: string,
  input: OfferInput,
): Promise<{ offer: VendorOfferView; replayed: boolean }> {
  const now = clock.now;
  if (input.validUntil !== undefined && new Date(input.validUntil) <= now) {
    throw new ProblemError('validation', 'validUntil has already passed.', { errors: [{ in: 'body', pointer: '/validUntil', message: 'must be in the future' }] });
  }
  const { personId, needId, intentId: storedIntentId } = await needOfIntent(db, clock, intentId);
  const digest = requestDigest(input);

  const existingOpen = async () => {
    const row = await selectOffers(db)
      .where('o.person_id', '=', personId)
      .where('o.need_id', '=', needId)
      .where('o.vendor_id', '=', vendorId)
      .where('o.status', '=', 'open')
      .executeTakeFirst();
    if (!row) return undefined;
    if (row.request_digest !== digest) {
      throw new ProblemError('offer-exists', 'You already have an open offer on this intent; withdraw it (DELETE /v1/offers/{offerId}) to make another.', {
        extensions: { offerId: row.id },
      });
    }
    return { offer: vendorView(row, now), replayed: true };
  };

  // Rarely more than once: only when a racing offer or withdrawal changed things under us.
  for (let attempt = 1; ; attempt++) {
    const id = randomUUID();
    let placed: boolean;
    try {
      placed = await db.transaction().execute(async (trx) => {
        // A lapsed open offer no longer holds the vendor's place.
        await trx
          .updateTable('offers')
          .set({ status: 'expired', updated_at: now })
          .where('person_id', '=', personId)
          .where('need_id', '=', needId)
          .where('vendor_id', '=', vendorId)
          .where('status', '=', 'open')
          .where('valid_until', '<=', now)
          .execute();
        const open = await trx
          .selectFrom('offers')
          .select('id')
          .where('person_id', '=', personId)
          .where('need_id', '=', needId)
          .where('vendor_id', '=', vendorId)
          .where('status', '=', 'open')
          .executeTakeFirst();
        if (open) return false;
        await trx
          .insertInto('offers')
          .values({
            person_id: personId,
            id,
            need_id: needId,
            vendor_id: vendorId,
            intent_id: storedIntentId,
            message: input.message,
            price: input.price ? JSON.stringify(input.price) : null,
            valid_until: input.validUntil ?? null,
            request: JSON.stringify(input.request),
            request_digest: digest,
            status: 'open',
            created_at: now,
            updated_at: now,
          })
          .execute();
        return true;
      });
    } catch (error) {
      // Two offers of one vendor on one need at once (the partial unique index): the loser answers as if it came second.
      if ((error as { code?: string }).code !== '23505') throw error;
      placed = false;
    }
    if (placed) return { offer: await vendorOffer(db, vendorId, id), replayed: false };
    const replay = await existingOpen();
    if (replay) return replay;
    if (attempt >= 3) throw new Error('offer creation kept racing');
  }
}

export async function vendorOffer(db: Kysely<Database>, vendorId: string, offerId: string): Promise<VendorOfferView> {
  const row = await selectOffers(db).where('o.id', '=', offerId).where('o.vendor_id', '=', vendorId).executeTakeFirst();
  // Another vendor's offer is "not found": ids reveal nothing.
  if (!row) throw noSuchOffer();
  return vendorView(row);
}

export interface OfferPage<T> {
  items: T[];
  next: string | null;
}

type OfferQuery = ReturnType<typeof selectOffers>;

function pageOf(query: OfferQuery, options: { limit: number; cursor?: string | undefined; status?: OfferStatus | undefined }, now: Date) {
  if (options.status === 'expired') {
    query = query.where((eb) => eb.or([eb('o.status', '=', 'expired'), eb.and([eb('o.status', '=', 'open'), eb('o.valid_until', '<=', now)])]));
  } else if (options.status === 'open') {
    query = query.where('o.status', '=', 'open').where((eb) => eb.or([eb('o.valid_until', 'is', null), eb('o.valid_until', '>', now)]));
  } else if (options.status) {
    query = query.where('o.status', '=', options.status);
  }
  if (options.cursor) {
    query = query.where(olderThan('o.created_at', 'o.id', decodeTimeCursor(options.cursor)));
  }
  return query.orderBy('o.created_at', 'desc').orderBy('o.id', 'desc').limit(options.limit + 1);
}

function toPage<T>(rows: OfferRow[], limit: number, view: (row: OfferRow) => T): OfferPage<T> {
  const shown = rows.slice(0, limit);
  const last = shown.at(-1);
  return { items: shown.map(view), next: rows.length > limit && last ? encodeTimeCursor(last.created_at, last.id) : null };
}

/** The vendor's own offers, newest first. */
export async function listVendorOffers(
  db: Kysely<Database>,
  vendorId: string,
  options: { limit: number; cursor?: string | undefined; status?: OfferStatus | undefined },
): Promise<OfferPage<VendorOfferView>> {
  const now = new Date();
  const rows = await pageOf(selectOffers(db).where('o.vendor_id', '=', vendorId), options, now).execute();
  return toPage(rows, options.limit, (row) => vendorView(row, now));
}

async function assertOwnNeed(db: Kysely<Database>, personId: string, needId: string): Promise<void> {
  const need = await db.selectFrom('needs').select('id').where('person_id', '=', personId).where('id', '=', needId).executeTakeFirst();
  if (!need) throw notFound('No need with this id.');
}

/** Offers on one of the person's needs, newest first. */
export async function listNeedOffers(
  db: Kysely<Database>,
  personId: string,
  needId: string,
  options: { limit: number; cursor?: string | undefined; status?: OfferStatus | undefined },
): Promise<OfferPage<PersonOfferView>> {
  await assertOwnNeed(db, personId, needId);
  const now = new Date();
  const rows = await pageOf(selectOffers(db).where('o.person_id', '=', personId).where('o.need_id', '=', needId), options, now).execute();
  return toPage(rows, options.limit, (row) => personView(row, now));
}

/** Every offer on any of the person's needs, oldest first: the export's part. */
export async function allOffersForPerson(db: Kysely<Database>, personId: string): Promise<PersonOfferView[]> {
  const now = new Date();
  const rows = await selectOffers(db).where('o.person_id', '=', personId).orderBy('o.created_at').orderBy('o.id').execute();
  return rows.map((row) => personView(row, now));
}

export async function needOffer(db: Kysely<Database>, personId: string, needId: string, offerId: string): Promise<PersonOfferView> {
  const row = await selectOffers(db).where('o.person_id', '=', personId).where('o.need_id', '=', needId).where('o.id', '=', offerId).executeTakeFirst();
  if (!row) throw noSuchOffer();
  return personView(row);
}

/**
 * Moves an open, unexpired offer to `to` in one conditional statement: of two racing decisions
 * (the person declines while the vendor withdraws) exactly one applies; the other is told the
 * state it met.
 */
async function closeOffer(
  db: Kysely<Database>,
  owner: { personId: string; needId: string } | { vendorId: string },
  offerId: string,
  to: 'declined' | 'withdrawn',
  reason: string | undefined,
): Promise<void> {
  const now = new Date();
  let update = db
    .updateTable('offers')
    .set({ status: to, status_reason: reason ?? null, updated_at: now, decided_at: now })
    .where('id', '=', offerId)
    .where('status', '=', 'open')
    .where((eb) => eb.or([eb('valid_until', 'is', null), eb('valid_until', '>', now)]));
  update = 'vendorId' in owner ? update.where('vendor_id', '=', owner.vendorId) : update.where('person_id', '=', owner.personId).where('need_id', '=', owner.needId);
  const changed = await update.returning('id').executeTakeFirst();
  if (changed) return;
  let query = selectOffers(db).where('o.id', '=', offerId);
  query = 'vendorId' in owner ? query.where('o.vendor_id', '=', owner.vendorId) : query.where('o.person_id', '=', owner.personId).where('o.need_id', '=', owner.needId);
  const row = await query.executeTakeFirst();
  if (!row) throw noSuchOffer();
  throw invalidState(effectiveStatus(row, now), to);
}

export async function withdrawOffer(db: Kysely<Database>, vendorId: string, offerId: string): Promise<VendorOfferView> {
  await closeOffer(db, { vendorId }, offerId, 'withdrawn', 'Withdrawn by the vendor.');
  return vendorOffer(db, vendorId, offerId);
}

export async function declineOffer(db: Kysely<Database>, personId: string, needId: string, offerId: string, reason: string | undefined): Promise<PersonOfferView> {
  await closeOffer(db, { personId, needId }, offerId, 'declined', reason ?? 'Declined by the person.');
  return needOffer(db, personId, needId, offerId);
}

/**
 * The person accepts an offer: it is claimed (open → accepted) in one conditional statement, then
 * the subscription request it describes is made from the vendor, under the person's terms as they
 * stand now, and linked to it. The request carries an idempotency key of the offer's, so an
 * acceptance cut short after the request was made completes on retry without a second request.
 */
export async function acceptOffer(db: Kysely<Database>, personId: string, needId: string, offerId: string, signer: ReceiptSigner): Promise<PersonOfferView> {
  const now = new Date();
  const claimed = await db
    .updateTable('offers')
    .set({ status: 'accepted', status_reason: 'Accepted by the person.', updated_at: now, decided_at: now })
    .where('person_id', '=', personId)
    .where('need_id', '=', needId)
    .where('id', '=', offerId)
    .where('status', '=', 'open')
    .where((eb) => eb.or([eb('valid_until', 'is', null), eb('valid_until', '>', now)]))
    .returning(['vendor_id', 'request'])
    .executeTakeFirst();
  let offer: { vendor_id: string; request: Record<string, unknown> };
  if (claimed) offer = claimed;
  else {
    const row = await selectOffers(db).where('o.person_id', '=', personId).where('o.need_id', '=', needId).where('o.id', '=', offerId).executeTakeFirst();
    if (!row) throw noSuchOffer();
    if (row.status === 'accepted' && row.subscription_id) return personView(row);
    // Accepted, but the acceptance was cut short before its request was linked: finish it.
    if (row.status !== 'accepted') throw invalidState(effectiveStatus(row, now), 'accepted');
    offer = { vendor_id: row.vendor_id, request: row.request };
  }

  let subscriptionId: string;
  try {
    subscriptionId = await makeRequest(db, personId, offerId, offer.vendor_id, offer.request as unknown as OfferRequest, signer);
  } catch (error) {
    // Nothing was requested: the offer is open again, as before the attempt.
    await db
      .updateTable('offers')
      .set({ status: 'open', status_reason: null, updated_at: new Date(), decided_at: null })
      .where('person_id', '=', personId)
      .where('id', '=', offerId)
      .where('status', '=', 'accepted')
      .where('subscription_id', 'is', null)
      .execute();
    throw error;
  }
  await db
    .updateTable('offers')
    .set({ subscription_id: subscriptionId, updated_at: new Date() })
    .where('person_id', '=', personId)
    .where('id', '=', offerId)
    .execute();
  return needOffer(db, personId, needId, offerId);
}

async function makeRequest(db: Kysely<Database>, personId: string, offerId: string, vendorId: string, request: OfferRequest, signer: ReceiptSigner): Promise<string> {
  const key = acceptanceKey(offerId);
  const made = await db.selectFrom('subscriptions').select('id').where('vendor_id', '=', vendorId).where('idempotency_key', '=', key).executeTakeFirst();
  if (made) return made.id;
  const person = await db.selectFrom('people').select('handle').where('id', '=', personId).executeTakeFirstOrThrow();
  // The terms may change between reading their version and the request: read again and retry.
  for (let attempt = 1; ; attempt++) {
    const terms = await currentTerms(db, personId);
    const body: SubscriptionRequestBody = {
      person: person.handle,
      fields: request.fields,
      ...(request.needs ? { needs: request.needs } : {}),
      accepts: { duties: request.accepts?.duties ?? {}, termsVersion: terms.version },
    };
    try {
      const { subscription } = await requestSubscription(db, vendorId, body, key, signer);
      return subscription.id;
    } catch (error) {
      if (!(error instanceof ProblemError && error.code === 'terms-outdated') || attempt >= 3) throw error;
    }
  }
}
