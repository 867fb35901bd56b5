import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Passwords and client secrets are hashed with scrypt (memory-hard, in Node's own crypto: no
 * native addon to build). The parameters travel inside each hash, so raising the cost later
 * leaves old hashes verifiable.
 */
const BLOCK_SIZE = 8;
const PARALLELISM = 1;
const KEY_LENGTH = 32;

function scryptAsync(secret: string, salt: Buffer, logN: number, r: number, p: number): Promise<Buffer> {
  const N = 2 ** logN;
  return new Promise((resolve, reject) => {
    scrypt(secret.normalize('NFC'), salt, KEY_LENGTH, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

export async function hashSecret(secret: string, logN: number): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(secret, salt, logN, BLOCK_SIZE, PARALLELISM);
  return ['scrypt', logN, BLOCK_SIZE, PARALLELISM, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifySecret(secret: string, encoded: string): Promise<boolean> {
  const [scheme, logN, r, p, salt, key] = encoded.split('$');
  if (scheme !== 'scrypt' || !logN || !r || !p || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64url');
  const actual = await scryptAsync(secret, Buffer.from(salt, 'base64url'), Number(logN), Number(r), Number(p));
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Hash of an unknown account's "password", so a wrong handle costs as much time as a wrong password. */
let decoy: Promise<string> | undefined;
export async function verifyAgainstDecoy(secret: string, logN: number): Promise<false> {
  decoy ??= hashSecret(randomBytes(16).toString('hex'), logN);
  await verifySecret(secret, await decoy);
  return false;
}

/** An unguessable token with a readable prefix (`prt_…`), 256 bits of randomness. */
export function randomToken(prefix: string): string {
  return prefix + randomBytes(32).toString('base64url');
}

/** Digest for high-entropy tokens (refresh tokens): a fast hash suffices when the input is random. */
export function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}
