import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TEST_PASSWORD, type TestServer } from '../helpers/server.js';

const lines: string[] = [];
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ logLines: lines });
});
afterAll(() => server?.close());

describe('logs', () => {
  it('are structured, one line per request, with no secrets or personal data even at trace level', async () => {
    const handle = 'log-subject-7';
    const person = await server.person(handle);
    const vendor = await server.vendor('Log Vendor');
    const secrets = [TEST_PASSWORD, person.accessToken, person.refreshToken, vendor.clientSecret, vendor.accessToken];
    const personal = ['Ottoline', 'ottoline@example.org', '+44 20 7946 0123', 'Garsington Manor', 'secret-bike-title'];
    await server.request({
      method: 'PUT',
      url: '/v1/me/profile',
      headers: person.auth,
      payload: { name: { given: personal[0] }, emails: { personal: personal[1] }, phones: { home: personal[2] }, addresses: { home: { lines: [personal[3]] } } },
    });
    const need = await server.request({ method: 'POST', url: '/v1/me/needs', headers: person.auth, payload: { title: personal[4], category: 'books' } });
    await server.request({ method: 'GET', url: `/v1/me/needs/${need.json().id}`, headers: person.auth });
    await server.request({ method: 'GET', url: '/v1/me/feed?format=json', headers: person.auth });
    await server.request({ method: 'GET', url: '/v1/me/export', headers: person.auth });
    await server.request({ method: 'POST', url: '/v1/token', payload: { grant_type: 'password', username: handle, password: 'wrong password!' } });
    await server.request({ method: 'PUT', url: '/v1/me/profile', headers: person.auth, payload: { name: { given: personal[0], bogus: personal[1] } } });
    await server.request({ method: 'POST', url: '/v1/token/revoke', payload: { token: person.refreshToken } });

    expect(lines.length).toBeGreaterThan(8);
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const requests = entries.filter((e) => e.msg === 'request');
    expect(requests.length).toBeGreaterThanOrEqual(8);
    for (const entry of requests) {
      expect(entry).toMatchObject({ method: expect.any(String), route: expect.any(String), status: expect.any(Number) });
    }
    expect(requests.map((e) => e.route)).toContain('/v1/me/needs/:needId');
    const all = lines.join('\n');
    for (const value of [...secrets, ...personal, handle, need.json().id]) expect(all, value).not.toContain(value);
  });
});
