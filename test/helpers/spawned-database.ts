import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/**
 * A database of its own for servers a test spawns as processes: a new PGlite data folder, or,
 * when DATABASE_URL is set, a new PostgreSQL schema (selected through the URL's `options`).
 */
export class SpawnedDatabase {
  readonly dataDir: string;
  private schema: string | undefined;

  constructor(prefix: string) {
    this.dataDir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  }

  /** The server's environment: PROFFER_DATA, or a DATABASE_URL with the new schema first in its search path. */
  async env(): Promise<Record<string, string>> {
    const url = process.env.DATABASE_URL;
    if (!url) return { PROFFER_DATA: this.dataDir };
    this.schema ??= `e2e_${randomBytes(4).toString('hex')}`;
    await this.admin(url, `create schema if not exists ${this.schema}`);
    const target = new URL(url);
    target.searchParams.set('options', `-c search_path=${this.schema}`);
    return { DATABASE_URL: target.toString() };
  }

  async remove(): Promise<void> {
    rmSync(this.dataDir, { recursive: true, force: true });
    const url = process.env.DATABASE_URL;
    if (url && this.schema) await this.admin(url, `drop schema ${this.schema} cascade`);
  }

  private async admin(url: string, statement: string): Promise<void> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  }
}
