// The PostgreSQL half of a run: the server in DATABASE_URL, or a throw-away one from .ci/with-postgres.
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { onCleanup, startChild } from './processes.js';

export interface PostgresServer {
  url: string;
  /** `server_version` as the server reports it. */
  version: string;
  /** Whether this run started it (and stops it). */
  throwaway: boolean;
  /** The postmaster's process id, when this run started it (for the database's CPU time). */
  postmasterPid: number | undefined;
}

/**
 * `.ci/with-postgres` runs a command against a fresh cluster and removes the cluster when the
 * command ends. Our command prints the URL and then waits for its stdin to close: the runner
 * holds that pipe, so the cluster goes away when the runner stops it, and also if the runner dies.
 */
export async function postgresServer(options: { statements?: boolean } = {}): Promise<PostgresServer> {
  const given = process.env.DATABASE_URL;
  if (given) {
    if (options.statements) throw new Error('--pg-statements needs the throw-away PostgreSQL: unset DATABASE_URL');
    return { url: given, version: await serverVersion(given), throwaway: false, postmasterPid: undefined };
  }
  const { child, match } = await startChild({
    name: 'postgres',
    command: 'bash',
    args: ['.ci/with-postgres', 'bash', '-c', 'echo "BENCH_DATABASE_URL=$DATABASE_URL BENCH_PG_DATA=$PROFFER_PG_DATA BENCH_PG_CTL=$PROFFER_PG_CTL"; exec cat >/dev/null'],
    env: { ...process.env },
    readyLine: /^BENCH_DATABASE_URL=(\S+) BENCH_PG_DATA=(\S*) BENCH_PG_CTL=(\S*)$/,
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
  if (options.statements) await enableStatementStatistics(url, match[2] as string, match[3] as string);
  return { url, version: await serverVersion(url), throwaway: true, postmasterPid: postmasterOf(match[2]) };
}

async function run(url: string, statement: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await client.query(statement);
  } finally {
    await client.end();
  }
}

/**
 * pg_stat_statements on the throw-away cluster (`--pg-statements`): it must be preloaded, so the
 * cluster is restarted (with the options it was started with, which pg_ctl keeps), as its owner.
 */
async function enableStatementStatistics(url: string, dataDir: string, pgCtl: string): Promise<void> {
  await run(url, "alter system set shared_preload_libraries = 'pg_stat_statements'");
  const asOwner = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
  // Its log goes where with-postgres sent it: the server outlives this pg_ctl and its pipes.
  const [command, ...args] = [...asOwner, pgCtl, '-D', dataDir, '-l', join(dirname(dataDir), 'server.log'), '-w', '-m', 'fast', 'restart'];
  await new Promise<void>((resolve, reject) => {
    execFile(command as string, args, { timeout: 60_000 }, (error, _stdout, stderr) => (error ? reject(new Error(`pg_ctl restart: ${stderr || error.message}`)) : resolve()));
  });
  // Its own settings exist once it is loaded: statements inside functions too, and planning time.
  await run(url, "alter system set pg_stat_statements.track = 'all'");
  await run(url, 'alter system set pg_stat_statements.track_planning = on');
  await run(url, 'select pg_reload_conf()');
  await run(url, 'create extension if not exists pg_stat_statements');
}

export interface StatementCost {
  query: string;
  calls: number;
  /** Milliseconds, summed over the calls. */
  execMs: number;
  planMs: number;
}

/** Forgets the statistics so far (before a measured period). */
export const resetStatements = async (url: string) => void (await run(url, 'select pg_stat_statements_reset()'));

/** The statements that took the most time since the last reset, time spent in functions included. */
export async function topStatements(url: string, limit: number): Promise<StatementCost[]> {
  const { rows } = await run(
    url,
    `select query, calls, total_exec_time, total_plan_time from pg_stat_statements
     where query not like '%pg_stat_statements%' order by total_exec_time + total_plan_time desc limit ${Number(limit)}`,
  );
  return (rows as { query: string; calls: string; total_exec_time: number; total_plan_time: number }[]).map((r) => ({
    query: r.query.replace(/\s+/g, ' ').trim(),
    calls: Number(r.calls),
    execMs: r.total_exec_time,
    planMs: r.total_plan_time,
  }));
}

/** The first line of the cluster's postmaster.pid is the postmaster's process id. */
function postmasterOf(dataDir: string | undefined): number | undefined {
  if (!dataDir) return undefined;
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined; // not readable (another user's folder): the database's CPU is not reported
  }
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
  await run(url, `create schema ${schema}`);
  onCleanup(`drop schema ${schema}`, async () => void (await run(url, `drop schema if exists ${schema} cascade`)));
  return `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}
