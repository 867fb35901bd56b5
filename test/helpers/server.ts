import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { inject } from 'vitest';
import { buildApp } from '../../server/app.js';
import { loadConfig, type Config } from '../../server/config.js';
import { createContext, type AppContext } from '../../server/context.js';
import { openDatabase, type DatabaseHandle } from '../../server/db/database.js';

export const TEST_PASSWORD = 'correct horse battery staple';

export interface TestServer {
  app: FastifyInstance;
  ctx: AppContext;
  request(options: InjectOptions): Promise<LightMyRequestResponse>;
  /** Signs a person up and logs in: their handle, id and tokens. */
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
}

export interface TestVendor {
  id: string;
  clientId: string;
  clientSecret: string;
  accessToken: string;
  refreshToken: string;
  auth: { authorization: string };
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
  return loadConfig({ PORT: '0', PROFFER_KDF_COST: '10', PROFFER_PUBLIC_URL: 'http://proffer.test', PROFFER_LOG_LEVEL: 'silent', ...overrides });
}

export async function startTestServer(options: { env?: Record<string, string>; logLines?: string[] } = {}): Promise<TestServer> {
  const { database, drop } = await openTestDatabase();
  const ctx = await createContext(testConfig(options.env), { database, validateResponses: true });
  const lines = options.logLines;
  const app = await buildApp(ctx, {
    logger: lines ? { level: 'trace', stream: { write: (line: string) => void lines.push(line) } } : false,
  });
  await app.ready();

  const request = (opts: InjectOptions) => app.inject(opts);

  const person = async (handle = uniqueHandle()): Promise<TestPerson> => {
    const signUp = await request({ method: 'POST', url: '/v1/people', payload: { handle, password: TEST_PASSWORD } });
    if (signUp.statusCode !== 201) throw new Error(`sign-up failed: ${signUp.body}`);
    const token = await request({
      method: 'POST',
      url: '/v1/token',
      payload: { grant_type: 'password', username: handle, password: TEST_PASSWORD },
    });
    if (token.statusCode !== 200) throw new Error(`login failed: ${token.body}`);
    const { access_token, refresh_token } = token.json();
    return { id: signUp.json().id, handle, accessToken: access_token, refreshToken: refresh_token, auth: { authorization: `Bearer ${access_token}` } };
  };

  const vendor = async (name = 'Test Vendor'): Promise<TestVendor> => {
    const registered = await request({
      method: 'POST',
      url: '/v1/vendors',
      payload: { name, homepage: 'https://vendor.example', contact: 'privacy@vendor.example' },
    });
    if (registered.statusCode !== 201) throw new Error(`vendor registration failed: ${registered.body}`);
    const { id, client_id, client_secret } = registered.json();
    const token = await request({
      method: 'POST',
      url: '/v1/token',
      payload: { grant_type: 'client_credentials', client_id, client_secret },
    });
    if (token.statusCode !== 200) throw new Error(`vendor login failed: ${token.body}`);
    const { access_token, refresh_token } = token.json();
    return { id, clientId: client_id, clientSecret: client_secret, accessToken: access_token, refreshToken: refresh_token, auth: { authorization: `Bearer ${access_token}` } };
  };

  return {
    app,
    ctx,
    request,
    person,
    vendor,
    close: async () => {
      await app.close();
      await ctx.close();
      await drop();
    },
  };
}
