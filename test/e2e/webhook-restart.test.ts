import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver, verifySignature, type Delivery, type Receiver } from '../helpers/webhook-receiver.js';
import { SpawnedDatabase } from '../helpers/spawned-database.js';

/**
 * The real server (`node --import tsx server/main.ts`, as `npm start` runs it) delivering to a
 * receiver on 127.0.0.1: killed with SIGKILL in the middle of a delivery and started again on the
 * same database, it loses nothing; and (PostgreSQL) two processes at once never deliver one
 * subscription's messages at the same time.
 */

const root = new URL('../../', import.meta.url).pathname;
const PASSWORD = 'correct horse battery staple';
const WEBHOOK_ENV = {
  PROFFER_WEBHOOK_ALLOW_HTTP_LOOPBACK: 'true',
  PROFFER_WEBHOOK_TIMEOUT_MS: '2000',
  PROFFER_WEBHOOK_POLL_MS: '100',
  PROFFER_WEBHOOK_RETRY_BASE_MS: '100',
  PROFFER_WEBHOOK_RETRY_CAP_MS: '500',
  PROFFER_KDF_COST: '10',
};

const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });

const running = new Set<ChildProcess>();
const receivers: Receiver[] = [];
afterAll(async () => {
  for (const child of running) child.kill('SIGKILL');
  for (const r of receivers) await r.close();
});

interface Started {
  child: ChildProcess;
  base: string;
  output: () => string;
}

/** Starts the server; answers once it listens, or throws with its output if it exits first. */
async function startServer(env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: root,
    env: { ...process.env, PORT: String(await freePort()), PROFFER_LOG_LEVEL: 'warn', DATABASE_URL: '', ...WEBHOOK_ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  const base = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Proffer listening on (http:\/\/[^\s]+)/.exec(output);
      if (match?.[1]) resolve(match[1]);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => {
      running.delete(child);
      reject(new Error(`server exited with ${code}: ${output}`));
    });
  });
  return { child, base, output: () => output };
}

/**
 * After a SIGKILL the embedded database's folder stays locked until its lock goes stale (15 s):
 * a restart is refused until then, as it would be for an operator. Try until it starts.
 */
