import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

describe('smoke', () => {
  it('signs up, logs in, writes a profile and reads it back', async () => {
    const ada = await server.person();
    const put = await server.request({ method: 'PUT', url: '/v1/me/profile', headers: ada.auth, payload: { name: { given: 'Ada' } } });
    expect(put.statusCode).toBe(200);
    const xml = await server.request({ method: 'GET', url: '/v1/me/profile', headers: { ...ada.auth, accept: 'application/xml' } });
    expect(xml.statusCode).toBe(200);
    expect(xml.body).toContain('<given>Ada</given>');
  });
});
