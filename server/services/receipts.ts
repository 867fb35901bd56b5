import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
} from 'jose';
import type { Kysely } from 'kysely';
import { dpvPurpose, PURPOSE_TOKENS, type Duties, type Purpose } from '../../policies/index.js';
import type { Database } from '../db/schema.js';

/**
 * Consent receipts (DESIGN.md, "Subscription"): every grant, and every change to it, yields one
 * receipt, modelled on the Kantara Initiative Consent Receipt Specification v1.1 (KI-CR-v1.1.0)
 * field names, plus Proffer's own members. The server signs it as a compact JWS (EdDSA over
 * Ed25519, RFC 8037) whose public key it publishes at `GET /.well-known/jwks.json`, so the person,
 * the vendor or anyone they show it to can check it with any JOSE library.
 *
 * A receipt is built from its input alone (no clock, no randomness) and Ed25519 signatures are
 * deterministic (RFC 8032), so the same event always gives the same bytes: both parties are shown
 * one stored JWS, and re-signing it would reproduce it exactly.
 */

/** Kantara's `version` names the specification a receipt conforms to. Ours follows KI-CR-v1.1.0's
 * names but is not a conformant Kantara receipt (no jurisdiction, no controller postal address
 * or phone, no `sensitive`/`spiCat`), hence a profile of its own. */
export const RECEIPT_VERSION = 'KI-CR-v1.1.0+proffer.1';

/**
 * The JWS `typ` header (RFC 7515 §4.1.9; explicit typing, RFC 8725 §3.11): the media type
 * `application/proffer-receipt+jwt`, shortened as RFC 7515 recommends. The payload is a JWT claims
 * set (`iss`, `iat`), so every JWT library reads it, yet a receipt can never be mistaken for
 * another JWT this server (or a later key) signs, e.g. an access token: `verifyReceipt` demands it.
 */
export const RECEIPT_TYP = 'proffer-receipt+jwt';

export const RECEIPT_ALG = 'EdDSA';

/** The `server_secrets` row holding the active signing key: its private JWK as JSON. */
export const RECEIPT_KEY_SECRET = 'receipt-signing-ed25519';

export type ReceiptStatus = 'active' | 'revoked' | 'ended' | 'expired';
export type ReceiptEvent = 'granted' | 'narrowed' | 'approved' | 'revoked' | 'ended' | 'expired';

export interface ReceiptInput {
  /** The receipt's own id (a UUID, made by the caller): Kantara's `consentReceiptID`. */
  receiptId: string;
  subscriptionId: string;
  person: { handle: string };
  vendor: { id: string; name: string; homepage: string; contact: string };
  /** The granted fields, each with its purpose (the grant after this event). */
  fields: readonly { path: string; purpose: Purpose }[];
  /** Granted need categories, if any. */
  categories?: readonly string[] | undefined;
  /** The duties the vendor accepted. */
  duties: Duties;
  termsVersion: number;
  status: ReceiptStatus;
  event: ReceiptEvent;
  /** When the event happened: the consent timestamp and the JWT `iat`. */
  at: Date;
  /** When the grant expires (from the `grantExpiryDays` duty), if it does. */
  expiresAt?: Date | null | undefined;
  /** The person's public terms URL. */
  policyUrl: string;
  /** The server's public URL: the JWT `iss`. */
  issuer: string;
}

export interface ReceiptPurpose {
  /** The purpose token (schemas/terms.json). */
  purpose: Purpose;
  /** Its W3C Data Privacy Vocabulary class IRI. */
  purposeCategory: string[];
  consentType: 'EXPLICIT';
  /** The field paths granted for this purpose. */
  piiCategory: string[];
  termination: string;
  /** `false` when the vendor accepted the no-third-party-sharing duty; absent otherwise. */
  thirdPartyDisclosure?: false;
}

/** The receipt: a JWT claims set. Member order is fixed, so its JSON is too. */
export interface ConsentReceipt {
  iss: string;
  iat: number;
  version: typeof RECEIPT_VERSION;
  /** Seconds since the epoch, as in KI-CR-v1.1.0 (equal to `iat`). */
  consentTimestamp: number;
  collectionMethod: string;
  consentReceiptID: string;
  language: 'en';
  piiPrincipalId: string;
  /** The vendor. Its one contact is an e-mail address: Kantara's `contact` and `email` both. */
  piiControllers: { piiController: string; contact: string; email: string; piiControllerUrl: string }[];
  policyUrl: string;
  services: { service: string; purposes: ReceiptPurpose[] }[];
  /** Proffer members. */
  subscription: string;
  vendor: string;
  termsVersion: number;
  duties: Duties;
  needCategories?: string[];
  expiresAt?: string;
  status: ReceiptStatus;
  event: ReceiptEvent;
}

