import { createHash } from 'node:crypto';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { errors, exportJWK, generateKeyPair, importJWK, SignJWT, calculateJwkThumbprint } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { migrateToLatest, type DatabaseHandle } from '../../../server/db/database.js';
import { loadSchemaFiles } from '../../../server/http/contract.js';
import {
  buildReceipt,
  loadReceiptKeys,
  RECEIPT_KEY_SECRET,
  RECEIPT_TYP,
  RECEIPT_VERSION,
  signReceipt,
  verifyReceipt,
  type ConsentReceipt,
  type ReceiptInput,
  type ReceiptKeys,
} from '../../../server/services/receipts.js';
import { openTestDatabase } from '../../helpers/server.js';

const ISSUER = 'http://proffer.test';

const input = (overrides: Partial<ReceiptInput> = {}): ReceiptInput => ({
  receiptId: '3f2b8c1d-6a4e-4f7b-9c2d-8e1a5b7c9d01',
  subscriptionId: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
  person: { handle: 'alice' },
  vendor: { id: '0b6f7c1e-4a53-4d8e-9a43-5c2f0f0d2a11', name: 'Vélo Lyon', homepage: 'https://velo-lyon.example', contact: 'privacy@velo-lyon.example' },
  fields: [
    { path: 'name', purpose: 'delivery' },
    { path: 'addresses.home', purpose: 'delivery' },
    { path: 'name', purpose: 'fulfillment' },
    { path: 'email', purpose: 'fulfillment' },
  ],
  categories: ['sports/cycling', 'home/furniture'],
  duties: { grantExpiryDays: 365, deleteOnRevoke: true, noThirdPartySharing: true, maxRetentionDays: 90 },
  termsVersion: 2,
  status: 'active',
  event: 'granted',
  at: new Date('2026-11-22T10:00:00.250Z'),
  expiresAt: new Date('2027-11-22T10:00:00.250Z'),
  policyUrl: `${ISSUER}/v1/people/alice/terms`,
  issuer: ISSUER,
  ...overrides,
});

/** The JSON Schemas of schemas/, compiled as the server does. */
function schemaValidator() {
  const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
  addFormats.default(ajv);
  const schemas = loadSchemaFiles();
  for (const schema of Object.values(schemas)) ajv.addSchema(schema);
  const check = (ref: string, value: unknown) => {
    const validate = ajv.getSchema(`https://proffer.dev/schemas/receipt.json${ref}`);
    if (!validate) throw new Error(`no schema ${ref}`);
    return validate(value) ? null : ajv.errorsText(validate.errors);
  };
  return { check, schema: schemas['receipt.json'] as Record<string, unknown> & { $defs: Record<string, { examples?: unknown[] }> } };
}

const b64json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const decode = (segment: string) => JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as Record<string, unknown>;

let database: DatabaseHandle;
let drop: () => Promise<void>;
let keys: ReceiptKeys;

beforeAll(async () => {
  ({ database, drop } = await openTestDatabase());
  await migrateToLatest(database.db); // PGlite's template is migrated already; a PostgreSQL schema is empty
  keys = await loadReceiptKeys(database.db);
});
afterAll(async () => {
  await database?.close();
  await drop?.();
});

const storedKeyRows = () => database.db.selectFrom('server_secrets').select('value').where('name', '=', RECEIPT_KEY_SECRET).execute();

