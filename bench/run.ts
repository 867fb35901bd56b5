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
  --slices <n>       a judged scenario and its ceiling alternate in n slices each of
                     duration ÷ n seconds (default 5, or one a second for a shorter --duration;
                     env BENCH_SLICES; 1: one period each, the ceiling first)
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
  /** Slices a judged scenario and its paired ceiling alternate in (measureInterleaved). */
  slices: number;
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
      slices: { type: 'string' },
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
  const duration = number('duration', values.duration, 1, 1800);
  // autocannon samples once a second: a slice shorter than that would be cut to the next sample.
  const slices = (raw: string | undefined) => {
    // Not given: 5, fewer for a short smoke run (BENCH_DURATION=2), never an error.
    if (raw === undefined) return Math.min(5, duration);
    const n = number('slices', raw, 1, 100);
    if (duration / n < 1) throw new UsageError(`--slices ${n}: each slice would be shorter than a second (--duration ${duration})`);
    return n;
  };
  const databases = values.db.split(',').map((d) => d.trim()).filter(Boolean);
  for (const d of databases) if (!(DATABASES as readonly string[]).includes(d)) throw new UsageError(`--db: unknown database "${d}" (pglite, postgres)`);
  const only = (values.only ?? env.BENCH_ONLY)?.split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of only ?? []) if (!SCENARIOS.some((s) => s.name === name)) throw new UsageError(`--only: unknown scenario "${name}"`);
  return {
    // Proffer's access tokens are set to live an hour and each scenario logs in afresh.
    duration,
    warmup: number('warmup', values.warmup, 0, 60),
    connections: number('connections', values.connections, 1, 1000),
    slices: slices(values.slices ?? env.BENCH_SLICES),
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
/** Pause between interleaved slices: the ≤ 50 requests the last one left queued take ~10 ms. */
const SLICE_GAP_MS = 250;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One autocannon run before aggregation (`skipAggregateResult`): its histograms can be merged with others'. */
interface RawResult {
  totalCompletedRequests: number;
  totalBytes: number;
  /** Seconds, as autocannon measured the run. */
  duration: number;
}
// Not in @types/autocannon; documented in autocannon's README (aggregateResult(results, opts)).
const { aggregateResult } = autocannon as unknown as {
  aggregateResult(results: RawResult[], opts: { url: string; connections: number }): autocannon.Result;
};

let current: autocannon.Instance | undefined;

function load(url: string, spec: RequestSpec, connections: number, seconds: number): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    current = autocannon(
      {
        url,
        method: spec.method ?? 'GET',
        headers: spec.headers ?? {},
        ...(spec.body === undefined ? {} : { body: spec.body }),
        connections,
        duration: seconds,
        timeout: 10,
        skipAggregateResult: true,
      },
      (error, result) => {
        current = undefined;
        if (error) reject(error instanceof Error ? error : new Error(String(error)));
        else resolve(result as unknown as RawResult);
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

/**
 * A scenario ready to be measured on one server: its request built, probed and warmed up, and
 * the measured load added up as it comes (in one period, or in slices interleaved with another
 * scenario's).
 */
class Loaded {
  private readonly runs: RawResult[] = [];
  private readonly cpu = { server: 0, database: 0, client: 0 };
  /** The machine's CPU ticks counted over the measured slices only (a reading of `machineCpuTicks` that stops between them). */
  private readonly ticks = { total: 0, steal: 0, known: true };

  private constructor(
    readonly database: string,
    readonly server: RunningServer,
    readonly scenario: Scenario,
    private readonly spec: RequestSpec,
    private readonly connections: number,
    private readonly databasePid: number | undefined,
  ) {}

  private get url() {
    return `${this.server.base}${this.spec.path}`;
  }

  private get expected() {
    return this.scenario.status ?? 200;
  }

  static async prepare(options: Options, database: string, server: RunningServer, scenario: Scenario, ctx: ScenarioContext, perScenario: { ok: boolean }, databasePid: number | undefined): Promise<Loaded> {
    const spec = await scenario.request(ctx);
    const loaded = new Loaded(database, server, scenario, spec, options.connections, databasePid);
    await probe(server.base, scenario, spec);
    if (!resetPeakMemory(server.pid)) perScenario.ok = false;
    if (options.warmup > 0) {
      const warm = aggregateResult([await load(loaded.url, spec, options.connections, options.warmup)], { url: loaded.url, connections: options.connections });
      loaded.checkAlive('the warm-up of');
      const problems = failures(warm, loaded.expected);
      if (problems.length > 0) throw new Error(`${database} ${scenario.name}: during warm-up, ${problems.join('; ')}`);
    }
    return loaded;
  }

  private checkAlive(during: string): void {
    if (!this.server.alive()) throw new Error(`${this.server.name} exited during ${during} ${this.scenario.name}:\n${this.server.tail()}`);
  }

  /** Measures `seconds` of load and adds it to what was measured before. */
  async measure(seconds: number): Promise<void> {
    // CPU seconds over the measured period: the server, the database's processes (PostgreSQL's
    // backends; PGlite is inside the server), and this process, which is autocannon generating load.
    const before = { server: cpuSecondsOf(this.server.pid), database: this.databasePid ? treeCpuSeconds(this.databasePid) : NaN, client: process.cpuUsage(), machine: machineCpuTicks() };
    this.runs.push(await load(this.url, this.spec, this.connections, seconds));
    const client = process.cpuUsage(before.client);
    const machine = machineCpuTicks();
    this.cpu.server += cpuSecondsOf(this.server.pid) - before.server;
    this.cpu.database += this.databasePid ? treeCpuSeconds(this.databasePid) - before.database : NaN;
    this.cpu.client += (client.user + client.system) / 1e6;
    if (before.machine && machine) {
      this.ticks.total += machine.total - before.machine.total;
      this.ticks.steal += machine.steal - before.machine.steal;
    } else this.ticks.known = false;
    this.checkAlive('the load of');
  }

  /** Everything measured so far as one measurement; fails the run on any response it did not expect. */
  result(): Measurement {
    const result = aggregateResult(this.runs, { url: this.url, connections: this.connections });
    const requests = this.runs.reduce((sum, r) => sum + r.totalCompletedRequests, 0);
    const seconds = this.runs.reduce((sum, r) => sum + r.duration, 0);
    const perRequest = (cpuSeconds: number) => (requests > 0 ? (cpuSeconds * 1e6) / requests : NaN);
    const m: Measurement = {
      database: this.database,
      scenario: this.scenario.name,
      requestsPerSecond: seconds > 0 ? requests / seconds : 0,
      p50: result.latency.p50,
      p99: result.latency.p99,
      bad: result['1xx'] + result['4xx'] + result['5xx'] + result.errors,
      requests,
      bytesPerResponse: requests > 0 ? this.runs.reduce((sum, r) => sum + r.totalBytes, 0) / requests : NaN,
      peakRss: memoryOf(this.server.pid).hwm,
      cpuPerRequest: { server: perRequest(this.cpu.server), database: perRequest(this.cpu.database), client: perRequest(this.cpu.client) },
      stealPercent: this.ticks.known ? stealPercent({ total: 0, steal: 0 }, this.ticks) : NaN,
      ...(this.runs.length > 1 ? { slices: this.runs.length } : {}),
    };
    const problems = failures(result, this.expected);
    if (problems.length > 0) throw new Error(`${this.database} ${this.scenario.name} FAILED: ${problems.join('; ')}`);
    return m;
  }
}

/** What PostgreSQL spent its time on during the last scenario, per response (--pg-statements). */
async function printStatements(statementsUrl: string, responses: number): Promise<void> {
  if (responses === 0) return;
  // A function's own statements are listed too (time inside it counts twice).
  for (const st of await topStatements(statementsUrl, 6)) {
    const per = (ms: number) => ((ms * 1000) / responses).toFixed(1).padStart(7);
    console.log(`    ${per(st.execMs + st.planMs)} µs/resp (plan ${per(st.planMs).trim()})  ${(st.calls / responses).toFixed(2)} calls/resp  ${st.query.slice(0, 140)}`);
  }
}

/** The ceiling for the whole duration, then the target (with `between` run in between): for diagnostic runs. */
async function measureInTurn(ceiling: Loaded, target: Loaded, options: Options, between: () => Promise<void>): Promise<{ ceiling: Measurement; target: Measurement }> {
  await ceiling.measure(options.duration);
  await between();
  await target.measure(options.duration);
  return { ceiling: ceiling.result(), target: target.result() };
}

/**
 * A target and its ceiling, measured in alternating slices (ceiling, target, target, ceiling, …):
 * on a shared machine the neighbours' load drifts within a run, and pairs of slices a few seconds
 * apart meet the same neighbours, where two periods measured one after the other need not.
 */
async function measureInterleaved(ceiling: Loaded, target: Loaded, options: Options): Promise<{ ceiling: Measurement; target: Measurement }> {
  const seconds = options.duration / options.slices;
  for (let i = 0; i < 2 * options.slices; i++) {
    if (i > 0) await sleep(SLICE_GAP_MS);
    await ((i % 4 === 0 || i % 4 === 3) ? ceiling : target).measure(seconds);
  }
  return { ceiling: ceiling.result(), target: target.result() };
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
      // A target is judged against the ceiling measured alongside it (measureInterleaved), by a
      // bare-lookup process kept idle beside Proffer's.
      const judged = serverKind === 'proffer' && kind === TARGET_DATABASE && scenarios.some((s) => s.target);
      const pairedServer = judged ? await startServer('bare-lookup', target) : undefined;
      const ceilingScenario = SCENARIOS.find((s) => s.name === BASELINES[1]);
      for (const scenario of scenarios) {
        const loaded = await Loaded.prepare(options, kind, server, scenario, ctx, perScenario, databasePid);
        if (statementsUrl) await resetStatements(statementsUrl);
        let measured: Measurement;
        if (pairedServer && ceilingScenario && scenario.target) {
          const pairedCtx = { ...ctx, base: pairedServer.base, baselineToken: () => pairedServer.token };
          const ceiling = await Loaded.prepare(options, kind, pairedServer, { ...ceilingScenario, name: `${BASELINES[1]}→${scenario.name}` }, pairedCtx, perScenario, databasePid);
          // pg_stat_statements counts the whole database: with it, the ceiling goes first and is not counted.
          const both = statementsUrl ? await measureInTurn(ceiling, loaded, options, () => resetStatements(statementsUrl)) : await measureInterleaved(ceiling, loaded, options);
          console.log(scenarioLine(both.ceiling));
          measured = both.target;
          measured.pairedCeiling = { requestsPerSecond: both.ceiling.requestsPerSecond, p99: both.ceiling.p99, stealPercent: both.ceiling.stealPercent ?? NaN, cpuPerRequest: both.ceiling.cpuPerRequest };
        } else {
          await loaded.measure(options.duration);
          measured = loaded.result();
        }
        console.log(scenarioLine(measured));
        if (statementsUrl) await printStatements(statementsUrl, measured.requests);
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
// A judged scenario's ceiling doubles it (slices may run to autocannon's next one-second sample).
const judged = options.databases.includes(TARGET_DATABASE) ? options.scenarios.filter((s) => s.target).length : 0;
const planned = options.databases.length * options.scenarios.length * (options.duration + options.warmup) + judged * (options.warmup + 2 * options.duration);
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