const COLLECTION_METHOD: Record<ReceiptEvent, string> = {
  granted: "Proffer subscription request granted under the person's published terms",
  approved: 'Proffer subscription request approved by the person',
  narrowed: "Proffer grant narrowed (by the person, or by a change of the person's terms)",
  revoked: 'Proffer grant revoked by the person',
  ended: 'Proffer subscription ended by the vendor',
  expired: 'Proffer grant expired',
};

const DUTY_ORDER = ['maxRetentionDays', 'noThirdPartySharing', 'noProfiling', 'deleteOnRevoke', 'grantExpiryDays', 'maxReadsPerDay'] as const;

/** Code-unit order: the same everywhere, unlike localeCompare. */
const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function epochSeconds(at: Date, what: string): number {
  const ms = at.getTime();
  if (!Number.isFinite(ms)) throw new TypeError(`receipt: ${what} is not a valid date`);
  return Math.floor(ms / 1000);
}

/**
 * The receipt of one event of one grant. Depends on its input only; the input's order does not
 * matter (purposes follow the vocabulary's order, paths and categories are sorted, duplicates go).
 */
export function buildReceipt(input: ReceiptInput): ConsentReceipt {
  const seconds = epochSeconds(input.at, 'at');
  const expiresAt = input.expiresAt ? new Date(epochSeconds(input.expiresAt, 'expiresAt') * 1000).toISOString() : undefined;
  const termination = expiresAt ? `${expiresAt} or on revocation, whichever comes first` : 'on revocation';

  const pathsByPurpose = new Map<Purpose, Set<string>>();
  for (const { path, purpose } of input.fields) {
    if (!PURPOSE_TOKENS.includes(purpose)) throw new TypeError(`receipt: unknown purpose "${String(purpose)}"`);
    let paths = pathsByPurpose.get(purpose);
    if (!paths) pathsByPurpose.set(purpose, (paths = new Set()));
    paths.add(path);
  }
  const purposes = PURPOSE_TOKENS.filter((purpose) => pathsByPurpose.has(purpose)).map((purpose): ReceiptPurpose => ({
    purpose,
    purposeCategory: [dpvPurpose(purpose)],
    consentType: 'EXPLICIT',
    piiCategory: [...(pathsByPurpose.get(purpose) as Set<string>)].sort(byCodeUnit),
    termination,
    ...(input.duties.noThirdPartySharing === true ? { thirdPartyDisclosure: false as const } : {}),
  }));

  const duties: Duties = {};
  for (const name of DUTY_ORDER) {
    if (input.duties[name] !== undefined) (duties as Record<string, unknown>)[name] = input.duties[name];
  }
  const categories = [...new Set(input.categories ?? [])].sort(byCodeUnit);

  return {
    iss: input.issuer,
    iat: seconds,
    version: RECEIPT_VERSION,
    consentTimestamp: seconds,
    collectionMethod: COLLECTION_METHOD[input.event],
    consentReceiptID: input.receiptId,
    language: 'en',
    piiPrincipalId: input.person.handle,
    piiControllers: [
      { piiController: input.vendor.name, contact: input.vendor.contact, email: input.vendor.contact, piiControllerUrl: input.vendor.homepage },
    ],
    policyUrl: input.policyUrl,
    services: [{ service: `Proffer subscription of ${input.vendor.name} to ${input.person.handle}'s profile`, purposes }],
    subscription: input.subscriptionId,
    vendor: input.vendor.id,
    termsVersion: input.termsVersion,
    duties,
    ...(categories.length > 0 ? { needCategories: categories } : {}),
    ...(expiresAt ? { expiresAt } : {}),
    status: input.status,
    event: input.event,
  };
}

export interface PublicReceiptJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: typeof RECEIPT_ALG;
  use: 'sig';
}

export interface ReceiptJwks {
  readonly keys: readonly PublicReceiptJwk[];
}

export interface ReceiptKeys {
  /** The RFC 7638 thumbprint of the active key. */
  kid: string;
  /** A compact JWS of `payload` (a JWT claims set) with the active key: `{ alg, kid, typ }`. */
  sign(payload: JWTPayload): Promise<string>;
  /** What `GET /.well-known/jwks.json` serves: public members only. */
  jwks: ReceiptJwks;
}

