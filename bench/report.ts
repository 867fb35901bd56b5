// Printing a run: one line per scenario as it ends, then a table and the same as Markdown.
import { BASELINES, CEILING_AGAIN, SCENARIOS } from './scenarios.js';

export interface Measurement {
  database: string;
  scenario: string;
  requestsPerSecond: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
  /** Responses neither 2xx nor 3xx, plus connection errors and timeouts (must be 0). */
  bad: number;
  /** Responses completed in the measured period. */
  requests: number;
  /** Mean bytes received per response, headers included. */
  bytesPerResponse: number;
  /** MiB: the server process's VmHWM after the scenario (warm-up included). */
  peakRss: number;
  /**
   * Microseconds of CPU per response over the measured period: the server process (PGlite
   * included), PostgreSQL's processes (NaN on PGlite, or for a DATABASE_URL server), and the
   * load generator (autocannon, in the bench process). Unlike requests per second, these hardly
   * move when other work shares the machine.
   */
  cpuPerRequest: { server: number; database: number; client: number };
  /**
   * Percent of the machine's CPU time the hypervisor gave to other guests during the measured
   * period (/proc/stat `steal`; NaN where unknown, absent from runs made before it was recorded).
   */
  stealPercent?: number;
  /**
   * How many slices the measured period came in, when more than one: a judged scenario alternates
   * with its paired ceiling (absent from runs made before interleaving, and for one period).
   */
  slices?: number;
  /**
   * For a scenario with a target, on the target database: `bare-lookup` measured by a process kept
   * beside Proffer's, in slices alternating with this scenario's (right before it in runs made
   * before interleaving; absent from runs made before pairing). Its target is judged against this.
   */
  pairedCeiling?: { requestsPerSecond: number; p99: number; stealPercent: number; cpuPerRequest?: Measurement['cpuPerRequest'] };
}

export interface ServerStart {
  database: string;
  server: string;
  /** MiB resident right after it said it was ready. */
  rss: number;
}

export interface RunInfo {
  date: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  postgres: string | undefined;
  autocannon: string;
  connections: number;
  durationSeconds: number;
  warmupSeconds: number;
  /** 1-minute load average when the run started and when it ended (other work on the machine shows here). */
  loadAverage: { start: number; end: number };
  /** Whether each peak is the scenario's own (VmHWM reset before it) or the process's since start. */
  peakPerScenario: boolean;
}

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : '—');
const thousands = (value: number) => Math.round(value).toLocaleString('en-US');

/**
 * The one-lookup ceiling of a database in a run: of `bare-lookup` and its second measurement after
 * Proffer's scenarios, the one with more requests per second (the harder one to reach).
 */
export function ceilingOf(rows: Measurement[], database: string): Measurement | undefined {
  const both = rows.filter((r) => r.database === database && (r.scenario === BASELINES[1] || r.scenario === CEILING_AGAIN));
  return both.reduce<Measurement | undefined>((best, r) => (!best || r.requestsPerSecond > best.requestsPerSecond ? r : best), undefined);
}

const baselineOf = (rows: Measurement[], database: string, baseline: string) =>
  baseline === BASELINES[1] ? ceilingOf(rows, database) : rows.find((r) => r.database === database && r.scenario === baseline);

function ratio(rows: Measurement[], row: Measurement, baseline: string): string {
  const base = baselineOf(rows, row.database, baseline);
  return base && base.requestsPerSecond > 0 ? fixed(row.requestsPerSecond / base.requestsPerSecond, 2) : '—';
}

/** Server-side CPU per response (server + database; the database counts as 0 where unmeasured). */
const serverSideCpu = ({ server, database }: Measurement['cpuPerRequest']) => server + (Number.isFinite(database) ? database : 0);

/** bare-lookup's server-side CPU per response over this one's: 1.00 is as cheap as the ceiling. */
function cpuRatio(rows: Measurement[], row: Measurement): string {
  const base = ceilingOf(rows, row.database);
  return base ? fixed(serverSideCpu(base.cpuPerRequest) / serverSideCpu(row.cpuPerRequest), 2) : '—';
}

