// Printing a run: one line per scenario as it ends, then a table and the same as Markdown.
import { BASELINES } from './scenarios.js';

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

function ratio(rows: Measurement[], row: Measurement, baseline: string): string {
  const base = rows.find((r) => r.database === row.database && r.scenario === baseline);
  return base && base.requestsPerSecond > 0 ? fixed(row.requestsPerSecond / base.requestsPerSecond, 2) : '—';
}

export function scenarioLine(m: Measurement): string {
  return [
    m.database.padEnd(9),
    m.scenario.padEnd(13),
    `${thousands(m.requestsPerSecond).padStart(7)} req/s`,
    `p50 ${fixed(m.p50, 1).padStart(6)} ms`,
    `p99 ${fixed(m.p99, 1).padStart(6)} ms`,
    `non-2xx/3xx ${m.bad}`,
    `${thousands(m.bytesPerResponse).padStart(6)} B/resp`,
    `peak RSS ${fixed(m.peakRss, 0)} MiB`,
  ].join('  ');
}

const HEADER = ['database', 'scenario', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx/3xx', 'bytes/resp', 'peak RSS MiB', '÷ bare', `÷ ${BASELINES[1]}`];

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
  ]);
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
  ].join('\n');
}