/**
 * The receipt signing key, made by the first server process to need it and shared by all through
 * `server_secrets` (insert, or keep the row another process won the race with, then read back).
 *
 * Rotation (not built yet) keeps every receipt ever issued verifiable, because receipts are
 * long-lived evidence: (1) generate the next key and publish its public JWK in the JWKS next to the
 * active one, for at least the JWKS cache lifetime (its max-age), before anything is signed with it; (2) make it
 * the active key (each process reads the key at start, so a rolling restart switches them; a
 * published key not yet signing is harmless, verifiers pick a key by `kid`); (3) keep the retired
 * key's public JWK in the JWKS for good and delete its private half. The rows would then be one
 * per key, e.g. `receipt-signing-ed25519:<kid>`, with the active one named; the JWKS is already a
 * list, and `sign` always uses the active key.
 */
export async function loadReceiptKeys(db: Kysely<Database>): Promise<ReceiptKeys> {
  const stored = await readStoredKey(db);
  if (stored !== undefined) return keysFromPrivateJwk(parseStoredJwk(stored));
  const { privateKey } = await generateKeyPair(RECEIPT_ALG, { crv: 'Ed25519', extractable: true });
  const fresh = await exportJWK(privateKey);
  await db
    .insertInto('server_secrets')
    .values({ name: RECEIPT_KEY_SECRET, value: JSON.stringify({ kty: fresh.kty, crv: fresh.crv, x: fresh.x, d: fresh.d }) })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  // Another process may have won the race: whichever row is there is the key.
  const winner = await readStoredKey(db);
  if (winner === undefined) throw new Error(`server_secrets "${RECEIPT_KEY_SECRET}" vanished`);
  return keysFromPrivateJwk(parseStoredJwk(winner));
}

async function readStoredKey(db: Kysely<Database>): Promise<string | undefined> {
  const row = await db.selectFrom('server_secrets').select('value').where('name', '=', RECEIPT_KEY_SECRET).executeTakeFirst();
  return row?.value;
}

function parseStoredJwk(value: string): JWK & { x: string; d: string } {
  let jwk: unknown;
  try {
    jwk = JSON.parse(value);
  } catch {
    jwk = undefined;
  }
  const candidate = jwk as Partial<JWK> | undefined;
  if (
    candidate?.kty !== 'OKP' ||
    candidate.crv !== 'Ed25519' ||
    typeof candidate.x !== 'string' ||
    typeof candidate.d !== 'string'
  ) {
    throw new Error(`server_secrets "${RECEIPT_KEY_SECRET}" is not an Ed25519 private JWK`);
  }
  return candidate as JWK & { x: string; d: string };
}

async function keysFromPrivateJwk(privateJwk: JWK & { x: string; d: string }): Promise<ReceiptKeys> {
  const publicMembers = { kty: 'OKP', crv: 'Ed25519', x: privateJwk.x } as const;
  const kid = await calculateJwkThumbprint(publicMembers, 'sha256');
  const key = await importJWK({ ...publicMembers, d: privateJwk.d }, RECEIPT_ALG);
  const publicJwk: PublicReceiptJwk = Object.freeze({ ...publicMembers, kid, alg: RECEIPT_ALG, use: 'sig' });
  return {
    kid,
    sign: (payload) => new SignJWT(payload).setProtectedHeader({ alg: RECEIPT_ALG, kid, typ: RECEIPT_TYP }).sign(key),
    jwks: Object.freeze({ keys: Object.freeze([publicJwk]) }),
  };
}

/** The compact JWS of a receipt. The receipt carries its own `iss` and `iat`: the same receipt and key give the same JWS. */
export function signReceipt(keys: ReceiptKeys, receipt: ConsentReceipt): Promise<string> {
  return keys.sign(receipt as unknown as JWTPayload);
}

/**
 * Checks a receipt's signature against a JWKS (only its public keys are needed), its `typ` and
 * algorithm, and optionally its issuer; answers the receipt. Throws (a jose error) otherwise.
 */
export async function verifyReceipt(jwks: JSONWebKeySet | ReceiptJwks, jws: string, options: { issuer?: string } = {}): Promise<ConsentReceipt> {
  const { payload } = await jwtVerify(jws, createLocalJWKSet(jwks as unknown as JSONWebKeySet), {
    algorithms: [RECEIPT_ALG],
    typ: RECEIPT_TYP,
    ...(options.issuer !== undefined ? { issuer: options.issuer } : {}),
  });
  if (payload.version !== RECEIPT_VERSION) throw new Error(`not a Proffer consent receipt (version ${String(payload.version)})`);
  return payload as unknown as ConsentReceipt;
}
