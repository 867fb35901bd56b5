import { resolve } from 'node:path';

/** Everything the server reads from its environment, parsed once at start. */
export interface Config {
  host: string;
  port: number;
  /** Base of the absolute links the server writes (feeds, Location headers). */
  publicUrl: string;
  /** The embedded PGlite database's folder; unused when databaseUrl is set. */
  dataDir: string;
  databaseUrl: string | undefined;
  databasePoolSize: number;
  logLevel: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /** log2 of scrypt's cost parameter N for new password and secret hashes. */
  kdfCost: number;
  bodyLimitBytes: number;
  requestTimeoutMs: number;
  /** Token requests per minute for one client address and one account (handle, client_id or refresh token). */
  tokenRateLimit: number;
  /** Seconds between ANALYZE runs on the embedded database (it has no autovacuum daemon). */
  analyzeIntervalSeconds: number;
}

export class ConfigError extends Error {}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const host = env.HOST || '127.0.0.1';
  const port = integer(env, 'PORT', 8080, 0, 65535);
  const publicUrl = (env.PROFFER_PUBLIC_URL || `http://${host.includes(':') ? `[${host}]` : host}:${port}`).replace(/\/+$/, '');
  try {
    new URL(publicUrl);
  } catch {
    throw new ConfigError(`PROFFER_PUBLIC_URL must be an absolute URL, got "${publicUrl}"`);
  }
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  return {
    host,
    port,
    publicUrl,
    dataDir: resolve(env.PROFFER_DATA || './data'),
    databaseUrl,
    databasePoolSize: integer(env, 'PROFFER_DB_POOL_SIZE', 10, 1, 200),
    logLevel: env.PROFFER_LOG_LEVEL || 'info',
    accessTokenTtlSeconds: integer(env, 'PROFFER_ACCESS_TOKEN_TTL', 600, 30, 3600),
    refreshTokenTtlSeconds: integer(env, 'PROFFER_REFRESH_TOKEN_TTL', 30 * 24 * 3600, 300, 365 * 24 * 3600),
    kdfCost: integer(env, 'PROFFER_KDF_COST', 15, 10, 20),
    bodyLimitBytes: integer(env, 'PROFFER_BODY_LIMIT', 256 * 1024, 1024, 16 * 1024 * 1024),
    requestTimeoutMs: integer(env, 'PROFFER_REQUEST_TIMEOUT_MS', 30_000, 1000, 600_000),
    analyzeIntervalSeconds: integer(env, 'PROFFER_ANALYZE_INTERVAL', 600, 10, 86_400),
    tokenRateLimit: integer(env, 'PROFFER_TOKEN_RATE_LIMIT', 20, 1, 100_000),
  };
}
