import { randomBytes, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, SubscriptionStatus } from '../db/schema.js';
import { ProblemError, notFound } from '../errors.js';
import { digest } from './secrets.js';

/** Links a subscription may have at once: enough for a few tools, not a table to fill. */
export const MAX_FEED_LINKS = 10;

export interface FeedLinkView {
  id: string;
  subscription: string;
  createdAt: string;
  rotatedAt: string | null;
  /** Whether the link serves the feed now: only while the grant is active. */
  live: boolean;
}

/** A link as minted or rotated: the only time its URL is ever shown. */
export interface IssuedFeedLink extends FeedLinkView {
  url: string;
}

type Owner = { vendorId: string } | { personId: string };

/**
 * A capability: 256 random bits, base64url. Only its SHA-256 digest is stored, and the link is
 * found by that digest, so neither the table nor a comparison's timing gives the capability away.
 */
export function newCapability(): { capability: string; digest: string } {
  const capability = randomBytes(32).toString('base64url');
  return { capability, digest: digest(capability) };
}

export const capabilityDigest = (capability: string) => digest(capability);

export const feedLinkUrl = (publicUrl: string, capability: string) => `${publicUrl}/v1/feeds/${capability}`;

const isLive = (status: SubscriptionStatus, expiresAt: Date | null, now = new Date()) =>
  status === 'active' && (expiresAt === null || expiresAt > now);

const effectiveStatus = (status: SubscriptionStatus, expiresAt: Date | null) =>
  status === 'active' && !isLive(status, expiresAt) ? 'expired' : status;

function view(row: { id: string; subscription_id: string; created_at: Date; rotated_at: Date | null }, live: boolean): FeedLinkView {
  return {
    id: row.id,
    subscription: row.subscription_id,
    createdAt: row.created_at.toISOString(),
    rotatedAt: row.rotated_at?.toISOString() ?? null,
    live,
  };
}

/** The subscription, if it is this owner's; someone else's is "not found", like a missing one. */
async function ownedSubscription(db: Kysely<Database>, owner: Owner, subscriptionId: string, lock: boolean) {
  let query = db.selectFrom('subscriptions').select(['person_id', 'vendor_id', 'status', 'expires_at']).where('id', '=', subscriptionId);
  query = 'vendorId' in owner ? query.where('vendor_id', '=', owner.vendorId) : query.where('person_id', '=', owner.personId);
  const row = await (lock ? query.forUpdate() : query).executeTakeFirst();
  if (!row) throw notFound('No subscription with this id.');
  return row;
}

/** The vendor mints a link for one of its active grants. */
export async function mintFeedLink(db: Kysely<Database>, vendorId: string, subscriptionId: string, publicUrl: string): Promise<IssuedFeedLink> {
  return db.transaction().execute(async (trx) => {
    // Locked, so two concurrent mints cannot both slip under the limit.
    const subscription = await ownedSubscription(trx, { vendorId }, subscriptionId, true);
    const status = effectiveStatus(subscription.status, subscription.expires_at);
    if (status !== 'active') {
      throw new ProblemError('grant-inactive', `This subscription is ${status}: no feed link can be made for it.`, { extensions: { subscriptionStatus: status } });
    }
    const { count } = await trx
      .selectFrom('feed_links')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('person_id', '=', subscription.person_id)
      .where('subscription_id', '=', subscriptionId)
      .executeTakeFirstOrThrow();
    if (Number(count) >= MAX_FEED_LINKS) {
      throw new ProblemError('feed-link-limit', `A subscription may have ${MAX_FEED_LINKS} feed links at once; delete one first.`, {
        extensions: { maxFeedLinks: MAX_FEED_LINKS },
      });
    }
    const { capability, digest } = newCapability();
    const row = await trx
      .insertInto('feed_links')
      .values({
        person_id: subscription.person_id,
        id: randomUUID(),
        subscription_id: subscriptionId,
        vendor_id: vendorId,
        digest,
        created_at: new Date(),
      })
      .returning(['id', 'subscription_id', 'created_at', 'rotated_at'])
      .executeTakeFirstOrThrow();
    return { ...view(row, true), url: feedLinkUrl(publicUrl, capability) };
  });
}

/** The links of one of the owner's subscriptions, oldest first. Their URLs are never shown again. */
export async function listFeedLinks(db: Kysely<Database>, owner: Owner, subscriptionId: string): Promise<{ items: FeedLinkView[] }> {
  const subscription = await ownedSubscription(db, owner, subscriptionId, false);
  const live = isLive(subscription.status, subscription.expires_at);
  const rows = await db
    .selectFrom('feed_links')
    .select(['id', 'subscription_id', 'created_at', 'rotated_at'])
    .where('person_id', '=', subscription.person_id)
    .where('subscription_id', '=', subscriptionId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return { items: rows.map((row) => view(row, live)) };
}

/** Every feed link of every one of the person's subscriptions, oldest first: the export's part. */
export async function allFeedLinksForPerson(db: Kysely<Database>, personId: string): Promise<FeedLinkView[]> {
  const now = new Date();
  const rows = await db
    .selectFrom('feed_links as l')
    .innerJoin('subscriptions as s', (join) => join.onRef('s.person_id', '=', 'l.person_id').onRef('s.id', '=', 'l.subscription_id'))
    .select(['l.id', 'l.subscription_id', 'l.created_at', 'l.rotated_at', 's.status', 's.expires_at'])
    .where('l.person_id', '=', personId)
    .orderBy('l.created_at')
    .orderBy('l.id')
    .execute();
  return rows.map((row) => view(row, isLive(row.status, row.expires_at, now)));
}

/**
 * The person gives a link a new capability: the old URL stops working at once, the new one is
 * answered (once). Only a live link is worth rotating; a dead grant's links stay dead.
 */
export async function rotateFeedLink(db: Kysely<Database>, personId: string, subscriptionId: string, linkId: string, publicUrl: string): Promise<IssuedFeedLink> {
  return db.transaction().execute(async (trx) => {
    const subscription = await ownedSubscription(trx, { personId }, subscriptionId, true);
    const status = effectiveStatus(subscription.status, subscription.expires_at);
    const { capability, digest } = newCapability();
    const row = await trx
      .updateTable('feed_links')
      .set({ digest, rotated_at: new Date() })
      .where('person_id', '=', personId)
      .where('subscription_id', '=', subscriptionId)
      .where('id', '=', linkId)
      .returning(['id', 'subscription_id', 'created_at', 'rotated_at'])
      .executeTakeFirst();
    if (!row) throw notFound('No feed link with this id.');
    if (status !== 'active') {
      // Thrown after the lookup so an unknown link is a 404 whatever the grant; the transaction rolls back.
      throw new ProblemError('invalid-state', `This subscription is ${status}: its feed links serve nothing and cannot be rotated.`, {
        extensions: { subscriptionStatus: status },
      });
    }
    return { ...view(row, true), url: feedLinkUrl(publicUrl, capability) };
  });
}

/** The person or the vendor kills a link: its URL stops working at once. */
export async function deleteFeedLink(db: Kysely<Database>, owner: Owner, subscriptionId: string, linkId: string): Promise<void> {
  const subscription = await ownedSubscription(db, owner, subscriptionId, false);
  const deleted = await db
    .deleteFrom('feed_links')
    .where('person_id', '=', subscription.person_id)
    .where('subscription_id', '=', subscriptionId)
    .where('id', '=', linkId)
    .executeTakeFirst();
  if (deleted.numDeletedRows === 0n) throw notFound('No feed link with this id.');
}
