import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { inject } from 'vitest';
import { buildApp } from '../../server/app.js';
import { loadConfig, type Config } from '../../server/config.js';
import { createContext, type AppContext } from '../../server/context.js';
import { openDatabase, type DatabaseHandle } from '../../server/db/database.js';
import { Dispatcher } from '../../server/push/dispatcher.js';
import { Proffer, type PersonClient, type VendorClient } from '../../clients/sdk/index.js';
import { injectFetch } from './inject-fetch.js';

export const TEST_PASSWORD = 'correct horse battery staple';

export interface TestServer {
  app: FastifyInstance;
  ctx: AppContext;
  request(options: InjectOptions): Promise<LightMyRequestResponse>;
  /** The SDK, bound to this app (its fetch is `app.inject`): what person() and vendor() go through. */
  sdk: Proffer;
  /** Signs a person up and logs in (through the SDK): their handle, id, tokens and SDK client. */
  person(handle?: string): Promise<TestPerson>;
  vendor(name?: string): Promise<TestVendor>;
  close(): Promise<void>;
}

export interface TestPerson {
  id: string;
  handle: string;
  accessToken: string;
  refreshToken: string;
  auth: { authorization: string };
  /** The SDK's client of this person (renews its own tokens; `accessToken` above is the first one). */
  client: PersonClient;
}

export interface TestVendor {
  id: string;
  clientId: string;
  clientSecret: string;
  accessToken: string;
  refreshToken: string;
  auth: { authorization: string };
  client: VendorClient;
}

let handleCounter = 0;
export const uniqueHandle = (prefix = 'p') => `${prefix}-${process.pid}-${++handleCounter}-${randomBytes(2).toString('hex')}`;

/** A database of this test file's own: a PGlite loaded from the migrated template, or a fresh PostgreSQL schema. */
export async function openTestDatabase(): Promise<{ database: DatabaseHandle; drop: () => Promise<void> }> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const database = await openDatabase({ loadDataDir: new Blob([readFileSync(inject('pgliteTemplate'))]) });
    return { database, drop: async () => {} };
  }
  const schema = `test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const database = await openDatabase({ databaseUrl: url, searchPath: schema, poolSize: 5 });
  return {
    database,
    drop: async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`drop schema ${schema} cascade`);
      await client.end();
    },
  };
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  // Public intents show at once in tests (test/api/intents.test.ts turns batching on where it tests it).
  return loadConfig({ PORT: '0', PROFFER_KDF_COST: '10', PROFFER_PUBLIC_URL: 'http://proffer.test', PROFFER_LOG_LEVEL: 'silent', PROFFER_INTENT_BATCHING: 'false', ...overrides });
}

/** `worker`: also run the webhook dispatcher (as `npm start` does); close() stops it. */
export async function startTestServer(options: { env?: Record<string, string>; logLines?: string[]; worker?: boolean } = {}): Promise<TestServer> {
  const { database, drop } = await openTestDatabase();
  const ctx = await createContext(testConfig(options.env), { database, validateResponses: true });
  const lines = options.logLines;
  const app = await buildApp(ctx, {
    logger: lines ? { level: 'trace', stream: { write: (line: string) => void lines.push(line) } } : false,
  });
  await app.ready();
  const dispatcher = options.worker ? new Dispatcher(ctx, app.log) : undefined;
  dispatcher?.start();

  const request = (opts: InjectOptions) => app.inject(opts);

  // Every test file signs its people and vendors up through the SDK, so every run exercises it.
  const sdk = new Proffer({ baseUrl: ctx.config.publicUrl, fetch: injectFetch(app) });

  const person = async (handle = uniqueHandle()): Promise<TestPerson> => {
    const { id } = await sdk.signUp({ handle, password: TEST_PASSWORD });
    const client = await sdk.loginPerson(handle, TEST_PASSWORD);
    const { accessToken, refreshToken } = client.tokens;
    return { id, handle, accessToken, refreshToken, auth: { authorization: `Bearer ${accessToken}` }, client };
  };

  const vendor = async (name = 'Test Vendor'): Promise<TestVendor> => {
    const { id, client_id, client_secret } = await sdk.registerVendor({ name, homepage: 'https://vendor.example', contact: 'privacy@vendor.example' });
    const client = await sdk.loginVendor(client_id, client_secret);
    const { accessToken, refreshToken } = client.tokens;
    return { id, clientId: client_id, clientSecret: client_secret, accessToken, refreshToken, auth: { authorization: `Bearer ${accessToken}` }, client };
  };

  return {
    app,
    ctx,
    request,
    sdk,
    person,
    vendor,
    close: async () => {
      await dispatcher?.stop(2_000);
      await app.close();
      await ctx.close();
      await drop();
    },
  };
}
