import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpawnedDatabase } from '../helpers/spawned-database.js';

const root = new URL('../../', import.meta.url).pathname;

const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });

const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
});

/** `npm start` as a person runs it (node + tsx, the same command), on a free port. */
async function startServer(env: Record<string, string>): Promise<{ child: ChildProcess; output: () => string; listening: Promise<string> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: root,
    env: { ...process.env, PORT: String(await freePort()), PROFFER_LOG_LEVEL: 'warn', DATABASE_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const listening = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Proffer listening on (http:\/\/[^\s]+)[\s\S]*API reference/.exec(output);
      if (match?.[1]) resolve(match[1]);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => {
      running.delete(child);
      reject(new Error(`server exited with ${code}: ${output}`));
    });
  });
  listening.catch(() => {});
  running.add(child);
  return { child, output: () => output, listening };
}

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

describe('npm start', () => {
  const database = new SpawnedDatabase('proffer-e2e');
  let env: Record<string, string>;

  beforeAll(async () => {
    env = await database.env();
  });

  afterAll(async () => {
    await database.remove();
  });

  it("serves the README's walkthrough, prints where it listens, and stops gracefully on SIGTERM", async () => {
    const server = await startServer(env);
    const base = await server.listening;
    expect(server.output()).toMatch(/API reference: .*\/docs/);

    // The walkthrough exactly as the README shows it, pointed at this server.
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const script = /## Walkthrough[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(script).toBeDefined();
    const run = spawnSync('bash', ['-euo', 'pipefail', '-c', (script as string).replace('B=http://127.0.0.1:8080', `B=${base}`)], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status, run.stderr).toBe(0);
    const out = run.stdout;
    expect(out).toContain('"handle":"ada"');
    expect(out).toContain('<given>Ada</given>');
    expect(out).toContain('"work":"ada@analytical.example"');
    expect(out).toContain('"title":"A second-hand road bike, 54 cm frame"');
    expect(out).toMatch(/<feed xmlns="http:\/\/www.w3.org\/2005\/Atom">[\s\S]*New need: A second-hand road bike/);
    expect(out).toContain('"id":"fulfillment-only"');
    expect(out).toContain('"title":"Deliveries, nothing else"');
    expect(out).toMatch(/"outcome":"active"/);
    expect(out).toMatch(/"status":"pending"/);
    expect(out).toContain('"statusReason":"Approved, narrowed, by the person."');
    // The shop's read: exactly name and the home address, nothing else of the profile.
    expect(out).toContain('{"name":{"given":"Ada","family":"Lovelace"},"addresses":{"home":');
    expect(out).toMatch(/"what":"profile","fields":\["name","addresses.home"\]/);
    // The shop's feed carries the granted change and revalidates; the capability link serves the
    // same feed as JSON Feed, and dies with the grant.
    expect(out).toMatch(/<feed xmlns="http:\/\/www.w3.org\/2005\/Atom"[^>]*>[\s\S]*urn:proffer:subscription:/);
    expect(out).toContain('revalidated: 304');
    expect(out).toContain('"version":"https://jsonfeed.org/version/1.1"');
    expect(out).toMatch(/"what":"feed-link"/);
    expect(out).toContain('link after revoke: 404');
    expect(out).toContain('"type":"https://proffer.dev/problems/grant-inactive"');
    expect(out).toContain('"format":"proffer-export/1"');
    expect(out).not.toContain('"status":500');

    server.child.kill('SIGTERM');
    expect(await exited(server.child)).toBe(0);
  });

  it.runIf(!process.env.DATABASE_URL)('refuses to share its data folder with a second server, with a clear message', async () => {
    const first = await startServer(env);
    await first.listening;
    const second = await startServer(env);
    const code = await exited(second.child);
    expect(code).toBe(1);
    expect(second.output()).toContain('is in use by another Proffer process');
    first.child.kill('SIGTERM');
    expect(await exited(first.child)).toBe(0);
    // After a clean stop the folder is free again.
    const third = await startServer(env);
    await third.listening;
    third.child.kill('SIGINT');
    expect(await exited(third.child)).toBe(0);
  });

  it('refuses a bad configuration with a one-line reason and no stack', async () => {
    const server = await startServer({ ...env, PORT: 'eighty' });
    expect(await exited(server.child)).toBe(1);
    expect(server.output().trim()).toBe('proffer: PORT must be a whole number, got "eighty"');
  });
});
