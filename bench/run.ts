// `npm run bench`: every scenario against embedded PGlite and against PostgreSQL, with autocannon
// on 127.0.0.1, as ratios of bare-fastify baselines measured in the same run. See docs/performance.md.
//   npm run bench -- --duration 5 --db pglite --only profile-json
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { postgresServer, resetStatements, topStatements } from './postgres.js';
import { cpuSecondsOf, machineCpuTicks, memoryOf, onCleanup, resetPeakMemory, ROOT, runCleanups, stealPercent, treeCpuSeconds } from './processes.js';
import { seedIntents, seedPerson, seedSubscription, type BenchPerson, type BenchSubscription } from './proffer-api.js';
import { markdown, scenarioLine, TARGET_DATABASE, textTable, verdicts, type Measurement, type RunInfo, type ServerStart } from './report.js';
import { ALWAYS_RUN, BASELINES, CEILING_AGAIN, SCENARIOS, type RequestSpec, type Scenario, type ScenarioContext, type ServerKind } from './scenarios.js';
import { startServer, type DatabaseTarget, type RunningServer } from './servers.js';

const DATABASES = ['pglite', 'postgres'] as const;
type DatabaseKind = (typeof DATABASES)[number];

/** Each flag's default may come from the environment (BENCH_DURATION=2 npm run bench: a smoke run). */
const env = process.env;

const USAGE = `Usage: npm run bench -- [options]
  --duration <s>     seconds measured per scenario (default 10; env BENCH_DURATION)
  --warmup <s>       seconds of unmeasured load before each (default 2; env BENCH_WARMUP)
  --connections <n>  concurrent connections (default 50; env BENCH_CONNECTIONS)
  --db <list>        pglite,postgres (default both; env BENCH_DB; PostgreSQL is DATABASE_URL, or a
                     throw-away server from .ci/with-postgres when it is not set)
  --only <list>      scenarios to run besides the baselines (default all; env BENCH_ONLY)
  --json <file>      also write the figures as JSON
  --cpu-prof <dir>   run each server with node --cpu-prof, profiles written to <dir> (for finding
                     where the time goes; the figures of such a run are not comparable)
  --pg-statements    on the throw-away PostgreSQL, with pg_stat_statements: print after each
                     scenario the statements that took PostgreSQL's time, per response (slows
                     the database a little: not for reported figures)

Scenarios:
${SCENARIOS.map((s) => `  ${s.name.padEnd(16)} ${s.about}`).join('\n')}`;

interface Options {
  duration: number;
  warmup: number;
  connections: number;
  databases: DatabaseKind[];
  scenarios: Scenario[];
  json: string | undefined;
  cpuProfileDir: string | undefined;
  pgStatements: boolean;
}

class UsageError extends Error {}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: env.BENCH_DURATION ?? '10' },
      warmup: { type: 'string', default: env.BENCH_WARMUP ?? '2' },
      connections: { type: 'string', default: env.BENCH_CONNECTIONS ?? '50' },
      db: { type: 'string', default: env.BENCH_DB ?? DATABASES.join(',') },
      only: { type: 'string' },
      json: { type: 'string' },
      'cpu-prof': { type: 'string' },
      'pg-statements': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const number = (name: string, raw: string, min: number, max: number) => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
    return value;
  };
  const databases = values.db.split(',').map((d) => d.trim()).filter(Boolean);
  for (const d of databases) if (!(DATABASES as readonly string[]).includes(d)) throw new UsageError(`--db: unknown database "${d}" (pglite, postgres)`);
  const only = (values.only ?? env.BENCH_ONLY)?.split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of only ?? []) if (!SCENARIOS.some((s) => s.name === name)) throw new UsageError(`--only: unknown scenario "${name}"`);
  return {
    // Proffer's access tokens are set to live an hour and each scenario logs in afresh.
    duration: number('duration', values.duration, 1, 1800),
    warmup: number('warmup', values.warmup, 0, 60),
    connections: number('connections', values.connections, 1, 1000),
    databases: databases as DatabaseKind[],
    scenarios: SCENARIOS.filter((s) => ALWAYS_RUN.includes(s.name) || !only || only.includes(s.name)),
    json: values.json,
    cpuProfileDir: values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']),
    pgStatements: values['pg-statements'],
  };
}

