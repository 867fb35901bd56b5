import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { ProfferProblem, type Need, type NeedInput, type PersonClient, type Profile, type Proffer } from '../sdk/index.js';
import { UsageError } from './errors.js';

/**
 * Bulk import of people, their profiles and needs from NDJSON, one person per line:
 *
 *   {"handle": "ada", "password": "…", "displayName": "Ada", "profile": {…}, "needs": [{…}, …]}
 *
 * Resumable without duplicates, at two levels:
 * - a state file records each finished line (by number and a digest of its text), so a re-run
 *   skips them;
 * - a line that was interrupted half-way is finished, not repeated: a handle this import already
 *   created answers 409 on sign-up, and logging in with the line's password proves it is ours
 *   (someone else's account with that handle refuses the password, and the line fails); the
 *   profile is replaced (idempotent); and needs are reconciled with the account's needs, creating
 *   only those not already there: a need whose creation reached the server but whose answer was
 *   lost is found on the account and not created again. (A comparison rather than the API's
 *   Idempotency-Key: it also finds needs created without one, by an older run or the person.)
 */

export interface ImportLine {
  handle: string;
  password: string;
  displayName?: string;
  profile?: Profile;
  needs?: NeedInput[];
}

interface ImportState {
  version: 1;
  server: string;
  /** Line number → SHA-256 of the line's text, for every line finished. */
  done: Record<string, string>;
}

export interface ImportSummary {
  file: string;
  server: string;
  lines: number;
  /** Lines finished in an earlier run (skipped now). */
  alreadyDone: number;
  peopleCreated: number;
  /** Accounts this import had created before an interruption, finished now. */
  peopleResumed: number;
  needsCreated: number;
  /** Needs found already on the account (created before an interruption): not created twice. */
  needsAlreadyThere: number;
  failed: { line: number; handle?: string; error: string }[];
}

export interface ImportOptions {
  proffer: Proffer;
  file: string;
  statePath: string;
  concurrency: number;
  /** Called once the number of lines to do is known, then after each line. */
  onProgress?: (done: number, total: number) => void;
}

/** What is wrong with one line: it fails, the import goes on. */
class LineError extends Error {}

/**
 * A problem with this line's data fails the line; anything that says the server is in trouble
 * (unreachable, 5xx, rate limited) stops the import, to be resumed later.
 */
const failsOnlyTheLine = (error: unknown) => error instanceof LineError || (error instanceof ProfferProblem && error.status < 500 && error.status !== 429);

const digest = (text: string) => createHash('sha256').update(text).digest('hex');

function loadState(path: string, server: string): ImportState {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return { version: 1, server, done: {} };
  }
  try {
    const state = JSON.parse(text) as ImportState;
    // Progress against another server says nothing about this one.
    if (state.version !== 1 || state.server !== server || typeof state.done !== 'object') return { version: 1, server, done: {} };
    return state;
  } catch {
    throw new UsageError(`The import state file ${path} is damaged; delete it to start over (already imported people are then recognised and not duplicated).`);
  }
}

