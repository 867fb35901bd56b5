import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import type { SavedConfig } from '../../clients/cli/config.js';
import { startTestServer, TEST_PASSWORD, uniqueHandle, type TestServer } from '../helpers/server.js';
import { freePort, run, scratch, type Run } from './cli-helpers.js';

/** Each command is a new Node.js process (about a second on a busy machine); a test runs dozens. */
export const SLOW = 180_000;

export const ok = (result: Run) => {
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  return result;
};

/** A failure as the user sees it: this exit status, one clear line, no stack trace. */
export const refused = (result: Run, status: number, message: RegExp) => {
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(status);
  expect(result.stderr).toMatch(message);
  expect(result.stderr).not.toMatch(/\n\s+at .*[\\/].*:\d+/); // no stack frames
  return result;
};

export const NAME = { path: 'name', purpose: 'fulfillment', required: true, retentionDays: 30 };
/** Terms that give any vendor the name for fulfillment at once, under no third-party sharing. */
export const NAME_FOR_ORDERS = { rules: [{ id: 'orders', effect: 'permit', fields: ['name'], purposes: ['fulfillment'], duties: { noThirdPartySharing: true } }] };

/**
 * A test file's Proffer server listening on 127.0.0.1 (started before its tests, closed after),
 * and users of their own driving the `proffer` command against it.
 */
export function useCliServer() {
  let server: TestServer | undefined;
  let base: string | undefined;
  beforeAll(async () => {
    const port = await freePort();
    // The public URL is the address the CLI uses, so receipts name it as their issuer. Webhooks may
    // point at 127.0.0.1 (no dispatcher runs here, so nothing is ever delivered).
    server = await startTestServer({ env: { PROFFER_PUBLIC_URL: `http://127.0.0.1:${port}`, PROFFER_WEBHOOK_ALLOW_HTTP_LOOPBACK: 'true' } });
    base = await server.app.listen({ host: '127.0.0.1', port });
  });
  afterAll(() => server?.close());

  const world = {
    get server(): TestServer {
      if (!server) throw new Error('the CLI test server is not started yet');
      return server;
    },
    get base(): string {
      if (!base) throw new Error('the CLI test server is not listening yet');
      return base;
    },

    /** A user of their own: a folder, a configuration file, the server address in the environment. */
    user() {
      const dir = scratch();
      const env = { PROFFER_CONFIG: join(dir, 'config.json'), PROFFER_URL: world.base };
      return {
        dir,
        env,
        file: (name: string, content: string) => {
          writeFileSync(join(dir, name), content);
          return join(dir, name);
        },
        proffer: (args: string[], input?: string) => run(args, { env, ...(input !== undefined ? { input } : {}) }),
        config: (): SavedConfig => JSON.parse(readFileSync(env.PROFFER_CONFIG, 'utf8')),
        configMode: () => statSync(env.PROFFER_CONFIG).mode & 0o777,
      };
    },

    async signedUpUser() {
      const u = world.user();
      const handle = uniqueHandle('cli');
      ok(await u.proffer(['signup', handle, '--password-stdin'], `${TEST_PASSWORD}\n`));
      return { ...u, handle };
    },

    /** A vendor of its own, registered and logged in. */
    async registeredVendor(name = 'Velo Lyon') {
      const u = world.user();
      ok(await u.proffer(['vendor', 'register', '--name', name, '--homepage', 'https://velo-lyon.example', '--contact', 'privacy@velo-lyon.example']));
      return u;
    },

    /** A person whose terms grant the name at once, and a vendor holding an active grant of it. */
    async activeGrant() {
      const person = await world.signedUpUser();
      ok(await person.proffer(['terms', 'set', person.file('terms.json', JSON.stringify(NAME_FOR_ORDERS))]));
      ok(await person.proffer(['profile', 'set', person.file('profile.json', JSON.stringify({ name: { given: 'Ada' }, birthDate: '1815-12-10' }))]));
      const shop = await world.registeredVendor();
      const form = shop.file('form.json', JSON.stringify({ person: person.handle, fields: [NAME], accepts: { duties: { noThirdPartySharing: true } } }));
      const subscription = JSON.parse(ok(await shop.proffer(['--json', 'vendor', 'request', form])).stdout) as { id: string; status: string };
      expect(subscription.status).toBe('active');
      return { person, shop, id: subscription.id };
    },
  };
  return world;
}
