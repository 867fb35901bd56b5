import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReceipt, signReceipt, verifyReceipt } from '../../server/services/receipts.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ env: { PROFFER_BODY_LIMIT: '4096' } });
});
afterAll(() => server?.close());

describe('operations', () => {
  it('GET /healthz and /readyz answer ok', async () => {
    for (const url of ['/healthz', '/readyz']) {
      const response = await server.request({ method: 'GET', url });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ status: 'ok' });
    }
  });

  it('GET /.well-known/jwks.json publishes the public key that verifies what this server signs', async () => {
    const response = await server.request({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/jwk-set\+json/);
    const jwks = response.json();
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig', kid: expect.any(String) });
    expect(jwks.keys[0].d).toBeUndefined();
    const receipt = buildReceipt({
      receiptId: '3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d',
      subscriptionId: '7d1e6c2a-3b4f-4a5e-8f9a-0b1c2d3e4f5a',
      person: { handle: 'ada' },
      vendor: { id: '2f0c3b55-9d0e-4c4f-8a77-3b1f4f6a9e21', name: 'Velo Lyon', homepage: 'https://velo-lyon.example', contact: 'privacy@velo-lyon.example' },
      fields: [{ path: 'name', purpose: 'fulfillment' }],
      duties: { noThirdPartySharing: true },
      termsVersion: 2,
      status: 'active',
      event: 'granted',
      at: new Date('2026-11-22T10:00:00Z'),
      policyUrl: 'http://proffer.test/v1/people/ada/terms',
      issuer: server.ctx.config.publicUrl,
    });
    const jws = await signReceipt(server.ctx.receiptKeys, receipt);
    expect(await verifyReceipt(jwks, jws, { issuer: server.ctx.config.publicUrl })).toEqual(receipt);
  });

  it('GET /docs serves the interactive reference', async () => {
    const page = await server.request({ method: 'GET', url: '/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
  });

  it('answers an unknown path with a problem, not an HTML page', async () => {
    const response = await server.request({ method: 'GET', url: '/v1/nothing-here?secret=1' });
    expect(response.statusCode).toBe(404);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({ type: 'https://proffer.dev/problems/not-found', status: 404 });
    expect(response.body).not.toContain('secret');
  });

  it('refuses a body over the limit with 413 before reading it all', async () => {
    const response = await server.request({
      method: 'POST',
      url: '/v1/people',
      payload: { handle: 'big-body', password: 'x'.repeat(5000) },
    });
    expect(response.statusCode).toBe(413);
    expect(response.json().type).toBe('https://proffer.dev/problems/payload-too-large');
  });
});

describe('a failure inside the server', () => {
  it('is a bare 500 problem: no stack, no message, no SQL', async () => {
    const broken = await startTestServer();
    // Pull the database out from under a running server: every query now fails unexpectedly.
    await broken.ctx.database.pglite?.close();
    if (!broken.ctx.database.pglite) await broken.ctx.db.destroy();
    const response = await broken.request({ method: 'POST', url: '/v1/people', payload: { handle: 'doomed', password: 'correct horse battery staple' } });
    expect([500, 503]).toContain(response.statusCode);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    const body = response.json();
    expect(Object.keys(body).sort()).toEqual(['detail', 'status', 'title', 'type']);
    expect(response.body).not.toMatch(/at .*\.ts|node_modules|select|insert|PGlite|pool/i);
    await broken.app.close();
  });
});
