import { randomBytes } from 'node:crypto';
import type { ValidateFunction } from 'ajv';
import type { Kysely } from 'kysely';
import type { Config } from './config.js';
import { migrateToLatest, openDatabase, type DatabaseHandle } from './db/database.js';
import type { Database } from './db/schema.js';
import { loadContract, SCHEMA_BASE, type Contract } from './http/contract.js';
import { loadReceiptKeys, type ReceiptKeys } from './services/receipts.js';

/**
 * The composition root: everything a request may need, built once from the configuration.
 * Tests pass overrides (an already opened database, a cheaper KDF) instead of patching modules.
 */
export interface AppContext {
  config: Config;
  database: DatabaseHandle;
  db: Kysely<Database>;
  contract: Contract;
  /** Validators of documents the services check beyond the request schema (patched results). */
  validators: { profile: ValidateFunction; needInput: ValidateFunction };
  /** HS256 key for access tokens, shared by every server process through the database. */
  tokenKey: string;
  /** Signs consent receipts; its public half is served at /.well-known/jwks.json. */
  receiptKeys: ReceiptKeys;
  /** In tests: every response is checked against openapi.yaml. */
  validateResponses: boolean;
  /** Database work of requests in flight, so shutdown can let it finish before closing the database. */
  inFlight: InFlight;
  /** Set by the app once its logger exists: a PostgreSQL pool error is logged, never fatal. */
  hooks: { onPoolError: (error: Error) => void };
  close(): Promise<void>;
}

/**
 * A client that disconnects does not stop its handler: closing the HTTP server can return while
 * handlers still query. Shutdown waits here (bounded) before it closes the database.
 */
export class InFlight {
  private running = 0;
  private idle: (() => void)[] = [];
  // One settle handler for all work: tracking costs no closure per request.
  private readonly settled = () => {
    this.running -= 1;
    if (this.running === 0) for (const wake of this.idle.splice(0)) wake();
  };

  track<T>(work: Promise<T>): Promise<T> {
    this.running += 1;
    work.then(this.settled, this.settled);
    return work;
  }

  get size(): number {
    return this.running;
  }

  async drain(timeoutMs: number): Promise<void> {
    if (this.running === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([new Promise<void>((resolve) => this.idle.push(resolve)), timeout]);
    clearTimeout(timer);
  }
}

export interface ContextOverrides {
  database?: DatabaseHandle;
  validateResponses?: boolean;
}

export async function createContext(config: Config, overrides: ContextOverrides = {}): Promise<AppContext> {
  const contract = loadContract();
  const ajv = contract.createAjv();
  const hooks = { onPoolError: (_error: Error) => {} };
  const database =
    overrides.database ??
    (await openDatabase({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      poolSize: config.databasePoolSize,
      onPoolError: (error) => hooks.onPoolError(error),
    }));
  try {
    await migrateToLatest(database.db);
    await database.analyze();
    const tokenKey = await loadOrCreateSecret(database.db, 'access-token-hs256');
    const receiptKeys = await loadReceiptKeys(database.db);
    return {
      config,
      database,
      db: database.db,
      contract,
      validators: {
        profile: ajv.getSchema(`${SCHEMA_BASE}profile.json`) as ValidateFunction,
        needInput: ajv.getSchema(`${SCHEMA_BASE}need.json#/$defs/needInput`) as ValidateFunction,
      },
      tokenKey,
      receiptKeys,
      validateResponses: overrides.validateResponses ?? false,
      hooks,
      inFlight: new InFlight(),
      close: () => database.close(),
    };
  } catch (error) {
    if (!overrides.database) await database.close();
    throw error;
  }
}

/** First process to start creates the secret; every later one (and every restart) reads it. */
async function loadOrCreateSecret(db: Kysely<Database>, name: string): Promise<string> {
  await db
    .insertInto('server_secrets')
    .values({ name, value: randomBytes(32).toString('base64url') })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const row = await db.selectFrom('server_secrets').select('value').where('name', '=', name).executeTakeFirstOrThrow();
  return row.value;
}
