import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { UsageError } from './errors.js';

/** A signed-in person: the server they are known at and their current tokens (never the password). */
export interface SavedPerson {
  server: string;
  handle: string;
  accessToken: string;
  refreshToken: string;
}

/** A vendor: its client credentials (the secret is only ever shown once, so it is kept) and tokens. */
export interface SavedVendor {
  server: string;
  id: string;
  name: string;
  clientId: string;
  clientSecret?: string;
  accessToken: string;
  refreshToken: string;
}

export interface SavedConfig {
  /** The server of the last login: the default for the next commands. */
  server?: string;
  person?: SavedPerson;
  vendor?: SavedVendor;
}

/** `$PROFFER_CONFIG`, else `$XDG_CONFIG_HOME/proffer/config.json`, else `~/.config/proffer/config.json`. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PROFFER_CONFIG) return env.PROFFER_CONFIG;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'proffer', 'config.json');
}

export function loadConfig(path: string): SavedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new UsageError(`Cannot read the configuration file ${path}: ${(error as Error).message}`);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as SavedConfig;
  } catch (error) {
    throw new UsageError(`The configuration file ${path} is damaged (${(error as Error).message}); delete it and log in again.`);
  }
}

/**
 * Writes the configuration readable by its owner only (0600, in a 0700 folder): it holds tokens
 * and possibly a vendor's client secret. Written to a temporary file then renamed, so an
 * interrupted write never leaves half a file (and never loses a rotated refresh token).
 */
export function saveConfig(path: string, config: SavedConfig): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600); // the umask may have narrowed the mode, never widened it; be exact
  renameSync(temporary, path);
}

/** True when the file can be read by anyone but its owner. */
export function readableByOthers(path: string): boolean {
  try {
    return (statSync(path).mode & 0o077) !== 0;
  } catch {
    return false;
  }
}
