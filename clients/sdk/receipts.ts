import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import type { ConsentReceipt, Jwks } from './types.js';

/** What Proffer puts in the JWS header of a receipt; anything else signed by the server is refused. */
export const RECEIPT_TYP = 'proffer-receipt+jwt';
const RECEIPT_ALG = 'EdDSA';

/**
 * Verifies a consent receipt's compact JWS against a key set (the server's
 * `GET /.well-known/jwks.json`) and answers the signed payload, which is what to trust (not the
 * decoded copy next to it in API answers). `issuer`: the server's public URL, checked against `iss`.
 * Throws (a jose error) when the signature, algorithm, type or issuer is wrong.
 */
export async function verifyReceiptWith(jwks: Jwks, jws: string, options: { issuer?: string } = {}): Promise<ConsentReceipt> {
  const { payload } = await jwtVerify(jws, createLocalJWKSet(jwks as unknown as JSONWebKeySet), {
    algorithms: [RECEIPT_ALG],
    typ: RECEIPT_TYP,
    ...(options.issuer !== undefined ? { issuer: options.issuer } : {}),
  });
  return payload as unknown as ConsentReceipt;
}
