import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import lockfile from 'proper-lockfile';
import { Proffer, type PersonClient, type Renew, type Tokens, type VendorClient } from '../sdk/index.js';
import { configPath, loadConfig, saveConfig, type SavedConfig } from './config.js';
import { UsageError } from './errors.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

/**
 * The lock around a renewal, which holds it for one round trip. A holder that crashed leaves a
 * lock that goes stale 10 s after its last refresh (refreshed every 5 s); waiters keep trying for
 * about 20 s, long enough to take it over. Losing the lock while holding it (its folder removed)
 * costs at worst a second renewal, not the command: nothing to throw for.
 */
const RENEWAL_LOCK = {
  realpath: false,
  stale: 10_000,
  retries: { retries: 45, factor: 1.5, minTimeout: 20, maxTimeout: 500 },
  onCompromised: () => {},
};

export interface GlobalOptions {
  server?: string;
  json?: boolean;
}

/** What every command works with: where the server is, the saved sessions, and how to print. */
export class Cli {
  readonly json: boolean;
  readonly configPath: string;
  #config: SavedConfig | undefined;
  #proffer: Proffer | undefined;
  readonly #serverOption: string | undefined;

  constructor(options: GlobalOptions, readonly env: NodeJS.ProcessEnv = process.env) {
    this.json = options.json === true;
    this.#serverOption = options.server;
    this.configPath = configPath(env);
  }

  get config(): SavedConfig {
    this.#config ??= loadConfig(this.configPath);
    return this.#config;
  }

  updateConfig(change: (config: SavedConfig) => void): void {
    const config = loadConfig(this.configPath); // re-read: another command may have rotated tokens meanwhile
    change(config);
    saveConfig(this.configPath, config);
    this.#config = config;
  }

  /** `--server`, else `$PROFFER_URL`, else the server of the last login, else the local default. */
  get server(): string {
    const chosen = this.#serverOption ?? this.env.PROFFER_URL ?? this.config.server ?? DEFAULT_SERVER;
    let url: URL;
    try {
      url = new URL(chosen);
    } catch {
      throw new UsageError(`"${chosen}" is not a server address; use e.g. ${DEFAULT_SERVER}.`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`"${chosen}" is not an http(s) address.`);
    return chosen.replace(/\/+$/, '');
  }

  get proffer(): Proffer {
    this.#proffer ??= new Proffer({ baseUrl: this.server, headers: { 'user-agent': 'proffer-cli/0.1' } });
    return this.#proffer;
  }

  /** The logged-in person; renewed tokens are saved as soon as they are issued. */
  person(): PersonClient {
    const saved = this.config.person;
    if (!saved) throw new UsageError('Not logged in as a person: run `proffer login <handle>` first.');
    this.#sameServer(saved.server, 'proffer login <handle>');
    return this.proffer.person(saved, {
      coordinateRenewal: this.#renewOnce((config) => (config.person?.handle === saved.handle ? config.person : undefined)),
    });
  }

  vendor(): VendorClient {
    const saved = this.config.vendor;
    if (!saved) throw new UsageError('Not logged in as a vendor: run `proffer vendor register` or `proffer login --vendor` first.');
    this.#sameServer(saved.server, 'proffer login --vendor');
    return this.proffer.vendor(saved.clientId, saved, {
      ...(saved.clientSecret ? { clientSecret: saved.clientSecret } : {}),
      coordinateRenewal: this.#renewOnce((config) => (config.vendor?.clientId === saved.clientId ? config.vendor : undefined)),
    });
  }

  /**
   * Renews a saved session once for every `proffer` process sharing this configuration file. A
   * refresh token is spent by its first use and the server ends the session when it sees it again,
   * so two commands renewing at once (a script running them in parallel) would sign the user out.
   * Under a lock on the file, tokens another command saved since this one read them are taken
   * instead; otherwise the tokens are renewed and saved before the lock is released.
   */
  #renewOnce(entryOf: (config: SavedConfig) => Tokens | undefined) {
    return async (renew: Renew, current: Tokens): Promise<Tokens> => {
      const release = await lockfile.lock(this.configPath, RENEWAL_LOCK).catch((error: unknown) => {
        if ((error as { code?: string }).code !== 'ELOCKED') throw error;
        throw new UsageError(`Another proffer command has held ${this.configPath}.lock for over 20 s while renewing the session; if none is running, delete that folder and try again.`);
      });
      try {
        const stored = entryOf(loadConfig(this.configPath));
        if (stored && stored.refreshToken !== current.refreshToken) return { accessToken: stored.accessToken, refreshToken: stored.refreshToken };
        const next = await renew(current);
        this.updateConfig((config) => {
          const entry = entryOf(config);
          if (entry) Object.assign(entry, { accessToken: next.accessToken, refreshToken: next.refreshToken });
        });
        return next;
      } finally {
        await release();
      }
    };
  }

  #sameServer(savedServer: string, login: string): void {
    if (savedServer !== this.server) throw new UsageError(`You are logged in at ${savedServer}, not at ${this.server}: run \`${login}\` with --server ${this.server}.`);
  }

  /** The result: as JSON with --json, else as `human` says it. */
  print(value: unknown, human: string | string[] | (() => string | string[])): void {
    if (this.json) {
      process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
      return;
    }
    const text = typeof human === 'function' ? human() : human;
    const lines = Array.isArray(text) ? text : [text];
    if (lines.length) process.stdout.write(`${lines.join('\n')}\n`);
  }

  /** A remark for the person at the terminal (stderr, so stdout stays clean for pipes). */
  note(message: string): void {
    if (!this.json) process.stderr.write(`${message}\n`);
  }

  /**
   * A secret: from stdin when `fromStdin` (e.g. `--password-stdin`), else the environment variable,
   * else asked for at the terminal without echo. Never from the command line, where it would stay in
   * the shell history and be visible to other users in the process list.
   */
  async secret(what: string, options: { fromStdin?: boolean; envName: string }): Promise<string> {
    if (options.fromStdin) {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      const value = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
      if (!value) throw new UsageError(`No ${what} on standard input.`);
      return value;
    }
    const fromEnv = this.env[options.envName];
    if (fromEnv) return fromEnv;
    if (!process.stdin.isTTY) throw new UsageError(`No ${what}: pipe it with --${what === 'password' ? 'password' : 'secret'}-stdin or set ${options.envName}.`);
    return askHidden(`${what[0]!.toUpperCase()}${what.slice(1)}: `);
  }

  /** A yes/no question at the terminal; false when there is no terminal. */
  async confirm(question: string, expected: string): Promise<boolean> {
    if (!process.stdin.isTTY) return false;
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    const answer = await new Promise<string>((resolve) => rl.question(question, resolve));
    rl.close();
    return answer.trim() === expected;
  }
}

async function askHidden(prompt: string): Promise<string> {
  process.stderr.write(prompt);
  let muted = true;
  const silent = new Writable({
    write(chunk, _encoding, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output: silent, terminal: true });
  const answer = await new Promise<string>((resolve) => rl.question('', resolve));
  muted = false;
  rl.close();
  process.stderr.write('\n');
  return answer;
}
