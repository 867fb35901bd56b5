import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { renderTypes } from '../../server/generated/generate.js';

// The SDK is typed from openapi.yaml: when the contract and the SDK's code drift apart, the SDK must
// stop compiling. These tests compile the SDK's own sources against types generated from the real
// contract (compiles) and from a copy with a property, a path and an enum value renamed (does not).

const root = new URL('../../', import.meta.url).pathname;
const run = promisify(execFile);
const workspaces: string[] = [];
afterAll(() => {
  for (const dir of workspaces) rmSync(dir, { recursive: true, force: true });
});

/** The SDK's hand-written sources with `types` as its generated/openapi.ts, in a folder tsc can check alone. */
function sdkWith(types: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'proffer-sdk-drift-'));
  workspaces.push(dir);
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  mkdirSync(join(dir, 'sdk', 'generated'), { recursive: true });
  for (const file of readdirSync(join(root, 'clients/sdk')).filter((name) => name.endsWith('.ts'))) {
    cpSync(join(root, 'clients/sdk', file), join(dir, 'sdk', file));
  }
  writeFileSync(join(dir, 'sdk/generated/openapi.ts'), types);
  const { compilerOptions } = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8'));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['sdk'] }));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  return dir;
}

async function typecheck(dir: string): Promise<{ ok: boolean; output: string }> {
  try {
    await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', dir], { cwd: dir });
    return { ok: true, output: '' };
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    return { ok: false, output: stdout + stderr };
  }
}

/** A copy of openapi.yaml and schemas/ with `edit` applied to one file (which must change). */
function specCopy(edits: { file: string; from: string | RegExp; to: string }[]): URL {
  const dir = mkdtempSync(join(tmpdir(), 'proffer-spec-drift-'));
  workspaces.push(dir);
  cpSync(join(root, 'openapi.yaml'), join(dir, 'openapi.yaml'));
  cpSync(join(root, 'schemas'), join(dir, 'schemas'), { recursive: true });
  for (const { file, from, to } of edits) {
    const text = readFileSync(join(dir, file), 'utf8');
    const edited = text.replaceAll(from, to);
    expect(edited, `${file}: ${String(from)}`).not.toBe(text);
    writeFileSync(join(dir, file), edited);
  }
  return pathToFileURL(join(dir, 'openapi.yaml'));
}

describe('the SDK and openapi.yaml', () => {
  it("the committed SDK types are exactly what openapi.yaml generates (as `npm run codegen:check` checks)", async () => {
    const committed = readFileSync(join(root, 'clients/sdk/generated/openapi.ts'), 'utf8');
    const generated = await renderTypes(pathToFileURL(join(root, 'openapi.yaml')));
    expect(committed.endsWith(generated), 'clients/sdk/generated/openapi.ts is stale: run `npm run codegen`').toBe(true);
  });

  it('the SDK compiles against the types of the real contract', async () => {
    const result = await typecheck(sdkWith(await renderTypes(pathToFileURL(join(root, 'openapi.yaml')))));
    expect(result.output).toBe('');
    expect(result.ok).toBe(true);
  }, 120_000);

  it('the SDK fails to compile when the contract renames a property, a path or an enum value it uses', async () => {
    const drifted = specCopy([
      // The token answer's access_token becomes accessToken.
      { file: 'schemas/account.json', from: '"access_token"', to: '"accessToken"' },
      // Approving becomes accepting.
      { file: 'openapi.yaml', from: '/v1/me/subscriptions/{subscriptionId}/approve:', to: '/v1/me/subscriptions/{subscriptionId}/accept:' },
      // A need is no longer "withdrawn" but "cancelled".
      { file: 'schemas/need.json', from: /"withdrawn"/g, to: '"cancelled"' },
    ]);
    const result = await typecheck(sdkWith(await renderTypes(drifted)));
    expect(result.ok).toBe(false);
    // Every error is one of the drifts, in the SDK code that uses what changed.
    const errors = result.output.split('\n').filter((line) => / error TS\d+:/.test(line));
    expect(errors.length).toBeGreaterThanOrEqual(3);
    for (const line of errors) expect(line).toMatch(/^sdk\/(tokens|person)\.ts\(/);
    expect(result.output).toMatch(/sdk\/tokens\.ts\(\d+,\d+\): error TS\d+: .*'access_token'/);
    expect(result.output).toMatch(/sdk\/person\.ts\(\d+,\d+\): error TS\d+: .*"\/v1\/me\/subscriptions\/\{subscriptionId\}\/approve"/);
    expect(result.output).toMatch(/sdk\/person\.ts\(\d+,\d+\): error TS\d+: [\s\S]*"withdrawn"/);
  }, 120_000);
});
