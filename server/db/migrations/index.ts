import type { Migration, MigrationProvider } from 'kysely';
import * as foundation from './0001-foundation.js';
import * as terms from './0002-terms.js';
import * as subscriptions from './0003-subscriptions.js';
import * as receipts from './0004-receipts.js';
import * as feedLinks from './0005-feed-links.js';
import * as webhooks from './0006-webhooks.js';
import * as intentsOffers from './0007-intents-offers.js';
import * as grantVersion from './0008-grant-version.js';
import * as needIdempotency from './0009-need-idempotency.js';

/** Every migration, in order. Listed explicitly: no file-system discovery at run time. */
const migrations: Record<string, Migration> = {
  '0001-foundation': foundation,
  '0002-terms': terms,
  '0003-subscriptions': subscriptions,
  '0004-receipts': receipts,
  '0005-feed-links': feedLinks,
  '0006-webhooks': webhooks,
  '0007-intents-offers': intentsOffers,
  '0008-grant-version': grantVersion,
  '0009-need-idempotency': needIdempotency,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
