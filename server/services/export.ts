import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { notFound } from '../errors.js';
import { getPerson } from './accounts.js';
import { eventView, type EventView } from './events.js';
import { allFeedLinksForPerson } from './feed-links.js';
import { needView, type NeedView } from './needs.js';
import { allOffersForPerson } from './offers.js';
import { getProfile } from './profile.js';
import { accessLog, listReceipts, listSubscriptions } from './subscriptions.js';

export interface PersonExport {
  format: 'proffer-export/1';
  exportedAt: string;
  person: NonNullable<Awaited<ReturnType<typeof getPerson>>>;
  profile: { document: Record<string, unknown>; version: number; updatedAt: string | null };
  terms: Record<string, unknown>[];
  needs: NeedView[];
  events: EventView[];
  sessions: { id: string; createdAt: string; expiresAt: string; revoked: boolean }[];
  subscriptions: unknown[];
  accessLog: unknown[];
  receipts: unknown[];
  offers: unknown[];
  feedLinks: unknown[];
}

const EVERYTHING = 1_000_000;

/** Everything held about one person, read in one transaction so the parts agree with each other. */
export async function exportPerson(db: Kysely<Database>, personId: string): Promise<PersonExport> {
  return db.transaction().execute(async (trx) => {
    const person = await getPerson(trx, personId);
    if (!person) throw notFound('No such person.');
    const profile = await getProfile(trx, personId);
    const terms = await trx.selectFrom('terms').select(['version', 'document', 'created_at']).where('person_id', '=', personId).orderBy('version').execute();
    const needs = await trx.selectFrom('needs').selectAll().where('person_id', '=', personId).orderBy('created_at').orderBy('id').execute();
    const events = await trx.selectFrom('events').selectAll().where('person_id', '=', personId).orderBy('id').execute();
    const sessions = await trx
      .selectFrom('sessions')
      .select(['id', 'created_at', 'expires_at', 'revoked_at'])
      .where('person_id', '=', personId)
      .orderBy('created_at')
      .execute();
    const subscriptions = await listSubscriptions(trx, { personId }, { limit: EVERYTHING });
    const reads = await accessLog(trx, personId, { limit: EVERYTHING });
    const receipts = await listReceipts(trx, personId, { limit: EVERYTHING });
    const offers = await allOffersForPerson(trx, personId);
    const feedLinks = await allFeedLinksForPerson(trx, personId);
    return {
      format: 'proffer-export/1',
      exportedAt: new Date().toISOString(),
      person,
      profile: { document: profile.document, version: profile.version, updatedAt: profile.updatedAt?.toISOString() ?? null },
      terms: terms.map((row) => ({ ...row.document, version: row.version, createdAt: row.created_at.toISOString() })),
      needs: needs.map((row) => needView(row)),
      events: events.map(eventView),
      sessions: sessions.map((s) => ({
        id: s.id,
        createdAt: s.created_at.toISOString(),
        expiresAt: s.expires_at.toISOString(),
        revoked: s.revoked_at !== null,
      })),
      subscriptions: subscriptions.items,
      accessLog: reads.items.reverse(),
      receipts: receipts.items.reverse(),
      offers,
      feedLinks,
    };
  });
}
