import type { Migration, MigrationProvider } from 'kysely';
import * as foundation from './0001-foundation.js';
import * as terms from './0002-terms.js';
import * as subscriptions from './0003-subscriptions.js';
import * as receipts from './0004-receipts.js';

/** Every migration, in order. Listed explicitly: no file-system discovery at run time. */
const migrations: Record<string, Migration> = {
  '0001-foundation': foundation,
  '0002-terms': terms,
  '0003-subscriptions': subscriptions,
  '0004-receipts': receipts,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
