// `npm run migrate`: brings the configured database to the latest schema and exits.
import { loadConfig } from '../config.js';
import { migrateToLatest, openDatabase } from './database.js';

const config = loadConfig();
const handle = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
try {
  const applied = await migrateToLatest(handle.db);
  await handle.analyze();
  const where = config.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : config.dataDir;
  console.log(applied.length ? `Applied ${applied.join(', ')} to ${where}` : `${where} is up to date`);
} finally {
  await handle.close();
}