async function restart(env: Record<string, string>): Promise<Started> {
  const deadline = Date.now() + 45_000;
  for (;;) {
    try {
      return await startServer(env);
    } catch (error) {
      if (!/in use by another Proffer process/.test((error as Error).message) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
}

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

async function api(base: string, method: string, path: string, options: { token?: string; body?: unknown } = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body !== undefined ? { 'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json' } : {}),
    },
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function expectOk(promise: Promise<{ status: number; json: Record<string, unknown> }>, status = 200) {
  const response = await promise;
  expect(response.status, JSON.stringify(response.json)).toBe(status);
  return response.json;
}

/** A person with terms granting names to shops, and a vendor subscribed with a webhook at `url`. */
async function setUp(base: string, url: string, vendors = 1): Promise<{ token: string; subscriptions: { id: string; secret: string }[] }> {
  const handle = `wh-${randomBytes(4).toString('hex')}`;
  await expectOk(api(base, 'POST', '/v1/people', { body: { handle, password: PASSWORD } }), 201);
  const token = (await expectOk(api(base, 'POST', '/v1/token', { body: { grant_type: 'password', username: handle, password: PASSWORD } }))).access_token as string;
  const terms = await expectOk(api(base, 'PUT', '/v1/me/terms', { token, body: { title: 'Names', rules: [{ id: 'names', effect: 'permit', fields: ['name'], purposes: ['fulfillment'] }] } }));
  const subscriptions: { id: string; secret: string }[] = [];
  for (let i = 0; i < vendors; i++) {
    const vendor = await expectOk(api(base, 'POST', '/v1/vendors', { body: { name: `Shop ${i}`, homepage: 'https://shop.example', contact: 'privacy@shop.example' } }), 201);
    const vendorToken = (await expectOk(api(base, 'POST', '/v1/token', { body: { grant_type: 'client_credentials', client_id: vendor.client_id, client_secret: vendor.client_secret } }))).access_token as string;
    const subscription = await expectOk(
      api(base, 'POST', '/v1/subscriptions', {
        token: vendorToken,
        body: { person: handle, fields: [{ path: 'name', purpose: 'fulfillment', required: true, retentionDays: 30 }], accepts: { termsVersion: terms.version, duties: {} } },
      }),
      201,
    );
    const webhook = await expectOk(api(base, 'PUT', `/v1/subscriptions/${subscription.id}/webhook`, { token: vendorToken, body: { url } }), 201);
    subscriptions.push({ id: subscription.id as string, secret: webhook.secret as string });
  }
  return { token, subscriptions };
}

const isAccepted = (d: Delivery) => typeof d.answer === 'number' && d.answer >= 200 && d.answer < 300;
const versionOf = (d: Delivery) => d.message.data.version as number;

describe('webhook delivery across processes', () => {
  const database = new SpawnedDatabase('proffer-webhook-e2e');
  let env: Record<string, string>;

  beforeAll(async () => {
    env = await database.env();
  });

  afterAll(async () => {
    await database.remove();
  });

  it('killed (SIGKILL) in the middle of a delivery and restarted: every message delivered, in order', { timeout: 120_000 }, async () => {
    const receiver = await startReceiver();
    receivers.push(receiver);
    // Nothing is answered: the first delivery hangs, and the server is killed while it waits.
    receiver.behave(() => ({ hang: true }));
    const first = await startServer(env);
    const { token, subscriptions } = await setUp(first.base, receiver.url('/restart'));
    const [{ secret }] = subscriptions as [{ id: string; secret: string }];
    const versions: number[] = [];
    for (let i = 1; i <= 6; i++) {
      await expectOk(api(first.base, 'PATCH', '/v1/me/profile', { token, body: { name: { given: `Ada ${i}` } } }));
      versions.push(i);
    }
    await receiver.waitFor((d) => d.length >= 1, 15_000, 'a delivery in progress');
    first.child.kill('SIGKILL');
    await exited(first.child);
    receiver.behave(() => ({ status: 204 }));

    const second = await restart(env);
    await receiver.waitFor((d) => new Set(d.filter(isAccepted).map(versionOf)).size === versions.length, 60_000, 'every message after the restart');

    const all = receiver.deliveries;
    // The interrupted message was delivered again, under the same webhook-id (receivers deduplicate by it).
    expect(all[0]?.answer).toBe('dropped');
    const redelivered = all.find((d, i) => i > 0 && isAccepted(d) && d.headers['webhook-id'] === all[0]?.headers['webhook-id']);
    expect(redelivered).toBeDefined();
    // Every message accepted, in order; and never a later one sent before an earlier was accepted.
    const firstAcceptance = [...new Map(all.filter(isAccepted).map((d) => [d.headers['webhook-id'], versionOf(d)])).values()];
    expect(firstAcceptance).toEqual(versions);
    const sent = all.map(versionOf);
    expect(sent).toEqual([...sent].sort((a, b) => a - b));
    for (const delivery of all.filter(isAccepted)) expect(verifySignature(secret, delivery)).toMatchObject({ type: 'profile.updated' });
    expect(receiver.overlaps).toEqual([]);

    second.child.kill('SIGTERM');
    expect(await exited(second.child)).toBe(0);
  });

  it.runIf(process.env.DATABASE_URL)('two processes on one PostgreSQL never deliver one subscription\'s messages at the same time', { timeout: 120_000 }, async () => {
    const receiver = await startReceiver();
    receivers.push(receiver);
    // Slow enough answers that two deliverers would overlap if they could.
    receiver.behave(() => ({ status: 204, delayMs: 40 }));
    // One public URL for both (a token either issues is good at the other), and fewer delivery
    // slots per process than subscriptions, so that both processes must deliver.
    const shared = { ...env, PROFFER_PUBLIC_URL: 'http://proffer.e2e', PROFFER_WEBHOOK_CONCURRENCY: '2' };
    const [a, b] = await Promise.all([startServer(shared), startServer(shared)]);
    const servers = [a as Started, b as Started];
    const people = [];
    for (let i = 0; i < 3; i++) people.push(await setUp(servers[i % 2]!.base, receiver.url('/pair'), 2));

    // Watch which processes hold leases while they deliver.
    const watcher = new pg.Client({ connectionString: env.DATABASE_URL });
    await watcher.connect();
    const owners = new Set<string>();
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const { rows } = await watcher.query<{ lease_owner: string }>('select lease_owner from webhooks where lease_owner is not null');
        for (const row of rows) owners.add(row.lease_owner.split(':')[1] as string);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    try {

    const changes = 5;
    await Promise.all(
      people.map(async ({ token }, p) => {
        for (let i = 1; i <= changes; i++) {
          // Alternate the processes, so both are nudged by writes and both poll.
          await expectOk(api(servers[(p + i) % 2]!.base, 'PATCH', '/v1/me/profile', { token, body: { name: { given: `P${p} ${i}` } } }));
        }
      }),
    );
    const expected = people.length * 2 * changes;
    await receiver.waitFor((d) => new Set(d.filter(isAccepted).map((x) => x.headers['webhook-id'])).size === expected, 60_000, 'every message');
    } finally {
      watching = false;
      await watch;
      await watcher.end();
    }

    expect(receiver.overlaps).toEqual([]);
    const bySubscription = new Map<string, number[]>();
    for (const d of receiver.deliveries.filter(isAccepted)) {
      bySubscription.set(d.message.data.subscription, [...(bySubscription.get(d.message.data.subscription) ?? []), versionOf(d)]);
    }
    expect(bySubscription.size).toBe(people.length * 2);
    for (const seen of bySubscription.values()) expect([...new Set(seen)]).toEqual([1, 2, 3, 4, 5]);
    // Both processes took part.
    expect(owners.size).toBe(2);

    for (const s of servers) s.child.kill('SIGTERM');
    expect(await Promise.all(servers.map((s) => exited(s.child)))).toEqual([0, 0]);
  });
});
