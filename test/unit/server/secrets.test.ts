import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../server/config.js';
import { digest, hashSecret, randomToken, verifySecret } from '../../../server/services/secrets.js';

describe('secret hashing', () => {
  it('uses scrypt with the configured cost, stored in the hash, with a fresh salt each time', async () => {
    const first = await hashSecret('correct horse battery staple', 12);
    const second = await hashSecret('correct horse battery staple', 12);
    expect(first).toMatch(/^scrypt\$12\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(first).not.toBe(second);
    expect(await verifySecret('correct horse battery staple', first)).toBe(true);
    expect(await verifySecret('correct horse battery stapler', first)).toBe(false);
  });

  it('defaults to N = 2^15 (32 MiB per hash) in production', () => {
    expect(loadConfig({}).kdfCost).toBe(15);
  });

  it('verifies hashes made at another cost, and refuses malformed ones', async () => {
    const cheap = await hashSecret('pw-0123456789', 10);
    expect(await verifySecret('pw-0123456789', cheap)).toBe(true);
    for (const bad of ['', 'scrypt$10', 'bcrypt$10$8$1$a$b', cheap.replace(/.$/, '')]) {
      expect(await verifySecret('pw-0123456789', bad)).toBe(false);
    }
  });

  it('treats canonically equivalent Unicode passwords alike', async () => {
    const hash = await hashSecret('caf\u00e9-secret-1', 10);
    expect(await verifySecret('cafe\u0301-secret-1', hash)).toBe(true);
  });

  it('makes unguessable prefixed tokens and stable digests', () => {
    const token = randomToken('prt_');
    expect(token).toMatch(/^prt_[A-Za-z0-9_-]{43}$/);
    expect(randomToken('prt_')).not.toBe(token);
    expect(digest(token)).toBe(digest(token));
    expect(digest(token)).not.toContain(token);
  });
});
