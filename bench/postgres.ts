// The PostgreSQL half of a run: the server in DATABASE_URL, or a throw-away one from .ci/with-postgres.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { onCleanup, startChild } from './processes.js';

export interface PostgresServer {
  url: string;
  /** `server_version` as the server reports it. */
  version: string;
  /** Whether this run started it (and stops it). */
  throwaway: boolean;
}

/**
 * `.ci/with-postgres` runs a command against a fresh cluster and removes the cluster when the
 * command ends. Our command prints the URL and then waits for its stdin to close: the runner
 * holds that pipe, so the cluster goes away when the runner stops it, and also if the runner dies.
 */
export async function postgresServer(): Promise<PostgresServer> {
  const given = process.env.DATABASE_URL;
  if (given) return { url: given, version: await serverVersion(given), throwaway: false };
  const { child, match } = await startChild({
    name: 'postgres',
    command: 'bash',
    args: ['.ci/with-postgres', 'bash', '-c', 'echo "BENCH_DATABASE_URL=$DATABASE_URL"; exec cat >/dev/null'],
    env: { ...process.env },
    readyLine: /^BENCH_DATABASE_URL=(\S+)$/,
    stdin: true,
    timeoutMs: 60_000,
  });
  const url = match[1] as string;
  onCleanup('stop the throw-away PostgreSQL', async () => {
    // Closing stdin ends `cat`; with-postgres then stops the cluster and deletes its folder.
    child.process.stdin?.end();
    await Promise.race([child.exited, new Promise((resolve) => setTimeout(resolve, 15_000).unref())]);
    await child.stop(2_000);
  });
  return { url, version: await serverVersion(url), throwaway: true };
}

async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string }>('show server_version');
    return rows[0]?.server_version ?? 'unknown';
  } finally {
    await client.end();
  }
}

/** A fresh schema, dropped (with everything in it) at clean-up; answers a URL that works in it. */
export async function freshSchema(url: string, prefix: string): Promise<string> {
  const schema = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  const run = async (statement: string) => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await run(`create schema ${schema}`);
  onCleanup(`drop schema ${schema}`, () => run(`drop schema if exists ${schema} cascade`));
  return `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}
