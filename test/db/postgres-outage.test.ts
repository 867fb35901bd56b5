import { createServer, connect, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../server/app.js';
import { createContext, type AppContext } from '../../server/context.js';
import { openDatabase } from '../../server/db/database.js';
import { TEST_PASSWORD, testConfig } from '../helpers/server.js';
import type { FastifyInstance } from 'fastify';

const url = process.env.DATABASE_URL;

/** A TCP relay between the server and PostgreSQL that the test can cut and restore. */
function relay(target: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  let up = true;
  const server: Server = createServer((client) => {
    if (!up) return client.destroy();
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    }
    client.pipe(upstream).pipe(client);
  });
  return {
    listen: () => new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port))),
    /** As a restarting server looks from outside: every connection dropped, new ones refused. */
    cut: () => {
      up = false;
      for (const socket of sockets) socket.destroy();
    },
    restore: () => {
      up = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

// PostgreSQL only: the embedded database cannot go away underneath the process.
describe.runIf(url)('PostgreSQL going away and coming back', () => {
  const schema = `outage_${randomBytes(4).toString('hex')}`;
  let proxy: ReturnType<typeof relay>;
  let ctx: AppContext;
  let app: FastifyInstance;
  let token: string;

  beforeAll(async () => {
    const target = new URL(url as string);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`create schema ${schema}`);
    await admin.end();
    proxy = relay({ host: target.hostname, port: Number(target.port) });
    const port = await proxy.listen();
    target.host = `127.0.0.1:${port}`;
    // Named, so the termination below reaches this test's connections and no other file's.
    target.searchParams.set('application_name', schema);
    const database = await openDatabase({ databaseUrl: target.toString(), searchPath: schema, poolSize: 4 });
    ctx = await createContext(testConfig(), { database });
    app = await buildApp(ctx, { logger: false });
    await app.ready();
    await app.inject({ method: 'POST', url: '/v1/people', payload: { handle: 'outage', password: TEST_PASSWORD } });
    const login = await app.inject({ method: 'POST', url: '/v1/token', payload: { grant_type: 'password', username: 'outage', password: TEST_PASSWORD } });
    token = login.json().access_token;
  });

  afterAll(async () => {
    proxy?.restore();
    await app?.close();
    // Teardown must not hang on a connection the outage left half-open: bounded, then cut.
    await Promise.race([ctx?.close(), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    await proxy?.close();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
  });

  const readProfile = () => app.inject({ method: 'GET', url: '/v1/me/profile', headers: { authorization: `Bearer ${token}` } });

  it('answers 503 problems while the database is away, and recovers by itself', async () => {
    expect((await readProfile()).statusCode).toBe(200);

    proxy.cut();
    for (let i = 0; i < 3; i++) {
      const during = await readProfile();
      expect(during.statusCode).toBe(503);
      expect(during.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(during.headers['retry-after']).toBe('5');
      expect(during.json().type).toBe('https://proffer.dev/problems/unavailable');
    }
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    const health = await app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200);

    proxy.restore();
    // The pool reconnects on the next request; no restart, no manual step.
    const after = await readProfile();
    expect(after.statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });

  it('survives the server terminating its connections (an administrator restart)', async () => {
    expect((await readProfile()).statusCode).toBe(200);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const terminated = await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1`, [schema]);
    expect(terminated.rowCount).toBeGreaterThan(0);
    await admin.end();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await readProfile()).statusCode);
    // Requests that met a dead connection fail cleanly; the pool then replaces it.
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    expect(statuses.at(-1)).toBe(200);
  });
});