export function scenarioLine(m: Measurement): string {
  return [
    m.database.padEnd(9),
    m.scenario.padEnd(16),
    `${thousands(m.requestsPerSecond).padStart(7)} req/s`,
    `p50 ${fixed(m.p50, 1).padStart(6)} ms`,
    `p99 ${fixed(m.p99, 1).padStart(6)} ms`,
    `non-2xx/3xx ${m.bad}`,
    `${thousands(m.bytesPerResponse).padStart(6)} B/resp`,
    `peak RSS ${fixed(m.peakRss, 0)} MiB`,
    `CPU µs/resp server ${fixed(m.cpuPerRequest.server, 0)} db ${fixed(m.cpuPerRequest.database, 0)} client ${fixed(m.cpuPerRequest.client, 0)}`,
    `steal ${fixed(m.stealPercent ?? NaN, 0)} %`,
  ].join('  ');
}

const HEADER = [
  'database', 'scenario', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx/3xx', 'bytes/resp', 'peak RSS MiB', '÷ bare', `÷ ${BASELINES[1]}`,
  'CPU µs/resp server', 'db', 'client', `${BASELINES[1]} CPU ÷ this`, 'steal %',
];

function cells(rows: Measurement[]): string[][] {
  return rows.map((m) => [
    m.database,
    m.scenario,
    thousands(m.requestsPerSecond),
    fixed(m.p50, 1),
    fixed(m.p99, 1),
    String(m.bad),
    thousands(m.bytesPerResponse),
    fixed(m.peakRss, 0),
    ratio(rows, m, BASELINES[0]),
    ratio(rows, m, BASELINES[1]),
    fixed(m.cpuPerRequest.server, 0),
    fixed(m.cpuPerRequest.database, 0),
    fixed(m.cpuPerRequest.client, 0),
    cpuRatio(rows, m),
    fixed(m.stealPercent ?? NaN, 0),
  ]);
}

/** The database targets are judged on: PGlite runs every query on the server's own thread. */
export const TARGET_DATABASE = 'postgres';

export interface Verdict {
  scenario: string;
  /** Requests per second over the ceiling measured alongside it (else the run's ceiling). */
  ratio: number;
  p99: number;
  wanted: { ratio: number; p99Ms: number };
  met: boolean;
  /** The same ratio in server-side CPU per response (informative: robust to a busy machine). */
  cpuRatio: number;
  /**
   * Which ceiling `ratio` divides by: the paired measurement taking turns with the scenario
   * (`interleaved`), measured right before it (`paired`, older runs or --slices 1), or the run's
   * (older runs still).
   */
  ceiling?: 'interleaved' | 'paired' | 'run';
  /** Steal during the scenario and during its paired ceiling, percent. */
  steal?: { scenario: number; ceiling: number };
}

/** What the verdicts' ratios divide by, in words (all of a run's verdicts are made the same way). */
export function ceilingLabel(list: Verdict[]): string {
  if (list.length > 0 && list.every((v) => v.ceiling === 'interleaved')) return `${BASELINES[1]} taking turns with it`;
  if (list.length > 0 && list.every((v) => v.ceiling === 'paired')) return `${BASELINES[1]} measured right before it`;
  if (list.length > 0 && list.every((v) => v.ceiling === 'interleaved' || v.ceiling === 'paired')) return `${BASELINES[1]} in turns with it or right before it`;
  return BASELINES[1];
}

/** Each scenario with a target, measured on PostgreSQL: its ratio to the ceiling and p99 against the target. */
export function verdicts(rows: Measurement[]): Verdict[] {
  const ceiling = ceilingOf(rows, TARGET_DATABASE);
  const out: Verdict[] = [];
  for (const row of rows) {
    const target = SCENARIOS.find((s) => s.name === row.scenario)?.target;
    if (!target || row.database !== TARGET_DATABASE || !ceiling || !(ceiling.requestsPerSecond > 0)) continue;
    const paired = row.pairedCeiling && row.pairedCeiling.requestsPerSecond > 0 ? row.pairedCeiling : undefined;
    const ratio = row.requestsPerSecond / (paired ? paired.requestsPerSecond : ceiling.requestsPerSecond);
    out.push({
      scenario: row.scenario,
      ratio,
      p99: row.p99,
      wanted: target,
      met: ratio >= target.ratio && row.p99 < target.p99Ms,
      // Against the slices taken in turn with it where recorded (runs before that: the run's ceiling).
      cpuRatio: serverSideCpu(paired?.cpuPerRequest ?? ceiling.cpuPerRequest) / serverSideCpu(row.cpuPerRequest),
      ceiling: paired ? ((row.slices ?? 1) > 1 ? 'interleaved' : 'paired') : 'run',
      steal: { scenario: row.stealPercent ?? NaN, ceiling: paired ? paired.stealPercent : (ceiling.stealPercent ?? NaN) },
    });
  }
  return out;
}

