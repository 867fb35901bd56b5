// Child processes of a benchmark run, and the clean-up that must happen however the run ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** The project's folder: children run from it (tsx, server/main.ts, .ci/with-postgres). */
export const ROOT = join(import.meta.dirname, '..');

/** Things to undo, newest first: stop a server before dropping its schema, before removing a folder. */
const cleanups: { label: string; run: () => Promise<void> }[] = [];

export function onCleanup(label: string, run: () => Promise<void>): () => void {
  const entry = { label, run };
  cleanups.push(entry);
  return () => {
    const index = cleanups.indexOf(entry);
    if (index >= 0) cleanups.splice(index, 1);
  };
}

/** Runs every registered clean-up once, newest first; a failing one is reported and the rest still run. */
export async function runCleanups(): Promise<void> {
  while (cleanups.length > 0) {
    const entry = cleanups.pop();
    if (!entry) break;
    try {
      await entry.run();
    } catch (error) {
      console.error(`bench: clean-up "${entry.label}" failed: ${(error as Error).message}`);
    }
  }
}

/** A port of 127.0.0.1 that nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface Child {
  name: string;
  pid: number;
  process: ChildProcess;
  /** The last lines it wrote, for a failure message. */
  tail(): string;
  /** Resolves once the process has exited. */
  exited: Promise<void>;
  alive(): boolean;
  /** SIGTERM, then SIGKILL to its whole process group if it is still there after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Default: the project's folder. */
  cwd?: string;
  /** Resolves the start when a line of output matches; its match is returned. */
  readyLine: RegExp;
  timeoutMs?: number;
  /** Keep stdin open (a child that watches it ends when we do). */
  stdin?: boolean;
  /** Which lines after readiness are echoed with the child's name (warnings, errors); default all. */
  echo?: (line: string) => boolean;
}

/**
 * Starts a process in a group of its own (so a Ctrl-C at the terminal reaches only the runner,
 * which then stops everything in order) and waits for its ready line.
 */
export async function startChild(options: StartOptions): Promise<{ child: Child; match: RegExpExecArray }> {
  const proc = spawn(options.command, options.args, {
    env: options.env,
    cwd: options.cwd ?? ROOT,
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const lines: string[] = [];
  let ready = false;
  let exitedFlag = false;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => {
    exitedFlag = true;
    resolve();
  }));
  proc.once('error', () => {
    exitedFlag = true;
  });

  let onLine: ((line: string) => void) | undefined;
  for (const stream of [proc.stdout, proc.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      if (lines.length > 40) lines.shift();
      if (ready && (options.echo?.(line) ?? true)) console.error(`[${options.name}] ${line}`);
      onLine?.(line);
    });
  }

  const stop = async (graceMs = 12_000): Promise<void> => {
    if (exitedFlag || proc.pid === undefined) return;
    proc.stdin?.end();
    try {
      proc.kill('SIGTERM');
    } catch {
      // already gone
    }
    const timer = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), graceMs).unref());
    if ((await Promise.race([exited.then(() => 'done' as const), timer])) === 'late') {
      console.error(`bench: ${options.name} did not stop within ${graceMs} ms; killing it`);
      try {
        process.kill(-proc.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
    }
  };

  const child: Child = {
    name: options.name,
    pid: proc.pid ?? -1,
    process: proc,
    tail: () => lines.join('\n'),
    exited,
    alive: () => !exitedFlag,
    stop,
  };
  const unregister = onCleanup(`stop ${options.name}`, () => stop());
  void exited.then(unregister);

  const timeoutMs = options.timeoutMs ?? 60_000;
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timeout = setTimeout(() => reject(new Error(`${options.name} was not ready within ${timeoutMs / 1000} s:\n${child.tail()}`)), timeoutMs);
    onLine = (line) => {
      const found = options.readyLine.exec(line);
      if (found && !ready) {
        ready = true;
        clearTimeout(timeout);
        resolve(found);
      }
    };
    proc.once('error', (error) => {
      clearTimeout(timeout);
      reject(new Error(`${options.name} could not be started: ${error.message}`));
    });
    void exited.then(() => {
      clearTimeout(timeout);
      if (!ready) reject(new Error(`${options.name} exited (code ${proc.exitCode ?? proc.signalCode}) before it was ready:\n${child.tail()}`));
    });
  }).catch(async (error: unknown) => {
    await stop(3_000);
    throw error;
  });
  return { child, match };
}

/** Resident-memory figures of a process, in MiB, from /proc (Linux). */
export function memoryOf(pid: number): { rss: number; hwm: number } {
  let status = '';
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return { rss: NaN, hwm: NaN };
  }
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024 };
}

/** Resets a process's peak RSS (VmHWM) to its current RSS, so the next reading is one scenario's peak. */
export function resetPeakMemory(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Clock ticks per second of /proc's CPU times: 100 on every Linux this runs on (`getconf CLK_TCK`). */
const CLOCK_TICKS = 100;

interface ProcStat {
  ppid: number;
  /** Seconds of CPU: its own (user + system), and its waited-for children's. */
  own: number;
  children: number;
}

function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name is in parentheses and may hold spaces: fields are counted after its end.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const tick = (i: number) => Number(fields[i] ?? NaN) / CLOCK_TICKS;
  // After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
  return { ppid: Number(fields[1]), own: tick(11) + tick(12), children: tick(13) + tick(14) };
}

/** CPU seconds used by one process (threads included, as PGlite's and libuv's are). */
export function cpuSecondsOf(pid: number): number {
  return procStat(pid)?.own ?? NaN;
}

/**
 * CPU seconds used by a process and its children, those still running and those it has waited
 * for: for a PostgreSQL server, the postmaster and every backend, past or present.
 */
export function treeCpuSeconds(root: number): number {
  const stat = procStat(root);
  if (!stat) return NaN;
  let total = stat.own + stat.children;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const child = procStat(Number(entry));
    if (child?.ppid === root) total += child.own + child.children;
  }
  return total;
}

/**
 * The whole machine's CPU time so far (every core, in ticks) and the part of it the hypervisor
 * gave to other guests (`steal`, /proc/stat): on a shared virtual machine, the share stolen during
 * a scenario says how much its figures were squeezed by neighbours. Undefined where not Linux.
 */
export function machineCpuTicks(): { total: number; steal: number } | undefined {
  try {
    const fields = (/^cpu +(.+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? '').split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user and nice)
    const total = fields.slice(0, 8).reduce((sum, n) => sum + n, 0);
    return Number.isFinite(total) && total > 0 ? { total, steal: fields[7] ?? 0 } : undefined;
  } catch {
    return undefined;
  }
}

/** Percent of the machine's CPU time stolen between two readings of `machineCpuTicks` (NaN when unknown). */
export function stealPercent(before: ReturnType<typeof machineCpuTicks>, after: ReturnType<typeof machineCpuTicks>): number {
  if (!before || !after || after.total <= before.total) return NaN;
  return (100 * (after.steal - before.steal)) / (after.total - before.total);
}
