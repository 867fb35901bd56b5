import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../clients/cli/main.js';
import type { SavedConfig } from '../../clients/cli/config.js';
import { startTestServer, TEST_PASSWORD, uniqueHandle, type TestServer } from '../helpers/server.js';
import { expire, freePort, root, run, scratch, start, type Run } from './cli-helpers.js';

// The `proffer` command driven as a user drives it: spawned processes, real files, real exit
// statuses, against a real server listening on 127.0.0.1.

let server: TestServer;
let base: string;
/** Each command is a new Node.js process (about a second on a busy machine); a test runs dozens. */
const SLOW = 180_000;

beforeAll(async () => {
  const port = await freePort();
  // The public URL is the address the CLI uses, so receipts name it as their issuer. Webhooks may
  // point at 127.0.0.1 (no dispatcher runs here, so nothing is ever delivered).
  server = await startTestServer({ env: { PROFFER_PUBLIC_URL: `http://127.0.0.1:${port}`, PROFFER_WEBHOOK_ALLOW_HTTP_LOOPBACK: 'true' } });
  base = await server.app.listen({ host: '127.0.0.1', port });
});
afterAll(() => server?.close());

/** A user of their own: a folder, a configuration file, the server address in the environment. */
function user() {
  const dir = scratch();
  const env = { PROFFER_CONFIG: join(dir, 'config.json'), PROFFER_URL: base };
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
}

const ok = (result: Run) => {
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  return result;
};

/** A failure as the user sees it: this exit status, one clear line, no stack trace. */
const refused = (result: Run, status: number, message: RegExp) => {
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(status);
  expect(result.stderr).toMatch(message);
  expect(result.stderr).not.toMatch(/\n\s+at .*[\\/].*:\d+/); // no stack frames
  return result;
};

async function signedUpUser() {
  const u = user();
  const handle = uniqueHandle('cli');
  ok(await u.proffer(['signup', handle, '--password-stdin'], `${TEST_PASSWORD}\n`));
  return { ...u, handle };
}

/** A vendor of its own, registered and logged in. */
async function registeredVendor(name = 'Velo Lyon') {
  const u = user();
  ok(await u.proffer(['vendor', 'register', '--name', name, '--homepage', 'https://velo-lyon.example', '--contact', 'privacy@velo-lyon.example']));
  return u;
}

const NAME = { path: 'name', purpose: 'fulfillment', required: true, retentionDays: 30 };
/** Terms that give any vendor the name for fulfillment at once, under no third-party sharing. */
const NAME_FOR_ORDERS = { rules: [{ id: 'orders', effect: 'permit', fields: ['name'], purposes: ['fulfillment'], duties: { noThirdPartySharing: true } }] };

/** A person whose terms grant the name at once, and a vendor holding an active grant of it. */
async function activeGrant() {
  const person = await signedUpUser();
  ok(await person.proffer(['terms', 'set', person.file('terms.json', JSON.stringify(NAME_FOR_ORDERS))]));
  ok(await person.proffer(['profile', 'set', person.file('profile.json', JSON.stringify({ name: { given: 'Ada' }, birthDate: '1815-12-10' }))]));
  const shop = await registeredVendor();
  const form = shop.file('form.json', JSON.stringify({ person: person.handle, fields: [NAME], accepts: { duties: { noThirdPartySharing: true } } }));
  const subscription = JSON.parse(ok(await shop.proffer(['--json', 'vendor', 'request', form])).stdout) as { id: string; status: string };
  expect(subscription.status).toBe('active');
  return { person, shop, id: subscription.id };
}

describe('help', { timeout: SLOW }, () => {
  it('every command has --help, with its options and the global --json and --server', () => {
    const walk = (command: Command, path: string[]): string[][] => [path, ...command.commands.flatMap((sub) => walk(sub, [...path, sub.name()]))];
    const program = buildProgram();
    const paths = walk(program, []).slice(1);
    expect(paths.map((p) => p.join(' '))).toEqual(
      expect.arrayContaining(['login', 'profile get', 'profile set', 'needs add', 'needs list', 'needs close', 'terms show', 'terms apply', 'terms evaluate', 'subscriptions list', 'subscriptions approve', 'subscriptions reject', 'subscriptions revoke', 'access-log', 'export', 'delete', 'vendor register', 'vendor request', 'vendor profile', 'vendor feed', 'import',
        'needs offers', 'needs accept-offer', 'needs decline-offer', 'subscriptions feed-links', 'subscriptions rotate-link', 'subscriptions delete-link',
        'vendor webhook set', 'vendor webhook show', 'vendor webhook delete', 'vendor acknowledgements', 'vendor acknowledge',
        'vendor feed-link create', 'vendor feed-link list', 'vendor feed-link delete', 'vendor offer', 'vendor offers', 'vendor withdraw-offer', 'intents']),
    );
    for (const path of paths) {
      let command: Command = program;
      for (const name of path) command = command.commands.find((sub) => sub.name() === name)!;
      expect(command.description(), path.join(' ')).not.toBe('');
      const help = command.helpInformation();
      expect(help, path.join(' ')).toContain(`Usage: proffer ${path.join(' ')}`);
      if (command.commands.length === 0) expect(help, path.join(' ')).toMatch(/Global Options:[\s\S]*--server <url>[\s\S]*--json/);
    }
  });

  it('--help exits 0; a mistake on the command line exits 2 with the usage hint', async () => {
    const help = ok(await run(['vendor', 'feed', '--help']));
    expect(help.stdout).toMatch(/^Usage: proffer vendor feed \[options\] <subscription>/);
    expect(help.stdout).toContain('--watch');
    refused(await run(['needs', 'list', '--status', 'bogus']), 2, /^proffer: option '--status <status>' argument 'bogus' is invalid\. --status must be one of open, fulfilled, withdrawn, expired/);
    refused(await run(['profile', 'set']), 2, /^proffer: missing required argument 'file'/);
    refused(await run(['frobnicate']), 2, /^proffer: unknown command 'frobnicate'/);
  });

  it('runs as `npx proffer` from the checkout', async () => {
    const { spawn } = await import('node:child_process');
    const result = await new Promise<Run>((resolve) => {
      const child = spawn('npx', ['--offline', 'proffer', '--help'], { cwd: root, env: process.env });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr: '' }));
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: proffer \[options\] \[command\]/);
  });
});