describe('the receipt signing key', () => {
  it('is created once, stored in server_secrets, and reused by every later load', async () => {
    const again = await loadReceiptKeys(database.db);
    expect(again.kid).toBe(keys.kid);
    expect(again.jwks).toEqual(keys.jwks);
    const rows = await storedKeyRows();
    expect(rows).toHaveLength(1);
    expect(JSON.parse(rows[0]?.value ?? '')).toMatchObject({ kty: 'OKP', crv: 'Ed25519', x: keys.jwks.keys[0]?.x, d: expect.any(String) });
    // What one process signs, another (a later load) verifies, and vice versa.
    const receipt = buildReceipt(input());
    expect(await verifyReceipt(again.jwks, await signReceipt(keys, receipt))).toEqual(receipt);
    expect(await signReceipt(again, receipt)).toBe(await signReceipt(keys, receipt));
  });

  it('is the same for concurrent first loads: one insert wins, every loader reads the winner', async () => {
    const { database: fresh, drop: dropFresh } = await openTestDatabase();
    try {
      await migrateToLatest(fresh.db);
      expect(await fresh.db.selectFrom('server_secrets').select('name').where('name', '=', RECEIPT_KEY_SECRET).execute()).toEqual([]);
      const loaded = await Promise.all(Array.from({ length: 6 }, () => loadReceiptKeys(fresh.db)));
      const kids = new Set(loaded.map((k) => k.kid));
      expect(kids.size).toBe(1);
      expect(await fresh.db.selectFrom('server_secrets').select('name').where('name', '=', RECEIPT_KEY_SECRET).execute()).toHaveLength(1);
      expect((await loadReceiptKeys(fresh.db)).kid).toBe(loaded[0]?.kid);
      // Another database, another key.
      expect(loaded[0]?.kid).not.toBe(keys.kid);
    } finally {
      await fresh.close();
      await dropFresh();
    }
  });

  it('has the RFC 7638 thumbprint of its public key as kid', async () => {
    const [jwk] = keys.jwks.keys;
    if (!jwk) throw new Error('no key');
    // RFC 7638 §3.2 for OKP: the required members in lexicographic order, no whitespace, SHA-256.
    const canonical = `{"crv":"${jwk.crv}","kty":"${jwk.kty}","x":"${jwk.x}"}`;
    expect(jwk.kid).toBe(createHash('sha256').update(canonical).digest('base64url'));
    expect(jwk.kid).toBe(await calculateJwkThumbprint(jwk));
    expect(keys.kid).toBe(jwk.kid);
  });

  it('publishes a JWKS with public members only', async () => {
    const served = JSON.parse(JSON.stringify(keys.jwks)) as { keys: Record<string, unknown>[] };
    expect(served.keys).toHaveLength(1);
    for (const key of served.keys) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
      expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      expect(key).not.toHaveProperty('d');
    }
    const stored = JSON.parse((await storedKeyRows())[0]?.value ?? '') as { d: string };
    expect(JSON.stringify(keys.jwks)).not.toContain(stored.d);
    expect(schemaValidator().check('#/$defs/jwks', served)).toBeNull();
  });

  it('refuses a stored value that is not an Ed25519 private JWK', async () => {
    const [row] = await storedKeyRows();
    if (!row) throw new Error('no key');
    try {
      for (const bad of ['not json', '{"kty":"OKP","crv":"Ed25519","x":"abc"}', '{"kty":"EC","crv":"P-256","x":"a","d":"b"}']) {
        await database.db.updateTable('server_secrets').set({ value: bad }).where('name', '=', RECEIPT_KEY_SECRET).execute();
        await expect(loadReceiptKeys(database.db)).rejects.toThrow(/not an Ed25519 private JWK/);
      }
    } finally {
      await database.db.updateTable('server_secrets').set({ value: row.value }).where('name', '=', RECEIPT_KEY_SECRET).execute();
    }
    expect((await loadReceiptKeys(database.db)).kid).toBe(keys.kid);
  });
});