// --- load --------------------------------------------------------------------------------------

/** Pause after a load so the requests it left queued in the server are answered. */
const DRAIN_MS = 1_500;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let current: autocannon.Instance | undefined;

function load(base: string, spec: RequestSpec, connections: number, seconds: number): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    current = autocannon(
      {
        url: `${base}${spec.path}`,
        method: spec.method ?? 'GET',
        headers: spec.headers ?? {},
        ...(spec.body === undefined ? {} : { body: spec.body }),
        connections,
        duration: seconds,
        timeout: 10,
      },
      (error, result) => {
        current = undefined;
        if (error) reject(error instanceof Error ? error : new Error(String(error)));
        else resolve(result);
      },
    );
  });
}

/** Responses that were not what the scenario expects, and why. */
function failures(result: autocannon.Result, expected: number): string[] {
  const problems: string[] = [];
  const bad = result['1xx'] + result['4xx'] + result['5xx'];
  if (bad > 0) problems.push(`${bad} responses neither 2xx nor 3xx`);
  if (result.errors > 0) problems.push(`${result.errors} connection errors (${result.timeouts} timeouts)`);
  const other = Object.entries(result.statusCodeStats ?? {}).filter(([code]) => Number(code) !== expected);
  if (other.length > 0) problems.push(`statuses other than ${expected}: ${other.map(([code, s]) => `${code} × ${s.count ?? 0}`).join(', ')}`);
  if (result.requests.total === 0) problems.push('no response at all');
  return problems;
}