describe("a person's session", { timeout: SLOW }, () => {
  it('signs up and logs in, keeping tokens (never the password) in a file only they can read; a wrong password changes nothing', async () => {
    const u = await signedUpUser();
    expect(u.configMode()).toBe(0o600);
    const saved = u.config();
    expect(saved.person).toMatchObject({ server: base, handle: u.handle, accessToken: expect.any(String), refreshToken: expect.any(String) });
    expect(readFileSync(u.env.PROFFER_CONFIG, 'utf8')).not.toContain(TEST_PASSWORD);

    refused(await u.proffer(['login', u.handle, '--password-stdin'], 'not the password\n'), 1, /^proffer: The handle or password is wrong\.\n$/);
    expect(u.config()).toEqual(saved);
    const json = await run(['--json', 'login', u.handle, '--password-stdin'], { env: u.env, input: 'not the password\n' });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: 'The handle or password is wrong.', problem: { status: 400, type: 'https://proffer.dev/problems/oauth/invalid-grant' } });

    const login = ok(await run(['login', u.handle], { env: { ...u.env, PROFFER_PASSWORD: TEST_PASSWORD } }));
    expect(login.stdout).toBe(`Logged in as ${u.handle} at ${base}.\n`);
    expect(u.config().person!.refreshToken).not.toBe(saved.person!.refreshToken);
  });

  it('keeps a profile from JSON and XML files, needs, terms, and exports; bad files are refused and change nothing', async () => {
    const u = await signedUpUser();
    const profile = { name: { given: 'Ada', family: 'Lovelace' }, emails: { personal: 'ada@example.org' } };
    ok(await u.proffer(['profile', 'set', u.file('profile.json', JSON.stringify(profile))]));
    expect(JSON.parse(ok(await u.proffer(['profile', 'get'])).stdout)).toEqual(profile);
    const xml = ok(await u.proffer(['profile', 'get', '--xml'])).stdout;
    expect(xml).toContain('<given>Ada</given>');

    // Invalid files: unreadable, not JSON, not a profile. Nothing changes.
    refused(await u.proffer(['profile', 'set', join(u.dir, 'missing.json')]), 2, /^proffer: Cannot read .*missing\.json: no such file\.\n$/);
    refused(await u.proffer(['profile', 'set', u.file('broken.json', '{"name": ')]), 2, /^proffer: .*broken\.json is not valid JSON: /);
    const invalid = refused(await u.proffer(['profile', 'set', u.file('invalid.json', '{"name": {"given": 42}}')]), 1, /^proffer: The request body does not match the schema\.\n/);
    expect(invalid.stderr).toContain('  /name/given: must be string');
    refused(await u.proffer(['profile', 'set', u.file('invalid.xml', '<profile xmlns="https://proffer.dev/ns/1"><name><given>Ada</name></profile>')]), 1, /^proffer: /);
    expect(JSON.parse(ok(await u.proffer(['profile', 'get'])).stdout)).toEqual(profile);

    ok(await u.proffer(['profile', 'set', u.file('profile.xml', xml.replace('Lovelace', 'King'))]));
    expect(JSON.parse(ok(await u.proffer(['profile', 'get'])).stdout)).toEqual({ ...profile, name: { given: 'Ada', family: 'King' } });

    const added = ok(await u.proffer(['--json', 'needs', 'add', '--title', 'A road bike, 54 cm', '--category', 'sports/cycling', '--budget-max', '600', '--currency', 'EUR']));
    const need = JSON.parse(added.stdout);
    expect(need).toMatchObject({ title: 'A road bike, 54 cm', budget: { max: 600, currency: 'EUR' }, status: 'open', visibility: 'subscribers' });
    ok(await u.proffer(['needs', 'add', u.file('need.xml', '<need xmlns="https://proffer.dev/ns/1"><title>Babbage, collected</title><category>books</category><visibility>public</visibility></need>')]));
    const listed = ok(await u.proffer(['needs', 'list'])).stdout.trim().split('\n');
    expect(listed).toHaveLength(2);
    expect(listed[1]).toBe(`${need.id}  open       sports/cycling  A road bike, 54 cm`);
    expect(ok(await u.proffer(['needs', 'close', need.id])).stdout).toBe(`Need ${need.id} is now fulfilled.\n`);
    expect(JSON.parse(ok(await u.proffer(['--json', 'needs', 'list', '--status', 'open'])).stdout).map((n: { title: string }) => n.title)).toEqual(['Babbage, collected']);
    refused(await u.proffer(['needs', 'close', '00000000-0000-4000-8000-000000000000']), 1, /^proffer: /);

    expect(ok(await u.proffer(['terms', 'show'])).stdout).toMatch(/^Version 1/);
    refused(await u.proffer(['terms', 'apply', 'everything-goes']), 2, /^proffer: No terms template "everything-goes"; the templates are: .*fulfillment-only/);
    expect(ok(await u.proffer(['terms', 'apply', 'fulfillment-only'])).stdout).toContain('Your terms are now version 2.\nVersion 2: Fulfillment only\n  fulfil-orders: permit name, emails, phones, addresses');
    const request = u.file('request.json', JSON.stringify({ fields: [{ path: 'name', purpose: 'fulfillment', required: true, retentionDays: 30 }, { path: 'birthDate', purpose: 'marketing', required: false, retentionDays: 30 }], accepts: { duties: { noThirdPartySharing: true, noProfiling: true, deleteOnRevoke: true } } }));
    const evaluation = ok(await u.proffer(['terms', 'evaluate', request])).stdout;
    expect(evaluation.startsWith('Outcome: active (terms version 2)\n  name for fulfillment: permit — Rule "fulfil-orders"')).toBe(true);
    expect(evaluation).toMatch(/birthDate for marketing: deny/);

    const exported = join(u.dir, 'export.json');
    const exporting = ok(await u.proffer(['export', '-o', exported]));
    expect(exporting.stderr).toMatch(/^Exported to .*export\.json \(\d+ bytes\)\.\n$/);
    expect(statSync(exported).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(exported, 'utf8'))).toMatchObject({ format: 'proffer-export/1', person: { handle: u.handle } });
    expect(ok(await u.proffer(['export', '--xml'])).stdout).toContain(`<handle>${u.handle}</handle>`);
  });

  it('renews an expired access token by itself and saves the rotated refresh token', async () => {
    const u = await signedUpUser();
    const config = u.config();
    const spent = config.person!.refreshToken;
    writeFileSync(u.env.PROFFER_CONFIG, JSON.stringify({ ...config, person: { ...config.person, accessToken: expire(config.person!.accessToken, server.ctx.tokenKey) } }));
    expect(ok(await u.proffer(['needs', 'list'])).stdout).toBe('No needs.\n');
    expect(u.config().person!.refreshToken).not.toBe(spent);
    expect(u.configMode()).toBe(0o600);
    ok(await u.proffer(['needs', 'list'])); // the saved token works on the next run
  });

  it('commands run at once with an expired token renew it once between them, and the session lives on', async () => {
    const u = await signedUpUser();
    const config = u.config();
    const spent = config.person!.refreshToken;
    writeFileSync(u.env.PROFFER_CONFIG, JSON.stringify({ ...config, person: { ...config.person, accessToken: expire(config.person!.accessToken, server.ctx.tokenKey) } }));
    // Each reads the same spent-to-be refresh token at start; a second use of it would end the session.
    const runs = await Promise.all(Array.from({ length: 4 }, () => u.proffer(['needs', 'list'])));
    for (const result of runs) expect(ok(result).stdout).toBe('No needs.\n');
    expect(u.config().person!.refreshToken).not.toBe(spent);
    ok(await u.proffer(['needs', 'list'])); // signed in still
    const sessions = await server.ctx.db.selectFrom('sessions as s').innerJoin('people as p', 'p.id', 's.person_id').select('s.revoked_at').where('p.handle', '=', u.handle).execute();
    expect(sessions.map((s) => s.revoked_at)).toEqual([null]);
  });

  it("takes over a renewal lock its crashed holder left behind", async () => {
    const u = await signedUpUser();
    const config = u.config();
    writeFileSync(u.env.PROFFER_CONFIG, JSON.stringify({ ...config, person: { ...config.person, accessToken: expire(config.person!.accessToken, server.ctx.tokenKey) } }));
    const lock = `${u.env.PROFFER_CONFIG}.lock`;
    mkdirSync(lock);
    const longAgo = new Date(Date.now() - 60_000);
    utimesSync(lock, longAgo, longAgo);
    expect(ok(await u.proffer(['needs', 'list'])).stdout).toBe('No needs.\n');
    expect(u.config().person!.refreshToken).not.toBe(config.person!.refreshToken);
    expect(existsSync(lock)).toBe(false);
  });

  it('erases only when confirmed, then forgets the session', async () => {
    const u = await signedUpUser();
    refused(await u.proffer(['delete']), 2, /^proffer: Not erased: confirm with --yes/);
    ok(await u.proffer(['needs', 'list']));
    expect(ok(await u.proffer(['delete', '--yes'])).stdout).toBe(`Erased ${u.handle}: everything held about you is gone, and the handle is retired.\n`);
    expect(u.config().person).toBeUndefined();
    refused(await u.proffer(['needs', 'list']), 2, /^proffer: Not logged in as a person: run `proffer login <handle>` first\.\n$/);
    refused(await u.proffer(['login', u.handle, '--password-stdin'], TEST_PASSWORD), 1, /^proffer: The handle or password is wrong\.\n$/);
  });

  it('an unreachable server: exit 3 and where it tried', async () => {
    const closed = await freePort();
    const u = user();
    refused(await run(['terms', 'templates', '--server', `http://127.0.0.1:${closed}`], { env: u.env }), 3, new RegExp(`^proffer: Cannot reach the Proffer server at http://127\\.0\\.0\\.1:${closed}: connection refused\\.\\n$`));
    refused(await run(['login', 'ada', '--password-stdin'], { env: { ...u.env, PROFFER_URL: `http://127.0.0.1:${closed}` }, input: TEST_PASSWORD }), 3, /connection refused/);
    refused(await run(['terms', 'templates', '--server', 'ftp://example.org']), 2, /^proffer: "ftp:\/\/example\.org" is not an http\(s\) address\.\n$/);
  });
});

