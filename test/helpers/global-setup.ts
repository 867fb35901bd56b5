import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { migrateToLatest, openDatabase } from '../../server/db/database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteTemplate: string;
  }
}

/**
 * On PGlite, initdb costs seconds; a migrated image made once here and loaded by every test file
 * costs well under one. On PostgreSQL (DATABASE_URL) each file makes its own schema instead.
 */
export async function setup(project: TestProject): Promise<() => void> {
  const dir = mkdtempSync(join(tmpdir(), 'proffer-test-'));
  const template = join(dir, 'pglite-template.tar');
  if (!process.env.DATABASE_URL) {
    const handle = await openDatabase({});
    await migrateToLatest(handle.db);
    if (!handle.pglite) throw new Error('expected an embedded database');
    writeFileSync(template, Buffer.from(await (await handle.pglite.dumpDataDir('none')).arrayBuffer()));
    await handle.close();
  }
  project.provide('pgliteTemplate', template);
  return () => rmSync(dir, { recursive: true, force: true });
}
