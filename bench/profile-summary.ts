// Where the time went, from the CPU profiles a `npm run bench -- --cpu-prof <dir>` run writes:
// self time by function and by module (a package under node_modules, a file of Proffer, node's
// own internals, garbage collection, idle), as shares of the profile's busy time.
//   npm run bench -- --db postgres --only vendor-atom --cpu-prof /tmp/prof
//   node --import tsx bench/profile-summary.ts /tmp/prof/proffer-postgres --window 12 [--top 25]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** The module a frame belongs to: a package, a project file, or what node and V8 do themselves. */
export function moduleOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (functionName === '(garbage collector)') return '(garbage collector)';
  if (functionName === '(idle)') return '(idle)';
  if (functionName === '(program)') return '(program: native code outside JS)';
  if (!url) return '(native)';
  if (url.startsWith('node:')) {
    const parts = url.slice(5).split('/');
    return `node:${parts[0] === 'internal' ? parts.slice(0, 2).join('/') : parts[0]}`;
  }
  const packaged = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (packaged) return packaged[1] as string;
  const project = /\/(server|policies|bench|clients)\/(.+)$/.exec(url);
  if (project) return `${project[1]}/${project[2]}`;
  return url;
}

/**
 * The `seconds` of the profile with the most busy (non-idle) time: under load, the load itself,
 * not the start-up and seeding before it. Answers [from, to) in the profile's µs, or the whole.
 */
function busiestWindow(profile: CpuProfile, idleIds: Set<number>, seconds: number | undefined): [number, number] {
  if (!seconds || !profile.samples || !profile.timeDeltas) return [-Infinity, Infinity];
  const width = seconds * 1e6;
  const times: number[] = [];
  const busy: number[] = [];
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    times.push(t);
    busy.push(idleIds.has(profile.samples[i] as number) ? 0 : Math.max(0, profile.timeDeltas[i + 1] ?? 0));
  }
  let best = 0;
  let bestFrom = profile.startTime;
  let sum = 0;
  let left = 0;
  for (let right = 0; right < times.length; right++) {
    sum += busy[right] as number;
    while ((times[right] as number) - (times[left] as number) > width) sum -= busy[left++] as number;
    if (sum > best) {
      best = sum;
      bestFrom = times[left] as number;
    }
  }
  return [bestFrom, bestFrom + width];
}

/** Self time (µs) per node id, within a window: each sample's interval is charged to the node it hit. */
function selfTimes(profile: CpuProfile, window: [number, number]): Map<number, number> {
  const self = new Map<number, number>();
  if (profile.samples && profile.timeDeltas) {
    let t = profile.startTime;
    for (let i = 0; i < profile.samples.length; i++) {
      t += profile.timeDeltas[i] ?? 0;
      if (t < window[0] || t >= window[1]) continue;
      // The delta before sample i+1 is the time sample i was running.
      const delta = profile.timeDeltas[i + 1] ?? 0;
      const id = profile.samples[i] as number;
      self.set(id, (self.get(id) ?? 0) + Math.max(0, delta));
    }
    return self;
  }
  const hits = profile.nodes.reduce((n, node) => n + (node.hitCount ?? 0), 0);
  const interval = hits > 0 ? (profile.endTime - profile.startTime) / hits : 0;
  for (const node of profile.nodes) self.set(node.id, (node.hitCount ?? 0) * interval);
  return self;
}

/**
 * The profiles of a folder: node names them CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile, and
 * thread 0 is the main thread, the one serving requests (tsx's loader thread is another).
 */
function profilesIn(path: string, allThreads: boolean): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .filter((name) => name.endsWith('.cpuprofile') && (allThreads || /\.\d+\.0\.\d+\.cpuprofile$/.test(name)))
    .map((name) => join(path, name));
}

function main(): void {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '25' }, window: { type: 'string' }, 'all-threads': { type: 'boolean', default: false } }, allowPositionals: true });
  if (positionals.length === 0) {
    console.log(`Usage: node --import tsx bench/profile-summary.ts <profile or folder of .cpuprofile files> [--top 25] [--window <s>] [--all-threads]
  --window <s>  only the busiest <s> seconds of each profile (the load of a one-scenario run:
                warm-up + duration), leaving out start-up, seeding and shutdown
  --all-threads  of a folder, every thread's profile (default: the main thread's only)`);
    return;
  }
  const top = Number(values.top);
  const windowSeconds = values.window === undefined ? undefined : Number(values.window);
  const byFunction = new Map<string, number>();
  const byModule = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const file of positionals.flatMap((path) => profilesIn(path, values['all-threads']))) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    const idleIds = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
    for (const [id, micros] of selfTimes(profile, busiestWindow(profile, idleIds, windowSeconds))) {
      const frame = (nodes.get(id) as ProfileNode).callFrame;
      const module = moduleOf(frame);
      total += micros;
      if (module === '(idle)') {
        idle += micros;
        continue;
      }
      const fn = `${frame.functionName || '(anonymous)'}  ${module}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
      byFunction.set(fn, (byFunction.get(fn) ?? 0) + micros);
      byModule.set(module, (byModule.get(module) ?? 0) + micros);
    }
  }
  const busy = total - idle;
  const share = (micros: number) => `${((100 * micros) / busy).toFixed(1).padStart(5)} %`;
  const table = (title: string, map: Map<string, number>) => {
    console.log(`\n${title}`);
    for (const [name, micros] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${share(micros)}  ${name}`);
  };
  console.log(`${(total / 1e6).toFixed(1)} s profiled, ${(busy / 1e6).toFixed(1)} s busy (${((100 * busy) / total).toFixed(0)} %); shares are of the busy time`);
  table('Self time by module:', byModule);
  table('Self time by function:', byFunction);
}

main();