describe("a vendor's session, and a revoked subscription", { timeout: SLOW }, () => {
  it('registers, requests from a form, reads exactly the grant, watches the feed, and is refused once revoked', async () => {
    const person = await signedUpUser();
    ok(await person.proffer(['profile', 'set', person.file('p.json', JSON.stringify({ name: { given: 'Ada' }, addresses: { home: { locality: 'London', country: 'GB' } }, preferences: { sizes: { shoe: 'EU 38' } } }))]));
    const terms = { rules: [{ id: 'deliveries', effect: 'permit', fields: ['name', 'addresses.*'], purposes: ['fulfillment'] }, { id: 'ask', effect: 'permit', fields: ['*'], purposes: ['personalization'], approval: 'ask' }] };
    ok(await person.proffer(['terms', 'set', person.file('terms.json', JSON.stringify(terms))]));

    const shop = user();
    const registered = ok(await shop.proffer(['vendor', 'register', '--name', 'Velo Lyon', '--homepage', 'https://velo-lyon.example', '--contact', 'privacy@velo-lyon.example']));
    expect(registered.stdout).toMatch(/^Registered Velo Lyon \(vendor [0-9a-f-]{36}\) and logged in\.\nClient id: pv_\w+\. The client secret is shown only once: it is saved in /);
    expect(shop.configMode()).toBe(0o600);
    expect(shop.config().vendor).toMatchObject({ clientId: expect.stringMatching(/^pv_/), clientSecret: expect.any(String) });

    const form = shop.file('form.json', JSON.stringify({
      person: person.handle,
      fields: [
        { path: 'name', purpose: 'fulfillment', required: true, retentionDays: 30 },
        { path: 'addresses.home', purpose: 'fulfillment', required: true, retentionDays: 30 },
        { path: 'preferences.sizes', purpose: 'personalization', required: false, retentionDays: 30 },
      ],
    }));
    const requested = JSON.parse(ok(await shop.proffer(['--json', 'vendor', 'request', form, '--idempotency-key', 'order-1'])).stdout);
    expect(requested).toMatchObject({ status: 'pending', request: { accepts: { termsVersion: 2 } } });
    expect(JSON.parse(ok(await shop.proffer(['--json', 'vendor', 'request', form, '--idempotency-key', 'order-1'])).stdout).id).toBe(requested.id);
    refused(await shop.proffer(['vendor', 'request', shop.file('bad-form.json', '{"fields": []}')]), 2, /^proffer: .*bad-form\.json must name the person/);

    expect(ok(await person.proffer(['subscriptions', 'list', '--status', 'pending'])).stdout).toMatch(new RegExp(`^${requested.id}  pending  Velo Lyon <https://velo-lyon.example>\\n  asks for: name \\(fulfillment, required\\), addresses.home \\(fulfillment, required\\), preferences.sizes \\(personalization\\)`));
    expect(ok(await person.proffer(['subscriptions', 'approve', requested.id, '--fields', 'name,addresses.home'])).stdout).toBe('Approved: Velo Lyon may read name, addresses.home.\n');
    expect(JSON.parse(ok(await shop.proffer(['vendor', 'profile', requested.id])).stdout)).toEqual({ name: { given: 'Ada' }, addresses: { home: { locality: 'London', country: 'GB' } } });
    expect(ok(await person.proffer(['access-log'])).stdout).toMatch(/ {2}Velo Lyon {2}profile {2}name, addresses\.home {2}from 127\.0\.0\.1\n$/);
    expect(ok(await person.proffer(['receipts'])).stdout).toMatch(/ {2}approved {2}Velo Lyon {2}(name, addresses\.home|addresses\.home, name) {2}\(verified\)\n$/);
    const atom = ok(await shop.proffer(['vendor', 'feed', requested.id])).stdout;
    expect(atom).toMatch(/<feed xmlns="http:\/\/www.w3.org\/2005\/Atom"/);
    expect(atom).not.toContain('EU 38');

    // Watch: the entry there now, then a new one when the profile changes; then the revocation ends it.
    const watch = start(['vendor', 'feed', requested.id, '--watch', '--interval', '0.2'], { env: shop.env });
    await watch.waitFor(/Profile updated/);
    const first = watch.stdout();
    ok(await person.proffer(['profile', 'set', person.file('p2.json', JSON.stringify({ name: { given: 'Ada', family: 'King' }, addresses: { home: { locality: 'London', country: 'GB' } } }))]));
    await watch.waitFor(/Profile updated[^\n]*\n[^\n]*Profile updated: name.family\n/);
    expect(watch.stdout().startsWith(first)).toBe(true);
    expect(ok(await person.proffer(['subscriptions', 'revoke', requested.id, '--reason', 'Moved away.'])).stdout).toBe('Revoked: Velo Lyon can no longer read anything of yours.\n');
    const watched = await watch.done;
    refused(watched, 1, /proffer: This subscription is revoked: nothing may be read under it\.\n$/);

    refused(await shop.proffer(['vendor', 'profile', requested.id]), 1, /^proffer: This subscription is revoked: nothing may be read under it\.\n$/);
    const json = await shop.proffer(['--json', 'vendor', 'feed', requested.id]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toMatchObject({ problem: { status: 403, type: 'https://proffer.dev/problems/grant-inactive', subscriptionStatus: 'revoked' } });
    refused(await person.proffer(['subscriptions', 'revoke', requested.id]), 1, /^proffer: /);
  });

  it("wrong principals: a person's login is not a vendor's, and another vendor reads nothing", async () => {
    const person = await signedUpUser();
    refused(await person.proffer(['vendor', 'profile', '00000000-0000-4000-8000-000000000000']), 2, /^proffer: Not logged in as a vendor/);
    const shop = user();
    ok(await shop.proffer(['vendor', 'register', '--name', 'A', '--homepage', 'https://a.example', '--contact', 'a@a.example']));
    ok(await person.proffer(['terms', 'apply', 'fulfillment-only']));
    const form = shop.file('form.json', JSON.stringify({ person: person.handle, fields: [{ path: 'name', purpose: 'fulfillment', required: true, retentionDays: 30 }], accepts: { duties: { noThirdPartySharing: true, noProfiling: true, deleteOnRevoke: true } } }));
    const { id } = JSON.parse(ok(await shop.proffer(['--json', 'vendor', 'request', form])).stdout);
    const other = user();
    ok(await other.proffer(['vendor', 'register', '--name', 'B', '--homepage', 'https://b.example', '--contact', 'b@b.example']));
    refused(await other.proffer(['vendor', 'profile', id]), 1, /^proffer: /);
    expect(ok(await shop.proffer(['vendor', 'profile', id])).stdout).toBe('{}\n');
  });
});

describe('push, feed links and deletion acknowledgements', { timeout: SLOW }, () => {
  it('sets a webhook (a generated secret printed once, a given one read from stdin), reads the feed by a link the person rotates and kills, and confirms a deletion', async () => {
    const { person, shop, id } = await activeGrant();

    /** The signing secret the server holds for the subscription's webhook. */
    const signingSecret = async () => (await server.ctx.db.selectFrom('webhooks').select('secret').where('subscription_id', '=', id).executeTakeFirst())?.secret;

    // A secret of one's own comes from stdin (never the command line), is used, and is not printed back.
    const own = `whsec_${Buffer.from('a webhook secret of 24+ bytes!!').toString('base64')}`;
    const given = ok(await shop.proffer(['vendor', 'webhook', 'set', id, 'http://127.0.0.1:9/proffer', '--secret-stdin'], `${own}\n`));
    expect(given.stdout).toMatch(new RegExp(`^Events of subscription ${id} are pushed to http://127\\.0\\.0\\.1:9/proffer \\(since \\S+\\)\\.\\n  waiting: {4}0 message\\(s\\)\\n`));
    expect(given.stdout).toMatch(/Deliveries are signed with the secret you gave\.\n$/);
    expect(given.stdout).not.toContain('whsec_');
    expect(await signingSecret()).toBe(own);
    const invalid = refused(await shop.proffer(['vendor', 'webhook', 'set', id, 'http://127.0.0.1:9/other', '--secret-stdin'], 'hunter2\n'), 1, /^proffer: The request body does not match the schema\.\n/);
    expect(invalid.stderr).toMatch(/^ {2}\/secret: /m);
    const replaced = ok(await shop.proffer(['vendor', 'webhook', 'set', id, 'http://127.0.0.1:9/other']));
    expect(replaced.stdout).toMatch(/Deliveries are signed with the secret it already had\.\n$/);
    expect(await signingSecret()).toBe(own);
    expect(JSON.parse(ok(await shop.proffer(['--json', 'vendor', 'webhook', 'show', id])).stdout)).toMatchObject({ subscription: id, url: 'http://127.0.0.1:9/other', delivery: { pending: 0 } });
    expect(ok(await shop.proffer(['vendor', 'webhook', 'delete', id])).stdout).toBe(`Nothing more is pushed for subscription ${id}.\n`);
    refused(await shop.proffer(['vendor', 'webhook', 'show', id]), 1, /^proffer: /);

    // Without one, a new webhook's generated secret is printed this once, and kept nowhere by the CLI.
    const generated = ok(await shop.proffer(['vendor', 'webhook', 'set', id, 'http://127.0.0.1:9/proffer']));
    const secret = /^Signing secret, shown only once \(check each delivery with it\): (whsec_\S+)\n$/m.exec(generated.stdout)?.[1];
    expect(secret).toBe(await signingSecret());
    const shown = ok(await shop.proffer(['vendor', 'webhook', 'show', id])).stdout;
    expect(shown).toContain('  delivered:  nothing yet\n');
    expect(shown).not.toContain('whsec_');
    expect(readFileSync(shop.env.PROFFER_CONFIG, 'utf8')).not.toContain('whsec_');

    // A feed link: its URL, printed once, reads the feed without a token until the person rotates it.
    const minted = ok(await shop.proffer(['vendor', 'feed-link', 'create', id])).stdout;
    expect(minted).toContain('The URL is shown only once, and anyone who has it reads the feed: keep it like a password.\n');
    const url = /^ {2}(http\S+\/v1\/feeds\/\S+)$/m.exec(minted)?.[1];
    const feed = await fetch(`${url}?format=json`);
    expect(feed.status).toBe(200);
    expect(await feed.text()).toContain('"given":"Ada"');
    const [link] = JSON.parse(ok(await person.proffer(['--json', 'subscriptions', 'feed-links', id])).stdout) as { id: string; live: boolean }[];
    expect(link).toMatchObject({ subscription: id, live: true, rotatedAt: null });
    expect(ok(await shop.proffer(['vendor', 'feed-link', 'list', id])).stdout).toMatch(new RegExp(`^${link!.id}  live {6}created \\S+\\n$`));
    const rotated = ok(await person.proffer(['subscriptions', 'rotate-link', id, link!.id])).stdout;
    expect(rotated).toContain("The old URL no longer works: pass this one on to the vendor's tool if it should keep reading.\n");
    const newUrl = /^ {2}(http\S+)$/m.exec(rotated)?.[1];
    expect(newUrl).not.toBe(url);
    expect((await fetch(url!)).status).toBe(404);
    expect((await fetch(newUrl!)).status).toBe(200);
    expect(ok(await shop.proffer(['vendor', 'feed-link', 'list', id])).stdout).toMatch(/, new URL \S+\n$/);
    expect(ok(await person.proffer(['subscriptions', 'delete-link', id, link!.id])).stdout).toBe(`Feed link ${link!.id} deleted: its URL no longer works.\n`);
    expect((await fetch(newUrl!)).status).toBe(404);
    const second = JSON.parse(ok(await shop.proffer(['--json', 'vendor', 'feed-link', 'create', id])).stdout) as { id: string; url: string };
    ok(await shop.proffer(['vendor', 'feed-link', 'delete', id, second.id]));
    expect((await fetch(second.url)).status).toBe(404);
    expect(ok(await shop.proffer(['vendor', 'feed-link', 'list', id])).stdout).toBe('No feed links.\n');

    // The revocation of an active grant asks the vendor (by the webhook's message too) to confirm it deleted what it held.
    expect(ok(await shop.proffer(['vendor', 'acknowledgements', id])).stdout).toBe('No deletion asked for.\n');
    ok(await person.proffer(['subscriptions', 'revoke', id]));
    const asked = ok(await shop.proffer(['vendor', 'acknowledgements', id])).stdout;
    const messageId = /^revocation {2}asked \S+ {2}due \S+ {2}waiting {2}fields: name {2}\((msg_\w+)\)\n$/.exec(asked)?.[1];
    expect(messageId, asked).toBeDefined();
    refused(await shop.proffer(['vendor', 'acknowledge', id]), 2, /^proffer: Which deletion\? Give --kind or --webhook-id/);
    refused(await shop.proffer(['vendor', 'acknowledge', id, '--kind', 'erasure']), 1, /^proffer: Nothing to acknowledge under this subscription/);
    expect(ok(await shop.proffer(['vendor', 'acknowledge', id, '--webhook-id', messageId!])).stdout).toMatch(/^Confirmed the deletion asked after the revocation \(name\) at \S+\.\n$/);
    expect(ok(await shop.proffer(['vendor', 'acknowledgements', id])).stdout).toMatch(/^revocation .* acknowledged \S+ {2}fields: name {2}\(msg_\w+\)\n$/);
    expect(ok(await person.proffer(['access-log'])).stdout).toMatch(/ {2}Velo Lyon {2}deletion-acknowledged {2}name /);
    refused(await shop.proffer(['vendor', 'feed-link', 'create', id]), 1, /^proffer: This subscription is revoked: no feed link can be made for it\.\n$/);
  });

  it("another vendor's subscription is refused with the problem; a person, or no one, logged in gets a clear usage error", async () => {
    const { person, shop, id } = await activeGrant();
    const link = JSON.parse(ok(await shop.proffer(['--json', 'vendor', 'feed-link', 'create', id])).stdout) as { id: string };
    const other = await registeredVendor('Another shop');
    refused(await other.proffer(['vendor', 'webhook', 'set', id, 'http://127.0.0.1:9/proffer']), 1, /^proffer: No subscription with this id\.\n$/);
    refused(await other.proffer(['vendor', 'feed-link', 'delete', id, link.id]), 1, /^proffer: No subscription with this id\.\n$/);
    const json = await other.proffer(['--json', 'vendor', 'feed-link', 'create', id]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toEqual({ error: 'No subscription with this id.', problem: { type: 'https://proffer.dev/problems/not-found', title: 'Not found', status: 404, detail: 'No subscription with this id.' } });
    const stranger = await signedUpUser();
    refused(await stranger.proffer(['subscriptions', 'rotate-link', id, link.id]), 1, /^proffer: No subscription with this id\.\n$/);
    refused(await stranger.proffer(['subscriptions', 'feed-links', id]), 1, /^proffer: No subscription with this id\.\n$/);
    expect(JSON.parse(ok(await shop.proffer(['--json', 'vendor', 'feed-link', 'list', id])).stdout)).toHaveLength(1); // untouched

    refused(await person.proffer(['vendor', 'webhook', 'show', id]), 2, /^proffer: Not logged in as a vendor: run `proffer vendor register` or `proffer login --vendor` first\.\n$/);
    const nobody = user();
    refused(await nobody.proffer(['vendor', 'offers']), 2, /^proffer: Not logged in as a vendor/);
    refused(await nobody.proffer(['vendor', 'feed-link', 'list', id]), 2, /^proffer: Not logged in as a vendor/);
    refused(await nobody.proffer(['needs', 'offers', randomUUID()]), 2, /^proffer: Not logged in as a person: run `proffer login <handle>` first\.\n$/);
    refused(await nobody.proffer(['subscriptions', 'delete-link', id, link.id]), 2, /^proffer: Not logged in as a person/);
  });
});

describe('public intents and offers', { timeout: SLOW }, () => {
  it('anyone browses public intents by filters; vendors offer from options or a file; the person accepts one, declines another; unknown offers are 404s', async () => {
    const person = await signedUpUser();
    ok(await person.proffer(['terms', 'set', person.file('terms.json', JSON.stringify(NAME_FOR_ORDERS))]));
    ok(await person.proffer(['profile', 'set', person.file('profile.json', JSON.stringify({ name: { given: 'Ada' }, birthDate: '1815-12-10' }))]));
    // A category of this test's own: the intent feed is every public need on the server.
    const category = `cli${randomBytes(4).toString('hex')}/bikes`;
    const need = JSON.parse(ok(await person.proffer(['--json', 'needs', 'add', '--title', 'A road bike', '--category', category, '--visibility', 'public', '--budget-max', '600', '--currency', 'EUR'])).stdout) as { id: string };

    const nobody = user(); // no login: the intent feed is public
    expect(ok(await nobody.proffer(['intents', '--category', category])).stdout).toMatch(new RegExp(`^[0-9a-f-]{36}  A road bike\\n  ${category} · budget up to 600 EUR\\n$`));
    const [intent] = JSON.parse(ok(await nobody.proffer(['--json', 'intents', '--category', category, '--currency', 'EUR', '--budget-max', '700'])).stdout) as { id: string; title: string }[];
    expect(intent).toMatchObject({ title: 'A road bike', category, offersUrl: `${base}/v1/intents/${intent!.id}/offers` });
    expect(JSON.stringify(intent)).not.toContain(person.handle);
    expect(ok(await nobody.proffer(['intents', '--category', category, '--currency', 'EUR', '--budget-min', '601'])).stdout).toBe('No public intents match.\n');
    expect(ok(await nobody.proffer(['intents', '--category', category, '--format', 'atom'])).stdout).toMatch(/<feed xmlns="http:\/\/www.w3.org\/2005\/Atom"[\s\S]*A road bike/);
    refused(await nobody.proffer(['intents', '--budget-min', 'cheap']), 2, /--budget-min must be a number, 0 or more; got "cheap"/);
    refused(await nobody.proffer(['intents', '--country', 'France']), 1, /^proffer: [\s\S]*country/);

    const shop = await registeredVendor('Velo Lyon');
    const offered = ok(await shop.proffer(['vendor', 'offer', intent!.id, '--message', 'A 54 cm road bike.', '--price', '550', '--currency', 'EUR', '--fields', 'name:fulfillment', '--duties', 'noThirdPartySharing'])).stdout;
    const offerId = new RegExp(`^([0-9a-f-]{36})  open  on intent ${intent!.id}  \\(550 EUR\\)\\n  message:  A 54 cm road bike\\.\\n  asks for: name \\(fulfillment, required\\)\\n$`).exec(offered)?.[1];
    expect(offerId, offered).toBeDefined();
    const rival = await registeredVendor('Cycles Rival');
    const offerFile = rival.file('offer.json', JSON.stringify({ message: 'A rival bike.', request: { fields: [NAME], accepts: { duties: { noThirdPartySharing: true } } } }));
    const rivalOffer = JSON.parse(ok(await rival.proffer(['--json', 'vendor', 'offer', intent!.id, offerFile])).stdout) as { id: string; status: string };
    expect(rivalOffer.status).toBe('open');
    refused(await rival.proffer(['vendor', 'offer', intent!.id, '--message', 'No fields.']), 2, /^proffer: Give a file, or at least --message and --fields\.\n$/);
    refused(await rival.proffer(['vendor', 'offer', intent!.id, '--message', 'x', '--fields', 'name']), 2, /--fields takes path:purpose pairs/);
    refused(await rival.proffer(['vendor', 'offer', intent!.id, offerFile, '--message', 'Another bike.']), 1, /^proffer: You already have an open offer on this intent/);
    expect(JSON.parse(ok(await shop.proffer(['--json', 'vendor', 'offers'])).stdout).map((o: { id: string }) => o.id)).toEqual([offerId]);

    const seen = ok(await person.proffer(['needs', 'offers', need.id])).stdout;
    expect(seen).toContain(`${rivalOffer.id}  open  Cycles Rival <https://velo-lyon.example>\n  message:  A rival bike.\n`);
    expect(seen).toContain(`${offerId}  open  Velo Lyon <https://velo-lyon.example>  (550 EUR)\n`);
    const accepted = ok(await person.proffer(['needs', 'accept-offer', need.id, offerId!])).stdout;
    const subscriptionId = /^Accepted Velo Lyon's offer: subscription ([0-9a-f-]{36}) is active\.\n$/.exec(accepted)?.[1];
    expect(subscriptionId, accepted).toBeDefined();
    expect(JSON.parse(ok(await shop.proffer(['vendor', 'profile', subscriptionId!])).stdout)).toEqual({ name: { given: 'Ada' } });
    expect(ok(await shop.proffer(['vendor', 'offers', '--status', 'accepted'])).stdout).toContain(`  made:     subscription ${subscriptionId} (active)\n`);
    expect(ok(await person.proffer(['needs', 'decline-offer', need.id, rivalOffer.id, '--reason', 'Found one, thanks.'])).stdout).toBe("Declined Cycles Rival's offer.\n");
    expect(ok(await rival.proffer(['vendor', 'offers'])).stdout).toMatch(/ {2}declined {2}on intent [\s\S]* {2}why: {6}Found one, thanks\.\n/);
    expect(ok(await person.proffer(['needs', 'offers', need.id, '--status', 'open'])).stdout).toBe('No offers.\n');

    refused(await person.proffer(['needs', 'accept-offer', need.id, randomUUID()]), 1, /^proffer: No offer with this id\.\n$/);
    const unknown = await person.proffer(['--json', 'needs', 'decline-offer', need.id, randomUUID()]);
    expect(unknown.code).toBe(1);
    expect(JSON.parse(unknown.stderr)).toMatchObject({ error: 'No offer with this id.', problem: { status: 404, title: 'Not found' } });
    refused(await rival.proffer(['vendor', 'withdraw-offer', rivalOffer.id]), 1, /^proffer: This offer is declined: it cannot be withdrawn\.\n$/);
    // Declined, the rival may offer again, and withdraw that; another vendor cannot.
    // --price alone keeps the currency of the file's price.
    const pricedFile = rival.file('priced.json', JSON.stringify({ message: 'A rival bike.', price: { amount: 650, currency: 'EUR' }, request: { fields: [NAME] } }));
    refused(await rival.proffer(['vendor', 'offer', intent!.id, offerFile, '--price', '500']), 2, /^proffer: --price needs --currency\.\n$/);
    const again = JSON.parse(ok(await rival.proffer(['--json', 'vendor', 'offer', intent!.id, pricedFile, '--message', 'A better price.', '--price', '500'])).stdout) as { id: string };
    refused(await shop.proffer(['vendor', 'withdraw-offer', again.id]), 1, /^proffer: No offer with this id\.\n$/);
    expect(ok(await rival.proffer(['vendor', 'withdraw-offer', again.id])).stdout).toBe(`Withdrew offer ${again.id}.\n`);
    expect(JSON.parse(ok(await person.proffer(['--json', 'needs', 'offers', need.id, '--status', 'withdrawn'])).stdout)).toEqual([expect.objectContaining({ id: again.id, message: 'A better price.', price: { amount: 500, currency: 'EUR' } })]);
  });
});

describe('import', { timeout: SLOW }, () => {
  const line = (handle: string, needs: number) =>
    JSON.stringify({
      handle,
      password: TEST_PASSWORD,
      displayName: `Imported ${handle}`,
      profile: { name: { given: handle } },
      needs: Array.from({ length: needs }, (_, i) => ({ title: `Need ${i + 1} of ${handle}`, category: 'books', visibility: 'subscribers' })),
    });

  /** Each handle's account and its number of needs, straight from the database. */
  async function accounts(handles: string[]): Promise<Record<string, number>> {
    const rows = await server.ctx.db
      .selectFrom('people')
      .leftJoin('needs', 'needs.person_id', 'people.id')
      .select(['people.handle', (eb) => eb.fn.count<number>('needs.id').as('needs')])
      .where('people.handle', 'in', handles)
      .groupBy('people.handle')
      .execute();
    return Object.fromEntries(rows.map((row) => [row.handle, Number(row.needs)]));
  }

  it('imports people, profiles and needs with a summary; failed lines are reported; a second run duplicates nothing', async () => {
    const u = user();
    const prefix = uniqueHandle('imp');
    const taken = await server.person(); // someone else's account: the line naming it must fail
    const handles = [1, 2, 3, 4, 5].map((i) => `${prefix}-${i}`);
    const file = u.file('people.ndjson', [...handles.map((h) => line(h, 2)), '{"handle": "broken"', JSON.stringify({ handle: taken.handle, password: 'a different password' }), ''].join('\n'));
    const first = await u.proffer(['import', file]);
    expect(first.code).toBe(1);
    expect(first.stdout.split('\n')).toEqual([
      `Imported ${file} into ${base}: 7 lines.`,
      '  people: 5 created, 0 resumed, 0 already done in an earlier run',
      '  needs:  10 created, 0 already there',
      '  2 failed:',
      expect.stringMatching(/^ {4}line 6: not valid JSON \(/),
      `    line 7 (${taken.handle}): The handle "${taken.handle}" belongs to another account; this line was not imported.`,
      '',
    ]);
    expect(first.stderr).toBe(''); // no progress bar when stderr is not a terminal
    expect(await accounts(handles)).toEqual(Object.fromEntries(handles.map((h) => [h, 2])));

    const again = JSON.parse((await u.proffer(['--json', 'import', file])).stdout);
    expect(again).toMatchObject({ lines: 7, alreadyDone: 5, peopleCreated: 0, peopleResumed: 0, needsCreated: 0 });
    expect(await accounts(handles)).toEqual(Object.fromEntries(handles.map((h) => [h, 2])));
    // The imported people can log in, with their profile.
    const imported = await server.sdk.loginPerson(handles[0]!, TEST_PASSWORD);
    expect(await imported.getProfile()).toEqual({ name: { given: handles[0] } });
  });

  it('killed mid-way (an answer lost in flight), then resumed: every person once, every need once', async () => {
    const u = user();
    const prefix = uniqueHandle('kill');
    const handles = Array.from({ length: 8 }, (_, i) => `${prefix}-${i + 1}`);
    const late = Array.from({ length: 4 }, (_, i) => `${prefix}-late-${i + 1}`);
    const file = u.file('people.ndjson', handles.map((h) => line(h, 3)).join('\n'));
    const lateFile = u.file('late.ndjson', late.map((h) => line(h, 1)).join('\n'));

    // A proxy in front of the server that lets the n-th request matching `trap` reach the server,
    // then kills the importer before the answer gets back: the server has done it, the importer
    // never learns it. One address throughout, so the importer's state file applies to every run.
    let trap: { method: string; path: string; nth: number; seen: number } | undefined;
    let importer: ReturnType<typeof start> | undefined;
    const proxy: Server = createServer((incoming, outgoing) => {
      const upstream = httpRequest(`${base}${incoming.url}`, { method: incoming.method, headers: incoming.headers }, (answer) => {
        if (trap && incoming.method === trap.method && incoming.url === trap.path && ++trap.seen === trap.nth) {
          answer.resume();
          answer.on('end', () => {
            importer?.child.kill('SIGKILL');
            outgoing.destroy();
          });
          return;
        }
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      });
      incoming.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const via = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    const importThrough = (from: string, args: string[] = []) => {
      importer = start(['import', from, '--concurrency', '3', ...args], { env: { ...u.env, PROFFER_URL: via } });
      return importer.done;
    };

    try {
      // Killed once the 5th need was created but before the importer heard of it.
      trap = { method: 'POST', path: '/v1/me/needs', nth: 5, seen: 0 };
      expect((await importThrough(file)).signal).toBe('SIGKILL');
      trap = undefined;
      const resumed = await importThrough(file, ['--json']);
      expect(resumed.code, resumed.stderr).toBe(0);
      const summary = JSON.parse(resumed.stdout);
      expect(summary).toMatchObject({ lines: 8, failed: [] });
      // The line whose need was created unheard is finished, its need found rather than made twice.
      expect(summary.peopleResumed).toBeGreaterThanOrEqual(1);
      expect(summary.needsAlreadyThere).toBeGreaterThanOrEqual(1);
      expect(summary.alreadyDone + summary.peopleCreated + summary.peopleResumed).toBe(8);
      expect(summary.needsCreated + summary.needsAlreadyThere).toBe(3 * (8 - summary.alreadyDone));

      // Killed once the 2nd account was created but before the importer heard of it.
      trap = { method: 'POST', path: '/v1/people', nth: 2, seen: 0 };
      expect((await importThrough(lateFile)).signal).toBe('SIGKILL');
      trap = undefined;
      const lateSummary = JSON.parse((await importThrough(lateFile, ['--json'])).stdout);
      expect(lateSummary).toMatchObject({ lines: 4, failed: [] });
      expect(lateSummary.peopleResumed).toBeGreaterThanOrEqual(1);
      expect(await accounts(late)).toEqual(Object.fromEntries(late.map((h) => [h, 1])));
      // A last run has nothing left to do.
      expect(JSON.parse((await importThrough(file, ['--json'])).stdout)).toMatchObject({ alreadyDone: 8, peopleCreated: 0, peopleResumed: 0, needsCreated: 0 });
    } finally {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
    expect(await accounts(handles)).toEqual(Object.fromEntries(handles.map((h) => [h, 3])));
    const titles = (await (await server.sdk.loginPerson(handles[0]!, TEST_PASSWORD)).allNeeds()).map((n) => n.title).sort();
    expect(titles).toEqual([1, 2, 3].map((i) => `Need ${i} of ${handles[0]}`));
  });
});