describe('signing and verifying receipts', () => {
  it('round-trips exactly with nothing but the public JWKS, as served', async () => {
    const receipt = buildReceipt(input());
    const jws = await signReceipt(keys, receipt);
    const servedJwks = JSON.parse(JSON.stringify(keys.jwks));
    const verified = await verifyReceipt(servedJwks, jws, { issuer: ISSUER });
    expect(verified).toEqual(receipt);
    expect(JSON.stringify(verified)).toBe(JSON.stringify(receipt));

    const [header, payload, signature] = jws.split('.');
    expect(decode(header ?? '')).toEqual({ alg: 'EdDSA', kid: keys.kid, typ: RECEIPT_TYP });
    expect(decode(payload ?? '')).toEqual(receipt);
    expect(Buffer.from(signature ?? '', 'base64url')).toHaveLength(64);
    expect(schemaValidator().check('', { jws, receipt: verified })).toBeNull();
  });

  it('gives the same bytes for the same receipt (Ed25519 is deterministic, iat is the event time)', async () => {
    const first = await signReceipt(keys, buildReceipt(input()));
    const second = await signReceipt(keys, buildReceipt(input()));
    expect(second).toBe(first);
    expect(await signReceipt(keys, buildReceipt(input({ event: 'narrowed' })))).not.toBe(first);
  });

  it('rejects a tampered payload', async () => {
    const receipt = buildReceipt(input());
    const [header, , signature] = (await signReceipt(keys, receipt)).split('.');
    const widened = { ...receipt, services: [{ ...receipt.services[0], purposes: [...(receipt.services[0]?.purposes ?? []), { purpose: 'marketing' }] }] };
    for (const forged of [widened, { ...receipt, status: 'revoked' }, { ...receipt, iat: receipt.iat + 1 }]) {
      await expect(verifyReceipt(keys.jwks, `${header}.${b64json(forged)}.${signature}`)).rejects.toBeInstanceOf(errors.JWSSignatureVerificationFailed);
    }
  });

  it('rejects a tampered signature or header', async () => {
    const [header, payload, signature = ''] = (await signReceipt(keys, buildReceipt(input()))).split('.');
    const flipped = signature.slice(0, 10) + (signature[10] === 'A' ? 'B' : 'A') + signature.slice(11);
    await expect(verifyReceipt(keys.jwks, `${header}.${payload}.${flipped}`)).rejects.toBeInstanceOf(errors.JWSSignatureVerificationFailed);
    await expect(verifyReceipt(keys.jwks, `${header}.${payload}.`)).rejects.toThrow();
    const retyped = b64json({ ...decode(header ?? ''), typ: 'JWT' });
    await expect(verifyReceipt(keys.jwks, `${retyped}.${payload}.${signature}`)).rejects.toThrow();
  });

  it('rejects a receipt signed with another key, under its own kid or under ours', async () => {
    const receipt = buildReceipt(input());
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true });
    const otherKid = await calculateJwkThumbprint(await exportJWK(publicKey));
    const sign = (kid: string) => new SignJWT({ ...receipt }).setProtectedHeader({ alg: 'EdDSA', kid, typ: RECEIPT_TYP }).sign(privateKey);
    await expect(verifyReceipt(keys.jwks, await sign(otherKid))).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
    await expect(verifyReceipt(keys.jwks, await sign(keys.kid))).rejects.toBeInstanceOf(errors.JWSSignatureVerificationFailed);
  });

  it('rejects a JWT of another type or issuer, even one signed with the receipt key', async () => {
    const stored = JSON.parse((await storedKeyRows())[0]?.value ?? '');
    const ourKey = await importJWK(stored, 'EdDSA');
    const receipt = buildReceipt(input());
    const asPlainJwt = await new SignJWT({ ...receipt }).setProtectedHeader({ alg: 'EdDSA', kid: keys.kid, typ: 'JWT' }).sign(ourKey);
    await expect(verifyReceipt(keys.jwks, asPlainJwt)).rejects.toBeInstanceOf(errors.JWTClaimValidationFailed);
    const notAReceipt = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'EdDSA', kid: keys.kid, typ: RECEIPT_TYP }).setIssuedAt().sign(ourKey);
    await expect(verifyReceipt(keys.jwks, notAReceipt)).rejects.toThrow(/not a Proffer consent receipt/);
    const jws = await signReceipt(keys, receipt);
    await expect(verifyReceipt(keys.jwks, jws, { issuer: 'https://elsewhere.example' })).rejects.toBeInstanceOf(errors.JWTClaimValidationFailed);
  });
});

