import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite, types as pgliteTypes } from '@electric-sql/pglite';
import { CompiledQuery, Kysely, Migrator, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import lockfile from 'proper-lockfile';
import { migrationProvider } from './migrations/index.js';
import { PGliteDialect } from './pglite-dialect.js';
import type { Database } from './schema.js';

export type DatabaseKind = 'pglite' | 'postgres';

export interface DatabaseHandle {
  db: Kysely<Database>;
  kind: DatabaseKind;
  /** The embedded database itself (PGlite only): tests dump a migrated image from it. */
  pglite?: PGlite;
  /** Runs ANALYZE on our tables so the planner knows their sizes and uses the indexes. */
  analyze(): Promise<void>;
  /**
   * Runs one of the few statements of a hot path, outside any transaction: on PostgreSQL as a
   * named prepared statement, parsed and planned once per connection rather than per call (the
   * planning of a join can cost several times its execution); on PGlite as a plain query.
   */
  prepared<R>(name: string, text: string, values: readonly unknown[]): Promise<R[]>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** PostgreSQL server URL; when absent the embedded PGlite database in `dataDir` is used. */
  databaseUrl?: string | undefined;
  /** Folder of the embedded database. Omitted together with databaseUrl: an in-memory database. */
  dataDir?: string | undefined;
  /** An embedded database image to start from (tests copy one migrated template). */
  loadDataDir?: Blob | undefined;
  poolSize?: number;
  /** PostgreSQL only: the schema to work in (tests give each file its own). */
  searchPath?: string | undefined;
  onPoolError?: (error: Error) => void;
}

export class DataDirLockedError extends Error {}

// Both drivers answer int8 as a string and `date` as 'YYYY-MM-DD', so the code above them never
// sees a driver's choice (pg would make a local-time Date of a date; PGlite a number of an int8).
const passThrough = (value: string) => value;

export async function openDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  if (options.databaseUrl) return openPostgres(options.databaseUrl, options);
  return openPGlite(options);
}

async function openPostgres(url: string, options: DatabaseOptions): Promise<DatabaseHandle> {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    ...(options.searchPath ? { options: `-c search_path=${options.searchPath}` } : {}),
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === 20 || oid === 1082 ? passThrough : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // Without a handler, an idle client's error (the server restarting) would crash the process.
  pool.on('error', (error) => options.onPoolError?.(error));
  // A client checked out of the pool has no pool listener: if its connection drops between two
  // queries it emits 'error' with nobody listening, which would end the process. The query in
  // flight fails on its own (and becomes a 503); this listener only keeps the process alive.
  pool.on('connect', (client) => client.on('error', (error) => options.onPoolError?.(error)));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    kind: 'postgres',
    prepared: async <R>(name: string, text: string, values: readonly unknown[]) => (await pool.query({ name, text, values: [...values] })).rows as R[],
    analyze: async () => {
      // PostgreSQL's autovacuum daemon analyzes by itself.
    },
    close: () => db.destroy(),
  };
}

async function openPGlite(options: DatabaseOptions): Promise<DatabaseHandle> {
  let releaseLock: (() => Promise<void>) | undefined;
  let pgliteDir: string | undefined;
  if (options.dataDir) {
    mkdirSync(options.dataDir, { recursive: true });
    try {
      // The lock lives beside the database files, refreshed while we run, stale after a crash.
      releaseLock = await lockfile.lock(options.dataDir, {
        lockfilePath: join(options.dataDir, 'proffer.lock'),
        stale: 15_000,
        update: 5_000,
        onCompromised: (error) => {
          console.error(`proffer: lost the lock on ${options.dataDir}: ${error.message}; stopping`);
          process.exit(1);
        },
      });
    } catch (error) {
      if ((error as { code?: string }).code === 'ELOCKED') {
        throw new DataDirLockedError(
          `The data folder ${options.dataDir} is in use by another Proffer process. Stop it, or set PROFFER_DATA to another folder.`,
        );
      }
      throw error;
    }
    pgliteDir = join(options.dataDir, 'pgdata');
  }
  let pglite: PGlite;
  try {
    pglite = await PGlite.create({
      ...(pgliteDir ? { dataDir: pgliteDir } : {}),
      ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
      parsers: { [pgliteTypes.INT8]: passThrough, [pgliteTypes.DATE]: passThrough },
    });
  } catch (error) {
    await releaseLock?.();
    throw error;
  }
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  return {
    db,
    kind: 'pglite',
    pglite,
    prepared: async <R>(_name: string, text: string, values: readonly unknown[]) => (await db.executeQuery<R>(CompiledQuery.raw(text, [...values]))).rows,
    analyze: async () => {
      await sql`analyze`.execute(db);
    },
    close: async () => {
      await db.destroy();
      await releaseLock?.();
    },
  };
}

export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  // Kysely looks for its bookkeeping tables in every schema unless told which one: with several
  // schemas on one server (tests, or tenants), it would find another schema's and skip its own.
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  const migrator = new Migrator({ db, provider: migrationProvider, migrationTableSchema: rows[0]?.schema });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
