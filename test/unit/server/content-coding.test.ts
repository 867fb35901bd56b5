import { gunzipSync } from 'node:zlib';
import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { acceptsGzip, chooseRepresentation, gzipForm } from '../../../server/http/content-coding.js';

const requestWith = (acceptEncoding?: string) => ({ headers: acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding } }) as FastifyRequest;

describe('gzipForm', () => {
  it('compresses a body into bytes that decode to it, tagged by a digest of those bytes', async () => {
    const body = Buffer.from('<entry>Profile updated</entry>'.repeat(200));
    const form = await gzipForm(body, 'v1');
    expect(form).toBeDefined();
    expect(gunzipSync(form!.body).equals(body)).toBe(true);
    expect(form!.etag).toMatch(/^"[A-Za-z0-9_-]{32}"$/);
    expect(form!.contentEncoding).toBe('gzip');
    expect((await gzipForm(body, 'v1'))!.etag).toBe(form!.etag);
    // Another rendering of the same bytes never shares a tag.
    expect((await gzipForm(body, 'v2'))!.etag).not.toBe(form!.etag);
  });

  it('gives nothing when gzip would not make the body smaller', async () => {
    expect(await gzipForm(Buffer.from('{}'), 'v1')).toBeUndefined();
  });
});

describe('acceptsGzip', () => {
  it.each([
    ['gzip', true],
    ['gzip, deflate, br', true],
    ['GZIP', true],
    ['*', true],
    ['identity;q=0, gzip;q=0.1', true],
    [undefined, false],
    ['', false],
    ['identity', false],
    ['gzip;q=0', false],
    ['gzip;q=0.5, identity', false],
    ['br, zstd', false],
    ['x-gzip', false],
    // Malformed headers are bad input, not errors: a q that is not a number, empty members.
    ['gzip;q=abc', false],
    [';;;', false],
    [',,,gzip', true],
  ] as const)('%j → %s', (header, expected) => {
    expect(acceptsGzip(requestWith(header))).toBe(expected);
    // Asked again (the memo) the answer is the same.
    expect(acceptsGzip(requestWith(header))).toBe(expected);
  });
});

describe('chooseRepresentation', () => {
  it('answers the gzip form to a request that takes it, else the identity render, naming no coding', async () => {
    const body = Buffer.from('x'.repeat(1000));
    const rendered = { body, etag: '"identity"', gzip: await gzipForm(body, 'v1') };
    expect(chooseRepresentation(requestWith('gzip'), rendered)).toBe(rendered.gzip);
    const identity = chooseRepresentation(requestWith('identity'), rendered);
    expect(identity.body).toBe(body);
    expect(identity.etag).toBe('"identity"');
    expect(identity.contentEncoding).toBeUndefined();
    expect(chooseRepresentation(requestWith('gzip'), { body, etag: '"small"' }).contentEncoding).toBeUndefined();
  });
});
