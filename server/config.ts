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
  /** Public intents show from the next full minute after they are cast, all of a minute's together (docs/intents.md). */
  intentBatching: boolean;
  /** Bytes of rendered vendor-feed pages kept in memory per process (an LRU cache). */
  feedCacheBytes: number;
  /** Webhooks: plain http (and https) to 127.0.0.1 and ::1 allowed; for tests and local development only. */
  webhookAllowHttpLoopback: boolean;
  /** Webhooks: longest a delivery may take, connection to last byte read. */
  webhookTimeoutMs: number;
  /** Webhooks: how often the dispatcher looks for due messages (it is also nudged after local writes). */
  webhookPollMs: number;
  /** Webhooks: first retry delay and its cap; doubled per failed attempt, with jitter. */
  webhookRetryBaseMs: number;
  webhookRetryCapMs: number;
  /** Webhooks: subscriptions one process delivers to at the same time. */
  webhookConcurrency: number;
  /** Seconds a vendor has to acknowledge a deletion (after a revocation or erasure) before it is overdue. */
  acknowledgementDeadlineSeconds: number;
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

function flag(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = (env[name] ?? '').toLowerCase();
  if (raw === '' || raw === '0' || raw === 'false' || raw === 'no' || raw === 'off') return false;
  if (raw === '1' || raw === 'true' || raw === 'yes' || raw === 'on') return true;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
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
    feedCacheBytes: integer(env, 'PROFFER_FEED_CACHE_MB', 64, 1, 16_384) * 1024 * 1024,
    tokenRateLimit: integer(env, 'PROFFER_TOKEN_RATE_LIMIT', 20, 1, 100_000),
    intentBatching: env.PROFFER_INTENT_BATCHING === undefined || env.PROFFER_INTENT_BATCHING === '' ? true : flag(env, 'PROFFER_INTENT_BATCHING'),
    ...webhookSettings(env),
  };
}

function webhookSettings(env: NodeJS.ProcessEnv) {
  const webhookRetryBaseMs = integer(env, 'PROFFER_WEBHOOK_RETRY_BASE_MS', 5_000, 10, 3_600_000);
  const webhookRetryCapMs = integer(env, 'PROFFER_WEBHOOK_RETRY_CAP_MS', 3_600_000, 10, 7 * 86_400_000);
  if (webhookRetryCapMs < webhookRetryBaseMs) {
    throw new ConfigError(`PROFFER_WEBHOOK_RETRY_CAP_MS (${webhookRetryCapMs}) must not be below PROFFER_WEBHOOK_RETRY_BASE_MS (${webhookRetryBaseMs})`);
  }
  return {
    webhookAllowHttpLoopback: flag(env, 'PROFFER_WEBHOOK_ALLOW_HTTP_LOOPBACK'),
    webhookTimeoutMs: integer(env, 'PROFFER_WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000),
    webhookPollMs: integer(env, 'PROFFER_WEBHOOK_POLL_MS', 1_000, 10, 60_000),
    webhookRetryBaseMs,
    webhookRetryCapMs,
    webhookConcurrency: integer(env, 'PROFFER_WEBHOOK_CONCURRENCY', 8, 1, 256),
    acknowledgementDeadlineSeconds: integer(env, 'PROFFER_ACKNOWLEDGEMENT_DEADLINE', 30 * 86_400, 1, 366 * 86_400),
  };
}