function verdictLines(rows: Measurement[]): string[] {
  const list = verdicts(rows);
  if (list.length === 0) return [];
  return [
    `Targets on ${TARGET_DATABASE} (÷ ${ceilingLabel(list)}, p99 at the run's connections):`,
    ...list.map((v) =>
      `  ${v.scenario.padEnd(16)} ${fixed(v.ratio, 2)} (wanted >= ${fixed(v.wanted.ratio, 2)}), p99 ${fixed(v.p99, 1)} ms (wanted < ${v.wanted.p99Ms}): ${v.met ? 'met' : 'MISSED'}` +
        `  (server-side CPU ratio ${fixed(v.cpuRatio, 2)}; steal ${fixed(v.steal?.scenario ?? NaN, 0)} %, ceiling's ${fixed(v.steal?.ceiling ?? NaN, 0)} %)`),
  ];
}

/** An aligned plain-text table for the terminal. */
export function textTable(rows: Measurement[], starts: ServerStart[]): string {
  const body = [HEADER, ...cells(rows)];
  const widths = HEADER.map((_, i) => Math.max(...body.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [
    line(HEADER),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...body.slice(1).map(line),
    '',
    `RSS right after start: ${starts.map((s) => `${s.server}/${s.database} ${fixed(s.rss, 0)} MiB`).join(', ')}`,
    ...(verdicts(rows).length ? ['', ...verdictLines(rows)] : []),
  ].join('\n');
}

/** The same figures as Markdown, with the conditions they were taken in, ready for docs/performance.md. */
export function markdown(info: RunInfo, rows: Measurement[], starts: ServerStart[]): string {
  const row = (r: string[]) => `| ${r.join(' | ')} |`;
  const align = HEADER.map((_, i) => (i < 2 ? '---' : '---:'));
  return [
    `Run of ${info.date}: ${info.cpus} × ${info.cpuModel}, ${fixed(info.memoryGiB, 0)} GiB, Node ${info.node}` +
      `${info.postgres ? `, PostgreSQL ${info.postgres}` : ''}, autocannon ${info.autocannon}; ` +
      `${info.connections} connections, ${info.durationSeconds} s measured after ${info.warmupSeconds} s of warm-up per scenario; ` +
      `1-minute load average ${fixed(info.loadAverage.start, 2)} at the start, ${fixed(info.loadAverage.end, 2)} at the end.`,
    '',
    row(HEADER),
    row(align),
    ...cells(rows).map(row),
    '',
    row(['database', 'server', 'RSS after start MiB']),
    row(['---', '---', '---:']),
    ...starts.map((s) => row([s.database, s.server, fixed(s.rss, 0)])),
    '',
    info.peakPerScenario
      ? 'Peak RSS: VmHWM of the server process, reset before each scenario (warm-up included).'
      : 'Peak RSS: VmHWM of the server process since it started (it could not be reset per scenario here).',
    ...(verdicts(rows).length
      ? ['', row(['scenario', `÷ ${ceilingLabel(verdicts(rows))}`, 'wanted', 'p99 ms', 'wanted', 'verdict', `${BASELINES[1]} CPU ÷ this`, 'steal %, scenario / ceiling']), row(['---', '---:', '---:', '---:', '---:', '---', '---:', '---:']),
          ...verdicts(rows).map((v) => row([v.scenario, fixed(v.ratio, 2), `>= ${fixed(v.wanted.ratio, 2)}`, fixed(v.p99, 1), `< ${v.wanted.p99Ms}`, v.met ? 'met' : 'missed', fixed(v.cpuRatio, 2),
            `${fixed(v.steal?.scenario ?? NaN, 0)} / ${fixed(v.steal?.ceiling ?? NaN, 0)}`]))]
      : []),
  ].join('\n');
}
