import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { BIN, freePort, root, scratch } from './cli-helpers.js';

// The CLI session clients/README.md offers a newcomer, run exactly as written against a real server,
// as test/e2e/start.test.ts does for the README's curl walkthrough.

let server: TestServer;
let base: string;

beforeAll(async () => {
  const port = await freePort();
  server = await startTestServer({ env: { PROFFER_PUBLIC_URL: `http://127.0.0.1:${port}` } });
  base = await server.app.listen({ host: '127.0.0.1', port });
});
afterAll(() => server?.close());

describe('the CLI session in clients/README.md', () => {
  it('runs as pasted', async () => {
    const readme = readFileSync(join(root, 'clients/README.md'), 'utf8');
    const session = /### A session to paste[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(session).toBeDefined();
    expect(session).toContain('export PROFFER_URL=http://127.0.0.1:8080');
    // `npx proffer` itself is tested in cli.test.ts; here each call goes straight to the same
    // bin.js that npx runs, saving npm's start-up per command.
    const script = `npx() { if [ "$1" = proffer ]; then shift; node ${JSON.stringify(BIN)} "$@"; else command npx "$@"; fi; }\n${session!.replace('export PROFFER_URL=http://127.0.0.1:8080', `export PROFFER_URL=${base}`)}`;
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn('bash', ['-eo', 'pipefail', '-c', script], { cwd: root, env: { ...process.env, PROFFER_CONFIG: join(scratch(), 'config.json'), NO_COLOR: '1' } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(result.code, result.stderr).toBe(0);
    const out = result.stdout;
    expect(out).toContain(`Signed up as grace at ${base}, and logged in.`);
    expect(out).toContain('<family>Hopper</family>');
    expect(out).toMatch(/open {7}tools {2}A slide rule/);
    expect(out).toContain('Your terms are now version 2.');
    expect(out).toMatch(/Registered Navy Supplies \(vendor [0-9a-f-]{36}\) and logged in\./);
    expect(out).toMatch(/ {2}active {2}Navy Supplies <https:\/\/supplies.example>/);
    // The shop read exactly the grant: name and home address, never the shoe size.
    expect(out).toContain('"family": "Hopper"');
    expect(out).toContain('"locality": "Arlington"');
    expect(out).not.toContain('US 7"');
    expect(out).toContain('"version":"https://jsonfeed.org/version/1.1"');
    expect(out).toMatch(/Navy Supplies {2}profile {2}name, addresses\.home {2}from 127\.0\.0\.1/);
    expect(out).toMatch(/granted {2}Navy Supplies {2}.*\(verified\)/);
    expect(out).toContain('Revoked: Navy Supplies can no longer read anything of yours.');
    expect(out).toContain('refused, as it should be');
    expect(result.stderr).toContain('proffer: This subscription is revoked: nothing may be read under it.');
    expect(result.stderr).toMatch(/Exported to .*grace-export\.json/);
  }, 300_000);
});