function parseLine(text: string): ImportLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new LineError(`not valid JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new LineError('not a JSON object');
  const line = value as Record<string, unknown>;
  if (typeof line.handle !== 'string' || typeof line.password !== 'string') throw new LineError('"handle" and "password" (strings) are required');
  if (line.needs !== undefined && !Array.isArray(line.needs)) throw new LineError('"needs" must be an array');
  if (line.profile !== undefined && (typeof line.profile !== 'object' || line.profile === null || Array.isArray(line.profile))) throw new LineError('"profile" must be an object');
  const known = new Set(['handle', 'password', 'displayName', 'profile', 'needs']);
  const unknown = Object.keys(line).filter((key) => !known.has(key));
  if (unknown.length) throw new LineError(`unknown member${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}`);
  return line as unknown as ImportLine;
}

/** The needs of `wanted` not found among `existing` (a multiset difference, on the members given). */
export function missingNeeds(wanted: NeedInput[], existing: Need[]): NeedInput[] {
  const unmatched = [...existing];
  return wanted.filter((need) => {
    const index = unmatched.findIndex((candidate) => Object.entries(need).every(([key, value]) => isDeepStrictEqual((candidate as Record<string, unknown>)[key], value)));
    if (index === -1) return true;
    unmatched.splice(index, 1);
    return false;
  });
}

export async function importPeople(options: ImportOptions): Promise<ImportSummary> {
  const { proffer, file, statePath } = options;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`Cannot read ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}.`);
  }
  const state = loadState(statePath, proffer.baseUrl);
  const summary: ImportSummary = { file, server: proffer.baseUrl, lines: 0, alreadyDone: 0, peopleCreated: 0, peopleResumed: 0, needsCreated: 0, needsAlreadyThere: 0, failed: [] };

  const todo: { number: number; text: string }[] = [];
  text.split('\n').forEach((raw, index) => {
    const lineText = raw.trim();
    if (!lineText) return;
    summary.lines += 1;
    if (state.done[index + 1] === digest(lineText)) summary.alreadyDone += 1;
    else todo.push({ number: index + 1, text: lineText });
  });

  // One writer for the state file: concurrent lines finish in any order.
  let saving = Promise.resolve();
  const markDone = (number: number, lineText: string) => {
    state.done[number] = digest(lineText);
    saving = saving.then(() => {
      const temporary = `${statePath}.${process.pid}.tmp`;
      writeFileSync(temporary, JSON.stringify(state));
      renameSync(temporary, statePath);
    });
    return saving;
  };

  let finished = 0;
  options.onProgress?.(0, todo.length);
  const importOne = async ({ number, text: lineText }: { number: number; text: string }) => {
    let handle: string | undefined;
    try {
      const line = parseLine(lineText);
      handle = line.handle;
      const { client, resumed } = await signUpOrResume(proffer, line);
      try {
        if (line.profile) await client.setProfile(line.profile);
        if (line.needs?.length) {
          // A fresh account has no needs: only a resumed one needs the comparison.
          const missing = resumed ? missingNeeds(line.needs, await client.allNeeds()) : line.needs;
          summary.needsAlreadyThere += line.needs.length - missing.length;
          for (const need of missing) {
            await client.createNeed(need);
            summary.needsCreated += 1;
          }
        }
      } finally {
        await client.logout().catch(() => {}); // one session per line is enough: do not leave them open
      }
      if (resumed) summary.peopleResumed += 1;
      else summary.peopleCreated += 1;
      await markDone(number, lineText);
    } catch (error) {
      if (!failsOnlyTheLine(error)) throw error;
      summary.failed.push({ line: number, ...(handle ? { handle } : {}), error: (error as Error).message });
    } finally {
      finished += 1;
      options.onProgress?.(finished, todo.length);
    }
  };

  // A fixed number of workers taking lines in order.
  let next = 0;
  const worker = async () => {
    while (next < todo.length) await importOne(todo[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, todo.length) }, worker));
  await saving;
  summary.failed.sort((a, b) => a.line - b.line);
  return summary;
}

async function signUpOrResume(proffer: Proffer, line: ImportLine): Promise<{ client: PersonClient; resumed: boolean }> {
  try {
    await proffer.signUp({ handle: line.handle, password: line.password, ...(line.displayName ? { displayName: line.displayName } : {}) });
  } catch (error) {
    if (!(error instanceof ProfferProblem) || error.code !== 'handle-taken') throw error;
    // Taken: by this import before an interruption (then the password is ours), or by someone else.
    try {
      return { client: await proffer.loginPerson(line.handle, line.password), resumed: true };
    } catch (loginError) {
      if (loginError instanceof ProfferProblem && loginError.code === 'oauth/invalid-grant') {
        throw new LineError(`The handle "${line.handle}" belongs to another account; this line was not imported.`);
      }
      throw loginError;
    }
  }
  return { client: await proffer.loginPerson(line.handle, line.password), resumed: false };
}
