// Several runs of `npm run bench -- --json <file>` as one Markdown table: the median of each
// figure over the runs (ratios taken within each run first, against its own baselines), with each
// run's requests per second beside it, and the target verdicts on the medians. This is how the
// tables of docs/performance.md are made:
//   for n in 1 2 3; do npm run bench -- --json /tmp/run$n.json; done
//   node --import tsx bench/summarize.ts /tmp/run1.json /tmp/run2.json /tmp/run3.json
import { readFileSync } from 'node:fs';
import { ceilingLabel, ceilingOf, verdicts, type Measurement, type RunInfo, type ServerStart, type Verdict } from './report.js';
import { BASELINES } from './scenarios.js';

interface Run {
  info: RunInfo;
  rows: Measurement[];
  starts: ServerStart[];
}

const median = (values: number[]): number => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : '—');
const thousands = (value: number) => (Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '—');
const row = (cells: string[]) => `| ${cells.join(' | ')} |`;

function main(files: string[]): void {
  if (files.length === 0) {
    console.log('Usage: node --import tsx bench/summarize.ts <run.json> [<run.json> ...]');
    return;
  }
  const runs = files.map((file) => JSON.parse(readFileSync(file, 'utf8')) as Run);
  const find = (run: Run, database: string, scenario: string) => run.rows.find((r) => r.database === database && r.scenario === scenario);
  const serverSide = (m: Measurement) => m.cpuPerRequest.server + (Number.isFinite(m.cpuPerRequest.database) ? m.cpuPerRequest.database : 0);
  const keys = runs[0]?.rows.map((r) => [r.database, r.scenario] as const) ?? [];

  console.log(runs.map((run, i) =>
    `Run ${i + 1}: ${run.info.date}, load average ${fixed(run.info.loadAverage.start, 2)} → ${fixed(run.info.loadAverage.end, 2)}`).join('; ') + '.\n');
  console.log(row(['database', 'scenario', 'req/s (median)', `req/s, runs ${runs.map((_, i) => i + 1).join(' / ')}`, 'p50 ms', 'p99 ms', 'non-2xx/3xx', 'bytes/resp',
    'peak RSS MiB', '÷ bare', `÷ ${BASELINES[1]}`, 'CPU µs/resp server', 'db', 'client', `${BASELINES[1]} CPU ÷ this`, `steal %, runs ${runs.map((_, i) => i + 1).join(' / ')}`]));
  console.log(row(['---', '---', ...Array<string>(14).fill('---:')]));
  for (const [database, scenario] of keys) {
    const ms = runs.map((run) => find(run, database, scenario)).filter((m): m is Measurement => m !== undefined);
    const per = (pick: (m: Measurement, run: Run) => number) => median(runs.flatMap((run) => {
      const m = find(run, database, scenario);
      return m ? [pick(m, run)] : [];
    }));
    const ratioTo = (baseline: string) => per((m, run) => {
      const base = baseline === BASELINES[1] ? ceilingOf(run.rows, database) : find(run, database, baseline);
      return base ? m.requestsPerSecond / base.requestsPerSecond : NaN;
    });
    const cpuRatio = per((m, run) => {
      const base = ceilingOf(run.rows, database);
      return base ? serverSide(base) / serverSide(m) : NaN;
    });
    console.log(row([
      database,
      scenario,
      thousands(per((m) => m.requestsPerSecond)),
      ms.map((m) => thousands(m.requestsPerSecond)).join(' / '),
      fixed(per((m) => m.p50), 0),
      fixed(per((m) => m.p99), 0),
      String(Math.max(...ms.map((m) => m.bad))),
      thousands(per((m) => m.bytesPerResponse)),
      fixed(per((m) => m.peakRss), 0),
      fixed(ratioTo(BASELINES[0]), 2),
      fixed(ratioTo(BASELINES[1]), 2),
      fixed(per((m) => m.cpuPerRequest.server), 0),
      fixed(per((m) => m.cpuPerRequest.database), 0),
      fixed(per((m) => m.cpuPerRequest.client), 0),
      fixed(cpuRatio, 2),
      ms.map((m) => fixed(m.stealPercent ?? NaN, 0)).join(' / '),
    ]));
  }

  console.log(`\n${row(['database', 'server', `RSS after start MiB, runs ${runs.map((_, i) => i + 1).join(' / ')}`])}`);
  console.log(row(['---', '---', '---:']));
  for (const start of runs[0]?.starts ?? []) {
    const values = runs.map((run) => run.starts.find((s) => s.database === start.database && s.server === start.server)?.rss ?? NaN);
    console.log(row([start.database, start.server, values.map((v) => fixed(v, 0)).join(' / ')]));
  }

  // Judged again from the rows, against today's targets: runs written by older versions of the
  // bench (whose JSON lacks a verdict field or two) then read the same way.
  const judged = runs.map((run) => verdicts(run.rows));
  const targets = judged[0] ?? [];
  if (targets.length > 0) {
    const against = ceilingLabel(judged.flat());
    console.log(`\n${row(['scenario (postgres)', `÷ ${against}, median`, 'runs', 'wanted', 'p99 ms, median', 'p99 ms, runs', 'wanted', 'verdict on the medians', 'runs met', `${BASELINES[1]} CPU ÷ this`, 'steal %, scenario / ceiling, runs'])}`);
    console.log(row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---', '---:', '---:', '---:']));
    for (const target of targets) {
      const all = judged.map((list) => list.find((t) => t.scenario === target.scenario)).filter((t): t is Verdict => t !== undefined);
      const ratio = median(all.map((t) => t.ratio));
      const p99 = median(all.map((t) => t.p99));
      const met = ratio >= target.wanted.ratio && p99 < target.wanted.p99Ms;
      console.log(row([target.scenario, fixed(ratio, 2), all.map((t) => fixed(t.ratio, 2)).join(' / '), `≥ ${fixed(target.wanted.ratio, 2)}`, fixed(p99, 0),
        all.map((t) => fixed(t.p99, 0)).join(' / '), `< ${target.wanted.p99Ms}`, met ? 'met' : 'missed', `${all.filter((t) => t.met).length} of ${all.length}`, fixed(median(all.map((t) => t.cpuRatio)), 2),
        all.map((t) => `${fixed(t.steal?.scenario ?? NaN, 0)}/${fixed(t.steal?.ceiling ?? NaN, 0)}`).join(' · ')]));
    }
  }
}

main(process.argv.slice(2));
