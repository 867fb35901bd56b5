import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { join } from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../clients/cli/main.js';
import { TEST_PASSWORD, uniqueHandle } from '../helpers/server.js';
import { expire, freePort, root, run, start, type Run } from './cli-helpers.js';
import { ok, refused, SLOW, useCliServer } from './cli-world.js';

// The `proffer` command driven as a user drives it: spawned processes, real files, real exit
// statuses, against a real server listening on 127.0.0.1. Push, feed links, intents and offers
// are in cli-push-offers.test.ts (a file of its own, so that the two run side by side).

const world = useCliServer();
const { user, signedUpUser } = world;

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
    expect(saved.person).toMatchObject({ server: world.base, handle: u.handle, accessToken: expect.any(String), refreshToken: expect.any(String) });
    expect(readFileSync(u.env.PROFFER_CONFIG, 'utf8')).not.toContain(TEST_PASSWORD);

    refused(await u.proffer(['login', u.handle, '--password-stdin'], 'not the password\n'), 1, /^proffer: The handle or password is wrong\.\n$/);
    expect(u.config()).toEqual(saved);
    const json = await run(['--json', 'login', u.handle, '--password-stdin'], { env: u.env, input: 'not the password\n' });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: 'The handle or password is wrong.', problem: { status: 400, type: 'https://proffer.dev/problems/oauth/invalid-grant' } });

    const login = ok(await run(['login', u.handle], { env: { ...u.env, PROFFER_PASSWORD: TEST_PASSWORD } }));
    expect(login.stdout).toBe(`Logged in as ${u.handle} at ${world.base}.\n`);
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
    writeFileSync(u.env.PROFFER_CONFIG, JSON.stringify({ ...config, person: { ...config.person, accessToken: expire(config.person!.accessToken, world.server.ctx.tokenKey) } }));
    expect(ok(await u.proffer(['needs', 'list'])).stdout).toBe('No needs.\n');
    expect(u.config().person!.refreshToken).not.toBe(spent);
    expect(u.configMode()).toBe(0o600);
    ok(await u.proffer(['needs', 'list'])); // the saved token works on the next run
  });

  it('commands run at once with an expired token renew it once between them, and the session lives on', async () => {
    const u = await signedUpUser();
    const config = u.config();
    const spent = config.person!.refreshToken;
    writeFileSync(u.env.PROFFER_CONFIG, JSON.stringify({ ...config, person: { ...config.person, accessToken: expire(config.person!.accessToken, world.server.ctx.tokenKey) } }));
    // Each reads the same spent-to-be refresh token at start; a second use of it would end the session.
    const runs = await Promise.all(Array.from({ length: 4 }, () => u.proffer(['needs', 'list'])));
    for (const result of runs) expect(ok(result).stdout).toBe('No needs.\n');
    expect(u.config().person!.refreshToken).not.toBe(spent);
    ok(await u.proffer(['needs', 'list'])); // signed in still
    const sessions = await world.server.ctx.db.selectFrom('sessions as s').innerJoin('people as p', 'p.id', 's.person_id').select('s.revoked_at').where('p.handle', '=', u.handle).execute();
    expect(sessions.map((s) => s.revoked_at)).toEqual([null]);
  });

  it("takes over a renewal lock its crashed holder left behind", async () => {
    const u = await signedUpUser();
    const config = u.config();
    writeFileSync(u.env.PROFFER_CONFIG, JSON.stringify({ ...config, person: { ...config.person, accessToken: expire(config.person!.accessToken, world.server.ctx.tokenKey) } }));
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
    const rows = await world.server.ctx.db
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
    const taken = await world.server.person(); // someone else's account: the line naming it must fail
    const handles = [1, 2, 3, 4, 5].map((i) => `${prefix}-${i}`);
    const file = u.file('people.ndjson', [...handles.map((h) => line(h, 2)), '{"handle": "broken"', JSON.stringify({ handle: taken.handle, password: 'a different password' }), ''].join('\n'));
    const first = await u.proffer(['import', file]);
    expect(first.code).toBe(1);
    expect(first.stdout.split('\n')).toEqual([
      `Imported ${file} into ${world.base}: 7 lines.`,
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
    const imported = await world.server.sdk.loginPerson(handles[0]!, TEST_PASSWORD);
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
      const upstream = httpRequest(`${world.base}${incoming.url}`, { method: incoming.method, headers: incoming.headers }, (answer) => {
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
    const titles = (await (await world.server.sdk.loginPerson(handles[0]!, TEST_PASSWORD)).allNeeds()).map((n) => n.title).sort();
    expect(titles).toEqual([1, 2, 3].map((i) => `Need ${i} of ${handles[0]}`));
  });
});
