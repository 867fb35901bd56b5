// The servers under load, each in a child process of its own on 127.0.0.1 and a free port.
import { join } from 'node:path';
import { freshSchema } from './postgres.js';
import { freePort, memoryOf, ROOT, startChild, type Child } from './processes.js';
import type { ServerKind } from './scenarios.js';

/** Where a server keeps its data: a folder for embedded PGlite databases, or a PostgreSQL server. */
export type DatabaseTarget = { kind: 'pglite'; root: string } | { kind: 'postgres'; url: string };

export interface RunningServer {
  kind: ServerKind;
  base: string;
  pid: number;
  /** MiB resident right after the ready line. */
  startupRss: number;
  /** bare-lookup: the token its server signed. */
  token: string;
  /** Name for messages, and what it last wrote (for a failure). */
  name: string;
  alive(): boolean;
  tail(): string;
  stop(): Promise<void>;
}

let started = 0;

/** Only what we set: never a DATABASE_URL, data folder or public URL of the calling shell. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('PROFFER_') || name === 'DATABASE_URL' || name === 'PORT' || name === 'HOST') delete env[name];
  return { ...env, ...extra };
}

/** `cpuProfileDir`: run the server with --cpu-prof, writing its profile there when it stops. */
export async function startServer(kind: ServerKind, database: DatabaseTarget, options: { cpuProfileDir?: string | undefined } = {}): Promise<RunningServer> {
  // One folder per server: node writes one profile per thread (tsx's loader has a thread too).
  const nodeArgs = options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(options.cpuProfileDir, `${kind}-${database.kind}`)}`] : [];
  const port = await freePort();
  const n = ++started;
  const storage = async (prefix: string): Promise<Record<string, string>> =>
    database.kind === 'pglite'
      ? { [prefix === 'proffer' ? 'PROFFER_DATA' : 'BASELINE_PGLITE_DIR']: join(database.root, `${prefix}-${n}`) }
      : { DATABASE_URL: await freshSchema(database.url, `bench_${prefix}`) };

  if (kind === 'proffer') {
    const env = childEnv({
      PORT: String(port),
      HOST: '127.0.0.1',
      PROFFER_LOG_LEVEL: 'warn',
      // Each scenario logs in afresh; an hour also covers a long --duration.
      PROFFER_ACCESS_TOKEN_TTL: '3600',
      // Public needs show in GET /v1/intents at once, not from the next full minute.
      PROFFER_INTENT_BATCHING: 'false',
      ...(await storage('proffer')),
    });
    const { child } = await startChild({
      name: `proffer/${database.kind}`,
      command: process.execPath,
      args: [...nodeArgs, '--import', 'tsx', 'server/main.ts'],
      cwd: ROOT,
      env,
      readyLine: /^Proffer listening on http:\/\/127\.0\.0\.1:\d+ /,
      echo: (line) => !line.startsWith('API reference:'),
      timeoutMs: 120_000,
    });
    return { kind, base: `http://127.0.0.1:${port}`, pid: child.pid, startupRss: memoryOf(child.pid).rss, token: '', ...handle(child) };
  }

  const env = childEnv({
    PORT: String(port),
    BENCH_WATCH_STDIN: '1',
    BASELINE_DB: kind === 'bare' ? 'none' : database.kind,
    ...(kind === 'bare' ? {} : await storage('baseline')),
  });
  const { child, match } = await startChild({
    name: `${kind}/${database.kind}`,
    command: process.execPath,
    args: [...nodeArgs, '--import', 'tsx', 'bench/baseline-server.ts'],
    cwd: ROOT,
    env,
    readyLine: /^\{"ready":true.*\}$/,
    stdin: true,
    timeoutMs: 60_000,
  });
  const ready = JSON.parse(match[0]) as { port: number; token: string };
  return { kind, base: `http://127.0.0.1:${ready.port}`, pid: child.pid, startupRss: memoryOf(child.pid).rss, token: ready.token, ...handle(child) };
}

const handle = (child: Child) => ({ name: child.name, alive: child.alive, tail: child.tail, stop: () => child.stop() });
