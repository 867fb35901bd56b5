import { createHash } from 'node:crypto';
import { ProblemError } from '../errors.js';

/** Key order does not make two requests different: retries of one request digest alike. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * What tells a retry from a different request under one key (an Idempotency-Key, or a vendor's
 * one open offer per need): a digest of the parsed body, whatever its key order or media type.
 */
export const requestDigest = (body: unknown): string => createHash('sha256').update(canonical(body)).digest('base64url');

/** What a row holding an Idempotency-Key answers: the digest of the body that made it, and it. */
export interface KeptAnswer<T> {
  digest: string | null;
  value: T;
}

/**
 * Creates something at most once per Idempotency-Key (subscription requests, needs). A retry under
 * the key answers what the first attempt made (`replayed`); the same key with another body is
 * refused (422 idempotency-key-reused). Without a key, every call creates. `create` stores the key
 * and `digest` with what it makes, under a unique index: of two attempts at once, the loser's
 * unique violation answers what the winner stored.
 */
export async function createOnce<T>(
  key: string | undefined,
  body: unknown,
  steps: {
    /** `a different …` in the refusal. */
    what: string;
    find: (key: string) => Promise<KeptAnswer<T> | undefined>;
    create: (digest: string) => Promise<T>;
  },
): Promise<{ value: T; replayed: boolean }> {
  const digest = requestDigest(body);
  const replay = async () => {
    if (key === undefined) return undefined;
    const kept = await steps.find(key);
    if (!kept) return undefined;
    if (kept.digest !== digest) {
      throw new ProblemError('idempotency-key-reused', `This Idempotency-Key was used for a different ${steps.what}; use a new key for a new request.`);
    }
    return { value: kept.value, replayed: true };
  };
  const earlier = await replay();
  if (earlier) return earlier;
  try {
    return { value: await steps.create(digest), replayed: false };
  } catch (error) {
    if ((error as { code?: string }).code === '23505' && key !== undefined) {
      const winner = await replay();
      if (winner) return winner;
    }
    throw error;
  }
}
