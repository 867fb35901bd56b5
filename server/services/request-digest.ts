import { createHash } from 'node:crypto';

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
