import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadContract } from '../../server/http/contract.js';
import { startTestServer, type TestPerson, type TestServer } from '../helpers/server.js';

// Bad input must never become a 500: throw arbitrary bodies and parameters at every operation.
const contract = loadContract();
let server: TestServer;
let person: TestPerson;
let needId: string;
beforeAll(async () => {
  server = await startTestServer();
  person = await server.person();
  const need = await server.request({ method: 'POST', url: '/v1/me/needs', headers: person.auth, payload: { title: 'fuzz', category: 'fuzz' } });
  needId = need.json().id;
});
afterAll(() => server?.close());

const RUNS = 25;
const fuzzable = contract.operations.filter((op) => op.operationId !== 'eraseMe');
const urlFor = (path: string) => path.replace('{needId}', () => needId);

describe('no input makes the server fail', () => {
  for (const op of fuzzable) {
    it(`${op.operationId}: arbitrary bodies, media types and query strings`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.jsonValue().map((v) => ({ type: 'application/json', body: JSON.stringify(v) })),
            fc.string({ unit: 'binary', maxLength: 200 }).map((s) => ({ type: 'application/xml', body: s })),
            fc.string({ maxLength: 100 }).map((s) => ({ type: 'application/merge-patch+json', body: s })),
            fc.string({ maxLength: 100 }).map((s) => ({ type: 'application/x-www-form-urlencoded', body: s })),
          ),
          fc.dictionary(fc.constantFrom('limit', 'cursor', 'status', 'format', 'x', '__proto__'), fc.string({ maxLength: 30 }), { maxKeys: 3 }),
          async ({ type, body }, query) => {
            const response = await server.request({
              method: op.method.toUpperCase() as 'GET',
              url: urlFor(op.path),
              query,
              headers: { ...(op.principal === 'person' ? person.auth : {}), 'content-type': type },
              payload: op.method === 'get' ? undefined : body,
            });
            expect(response.statusCode, `${op.operationId} ${type} ${body}`).toBeLessThan(500);
          },
        ),
        { numRuns: RUNS },
      );
    });
  }

  it('arbitrary path parameters', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 60 }), async (raw) => {
        const response = await server.request({ method: 'GET', url: `/v1/me/needs/${encodeURIComponent(raw)}`, headers: person.auth });
        expect([400, 404]).toContain(response.statusCode);
      }),
      { numRuns: 100 },
    );
  });
});