describe('buildReceipt', () => {
  it('maps a grant onto Kantara Consent Receipt v1.1 members plus Proffer ones', () => {
    const receipt = buildReceipt(input());
    const termination = '2027-11-22T10:00:00.000Z or on revocation, whichever comes first';
    expect(receipt).toEqual({
      iss: ISSUER,
      iat: 1795341600,
      version: RECEIPT_VERSION,
      consentTimestamp: 1795341600,
      collectionMethod: "Proffer subscription request granted under the person's published terms",
      consentReceiptID: '3f2b8c1d-6a4e-4f7b-9c2d-8e1a5b7c9d01',
      language: 'en',
      piiPrincipalId: 'alice',
      piiControllers: [
        { piiController: 'Vélo Lyon', contact: 'privacy@velo-lyon.example', email: 'privacy@velo-lyon.example', piiControllerUrl: 'https://velo-lyon.example' },
      ],
      policyUrl: `${ISSUER}/v1/people/alice/terms`,
      services: [
        {
          service: "Proffer subscription of Vélo Lyon to alice's profile",
          purposes: [
            {
              purpose: 'fulfillment',
              purposeCategory: ['https://w3id.org/dpv#RequestedServiceProvision'],
              consentType: 'EXPLICIT',
              piiCategory: ['email', 'name'],
              termination,
              thirdPartyDisclosure: false,
            },
            {
              purpose: 'delivery',
              purposeCategory: ['https://w3id.org/dpv#DeliveryOfGoods'],
              consentType: 'EXPLICIT',
              piiCategory: ['addresses.home', 'name'],
              termination,
              thirdPartyDisclosure: false,
            },
          ],
        },
      ],
      subscription: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
      vendor: '0b6f7c1e-4a53-4d8e-9a43-5c2f0f0d2a11',
      termsVersion: 2,
      duties: { maxRetentionDays: 90, noThirdPartySharing: true, deleteOnRevoke: true, grantExpiryDays: 365 },
      needCategories: ['home/furniture', 'sports/cycling'],
      expiresAt: '2027-11-22T10:00:00.000Z',
      status: 'active',
      event: 'granted',
    } satisfies ConsentReceipt);
    expect(schemaValidator().check('#/$defs/consentReceipt', receipt)).toBeNull();
  });

  it('omits what it does not know: expiry, need categories, a third-party promise', () => {
    const receipt = buildReceipt(input({ expiresAt: null, categories: [], duties: { maxRetentionDays: 0 }, status: 'revoked', event: 'revoked' }));
    expect(receipt).not.toHaveProperty('expiresAt');
    expect(receipt).not.toHaveProperty('needCategories');
    expect(receipt).not.toHaveProperty('jurisdiction');
    expect(receipt).not.toHaveProperty('publicKey');
    for (const purpose of receipt.services[0]?.purposes ?? []) {
      expect(purpose.termination).toBe('on revocation');
      expect(purpose).not.toHaveProperty('thirdPartyDisclosure');
    }
    expect(receipt).toMatchObject({ status: 'revoked', event: 'revoked', duties: { maxRetentionDays: 0 }, collectionMethod: 'Proffer grant revoked by the person' });
    expect(schemaValidator().check('#/$defs/consentReceipt', receipt)).toBeNull();
    const needsOnly = buildReceipt(input({ fields: [] }));
    expect(needsOnly.services[0]?.purposes).toEqual([]);
    expect(schemaValidator().check('#/$defs/consentReceipt', needsOnly)).toBeNull();
  });

  it('is deterministic: the same input gives the same JSON, whatever the clock, and input order does not matter', () => {
    const first = JSON.stringify(buildReceipt(input()));
    const now = vi.spyOn(Date, 'now').mockImplementation(() => {
      throw new Error('buildReceipt must not read the clock');
    });
    const random = vi.spyOn(Math, 'random').mockImplementation(() => {
      throw new Error('buildReceipt must not use randomness');
    });
    try {
      expect(JSON.stringify(buildReceipt(input()))).toBe(first);
      const shuffled = input();
      const reordered = input({
        fields: [...shuffled.fields].reverse().concat(shuffled.fields),
        categories: ['home/furniture', 'sports/cycling', 'home/furniture'],
        duties: { maxRetentionDays: 90, grantExpiryDays: 365, noThirdPartySharing: true, deleteOnRevoke: true },
      });
      expect(JSON.stringify(buildReceipt(reordered))).toBe(first);
    } finally {
      now.mockRestore();
      random.mockRestore();
    }
    expect(JSON.stringify(buildReceipt(input({ termsVersion: 3 })))).not.toBe(first);
  });

  it('refuses an invalid date or an unknown purpose', () => {
    expect(() => buildReceipt(input({ at: new Date('nope') }))).toThrow(/at is not a valid date/);
    expect(() => buildReceipt(input({ fields: [{ path: 'name', purpose: 'surveillance' as never }] }))).toThrow(/unknown purpose/);
  });
});

describe('schemas/receipt.json', () => {
  const { check, schema } = schemaValidator();
  const examples = [
    ['', schema.examples as unknown[]],
    ...Object.entries(schema.$defs)
      .filter(([, def]) => def.examples)
      .map(([name, def]) => [`#/$defs/${name}`, def.examples as unknown[]] as const),
  ] as const;

  it.each(examples.map(([ref, values]) => [ref || '(root)', ref, values] as const))('has examples of %s that validate', (_name, ref, values) => {
    expect(values.length).toBeGreaterThan(0);
    for (const value of values) expect(check(ref, value)).toBeNull();
  });

  it("has example receipts whose JWS verifies against the example JWKS and decodes to the example's receipt", async () => {
    const [jwks] = schema.$defs.jwks?.examples ?? [];
    for (const example of schema.examples as { jws: string; receipt: ConsentReceipt }[]) {
      expect(await verifyReceipt(jwks as never, example.jws)).toEqual(example.receipt);
    }
  });
});