/** One request by hand before the load: the scenario is set up right and measures what it says. */
async function probe(base: string, scenario: Scenario, spec: RequestSpec): Promise<void> {
  const expected = scenario.status ?? 200;
  const response = await fetch(`${base}${spec.path}`, {
    method: spec.method ?? 'GET',
    headers: spec.headers ?? {},
    ...(spec.body === undefined ? {} : { body: spec.body }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (response.status !== expected) throw new Error(`${scenario.name}: probe answered ${response.status}, not ${expected}: ${text.slice(0, 300)}`);
  const type = response.headers.get('content-type') ?? '';
  if (scenario.contentType && !scenario.contentType.test(type)) throw new Error(`${scenario.name}: probe answered ${type}, not ${scenario.contentType}`);
  const coding = response.headers.get('content-encoding') ?? undefined;
  if (coding !== scenario.contentEncoding) throw new Error(`${scenario.name}: probe answered Content-Encoding ${coding ?? 'none'}, not ${scenario.contentEncoding ?? 'none'}`);
}

async function measure(
  options: Options,
  database: string,
  server: RunningServer,
  scenario: Scenario,
  ctx: ScenarioContext,
  perScenario: { ok: boolean },
  databasePid: number | undefined,
  statementsUrl: string | undefined,
): Promise<Measurement> {
  const spec = await scenario.request(ctx);
  const expected = scenario.status ?? 200;
  await probe(server.base, scenario, spec);
  if (!resetPeakMemory(server.pid)) perScenario.ok = false;
  if (options.warmup > 0) {
    const warm = await load(server.base, spec, options.connections, options.warmup);
    if (!server.alive()) throw new Error(`${server.name} exited during the warm-up of ${scenario.name}:\n${server.tail()}`);
    const problems = failures(warm, expected);
    if (problems.length > 0) throw new Error(`${database} ${scenario.name}: during warm-up, ${problems.join('; ')}`);
  }
  // CPU seconds over the measured period: the server, the database's processes (PostgreSQL's
  // backends; PGlite is inside the server), and this process, which is autocannon generating load.
  if (statementsUrl) await resetStatements(statementsUrl);
  const cpuBefore = { server: cpuSecondsOf(server.pid), database: databasePid ? treeCpuSeconds(databasePid) : NaN, client: process.cpuUsage(), machine: machineCpuTicks() };
  const result = await load(server.base, spec, options.connections, options.duration);
  const client = process.cpuUsage(cpuBefore.client);
  const perRequest = (seconds: number) => (result.requests.total > 0 ? (seconds * 1e6) / result.requests.total : NaN);
  const m: Measurement = {
    database,
    scenario: scenario.name,
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    bad: result['1xx'] + result['4xx'] + result['5xx'] + result.errors,
    requests: result.requests.total,
    bytesPerResponse: result.requests.total > 0 ? result.throughput.total / result.requests.total : NaN,
    peakRss: memoryOf(server.pid).hwm,
    cpuPerRequest: {
      server: perRequest(cpuSecondsOf(server.pid) - cpuBefore.server),
      database: perRequest(databasePid ? treeCpuSeconds(databasePid) - cpuBefore.database : NaN),
      client: perRequest((client.user + client.system) / 1e6),
    },
    stealPercent: stealPercent(cpuBefore.machine, machineCpuTicks()),
  };
  if (!server.alive()) throw new Error(`${server.name} exited during ${scenario.name}:\n${server.tail()}`);
  console.log(scenarioLine(m));
  if (statementsUrl && result.requests.total > 0) {
    // Per response; a function's own statements are listed too (time inside it counts twice).
    for (const st of await topStatements(statementsUrl, 6)) {
      const per = (ms: number) => ((ms * 1000) / result.requests.total).toFixed(1).padStart(7);
      console.log(`    ${per(st.execMs + st.planMs)} µs/resp (plan ${per(st.planMs).trim()})  ${(st.calls / result.requests.total).toFixed(2)} calls/resp  ${st.query.slice(0, 140)}`);
    }
  }
  const problems = failures(result, expected);
  if (problems.length > 0) throw new Error(`${database} ${scenario.name} FAILED: ${problems.join('; ')}`);
  return m;
}

// --- the run -----------------------------------------------------------------------------------

const startLoad = loadavg()[0] ?? NaN;

function runInfo(options: Options, postgres: string | undefined): RunInfo {
  let cpuModel = 'unknown CPU';
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpuModel;
  } catch {
    // not Linux
  }
  const autocannonVersion = (JSON.parse(readFileSync(join(ROOT, 'node_modules/autocannon/package.json'), 'utf8')) as { version: string }).version;
  return {
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    cpus: availableParallelism(),
    cpuModel,
    memoryGiB: totalmem() / 2 ** 30,
    node: process.versions.node,
    postgres,
    autocannon: autocannonVersion,
    connections: options.connections,
    durationSeconds: options.duration,
    warmupSeconds: options.warmup,
    loadAverage: { start: startLoad, end: loadavg()[0] ?? NaN },
    peakPerScenario: true,
  };
}

/** Runs of consecutive scenarios on the same kind of server, in the order they are listed: each run gets a new server process. */
function byServer(scenarios: Scenario[]): [ServerKind, Scenario[]][] {
  const groups: [ServerKind, Scenario[]][] = [];
  for (const s of scenarios) {
    const last = groups.at(-1);
    if (last && last[0] === s.server) last[1].push(s);
    else groups.push([s.server, [s]]);
  }
  return groups;
}

async function run(options: Options): Promise<void> {
  const perScenario = { ok: true };
  const rows: Measurement[] = [];
  const starts: ServerStart[] = [];
  let postgresVersion: string | undefined;

  const root = mkdtempSync(join(tmpdir(), 'proffer-bench-'));
  onCleanup(`remove ${root}`, async () => rmSync(root, { recursive: true, force: true }));

  const info0 = runInfo(options, undefined);
  console.log(`Proffer bench: ${info0.cpus} × ${info0.cpuModel}, Node ${info0.node}, autocannon ${info0.autocannon}; ` +
    `${options.connections} connections, ${options.warmup} s warm-up + ${options.duration} s per scenario; ${options.databases.join(' and ')}; ` +
    `load average ${startLoad.toFixed(2)}`);

  for (const kind of options.databases) {
    let target: DatabaseTarget;
    let databasePid: number | undefined;
    let statementsUrl: string | undefined;
    if (kind === 'pglite') target = { kind, root };
    else {
      const pg = await postgresServer({ statements: options.pgStatements });
      postgresVersion = pg.version;
      databasePid = pg.postmasterPid;
      if (options.pgStatements) statementsUrl = pg.url;
      console.log(`PostgreSQL ${pg.version}${pg.throwaway ? ' (throw-away, from .ci/with-postgres)' : ' (DATABASE_URL)'}`);
      target = { kind, url: pg.url };
    }
    for (const [serverKind, scenarios] of byServer(options.scenarios)) {
      const server = await startServer(serverKind, target, { cpuProfileDir: options.cpuProfileDir });
      starts.push({ database: kind, server: scenarios[0]?.name === CEILING_AGAIN ? CEILING_AGAIN : serverKind, rss: server.startupRss });
      let person: Promise<BenchPerson> | undefined;
      let subscription: Promise<BenchSubscription> | undefined;
      let intents: Promise<void> | undefined;
      const proffer = (what: string) => {
        if (serverKind !== 'proffer') throw new Error(`no Proffer ${what} on the ${serverKind} server`);
      };
      const ctx: ScenarioContext = {
        base: server.base,
        baselineToken: () => {
          if (!server.token) throw new Error(`no baseline token on the ${serverKind} server`);
          return server.token;
        },
        person: () => {
          proffer('person');
          return (person ??= seedPerson(server.base));
        },
        subscription: () => {
          proffer('subscription');
          return (subscription ??= ctx.person().then((p) => seedSubscription(server.base, p)));
        },
        intents: () => {
          proffer('intents');
          return (intents ??= seedIntents(server.base));
        },
      };
      // A target is judged against the ceiling measured right before it, by a bare-lookup process
      // kept idle beside Proffer's: neighbours on a shared machine come and go within minutes,
      // and a pair measured back to back meets the same ones.
      const judged = serverKind === 'proffer' && kind === TARGET_DATABASE && scenarios.some((s) => s.target);
      const pairedServer = judged ? await startServer('bare-lookup', target) : undefined;
      const ceilingScenario = SCENARIOS.find((s) => s.name === BASELINES[1]);
      for (const scenario of scenarios) {
        let ceiling: Measurement | undefined;
        if (pairedServer && ceilingScenario && scenario.target) {
          const pairedCtx = { ...ctx, base: pairedServer.base, baselineToken: () => pairedServer.token };
          ceiling = await measure(options, kind, pairedServer, { ...ceilingScenario, name: `${BASELINES[1]}→${scenario.name}` }, pairedCtx, perScenario, databasePid, undefined);
        }
        const measured = await measure(options, kind, server, scenario, ctx, perScenario, databasePid, statementsUrl);
        if (ceiling) measured.pairedCeiling = { requestsPerSecond: ceiling.requestsPerSecond, p99: ceiling.p99, stealPercent: ceiling.stealPercent ?? NaN };
        rows.push(measured);
      }
      // Requests still queued when the load stopped finish before the server is asked to stop.
      await sleep(DRAIN_MS);
      await server.stop();
      await pairedServer?.stop();
    }
  }

  const info = { ...runInfo(options, postgresVersion), peakPerScenario: perScenario.ok };
  console.log(`\n${textTable(rows, starts)}\n\nMarkdown:\n\n${markdown(info, rows, starts)}\n`);
  if (options.json) writeFileSync(options.json, `${JSON.stringify({ info, rows, starts, targets: verdicts(rows) }, null, 2)}\n`);
}

// --- stopping, however it ends ------------------------------------------------------------------

let finishing = false;
async function finish(code: number): Promise<never> {
  if (!finishing) {
    finishing = true;
    current?.stop();
    await runCleanups();
  }
  process.exit(code);
}

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
  process.on(signal, () => {
    if (finishing) return;
    console.error(`\nbench: ${signal}: stopping the servers and cleaning up`);
    void finish(code);
  });
}

let options: Options | undefined;
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  console.error(`bench: ${(error as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (!options) {
  console.log(USAGE);
  process.exit(0);
}

// Stops by itself even if something hangs: twice the planned load, plus time to start and seed.
const planned = options.databases.length * options.scenarios.length * (options.duration + options.warmup);
const deadline = 2 * planned + 240;
setTimeout(() => {
  console.error(`bench: still running after ${deadline} s; giving up`);
  void finish(1);
}, deadline * 1000).unref();

run(options).then(
  () => finish(0),
  (error: unknown) => {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    return finish(1);
  },
);
