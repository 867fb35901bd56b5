import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/config.js';
import { deliver } from '../../server/push/deliver.js';
import { TargetRefused, vetTarget, type Resolver } from '../../server/push/targets.js';
import { startReceiver, verifySignature, type Receiver } from '../helpers/webhook-receiver.js';

/**
 * The target rules where DNS is involved, with a resolver of the test's own (names under .test
 * never resolve for real): every address a name resolves to is checked, and the connection goes
 * to the address that was checked, whatever a later lookup would say.
 */

const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
let receiver: Receiver;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(() => receiver?.close());

const resolveTo = (...addresses: string[]): Resolver => async () => addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

async function refusal(url: string, resolve: Resolver, allowHttpLoopback = false): Promise<TargetRefused> {
  const error = await vetTarget(url, { allowHttpLoopback, resolve }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(TargetRefused);
  return error as TargetRefused;
}

describe('vetting a host name', () => {
  it('refuses a name if any of its addresses is not public', async () => {
    expect((await refusal('https://mixed.test/hook', resolveTo('93.184.216.34', '10.0.0.7'))).reason).toBe('address');
    expect((await refusal('https://mixed.test/hook', resolveTo('2606:2800:220:1::1', 'fd00::1'))).reason).toBe('address');
    expect((await refusal('https://mapped.test/hook', resolveTo('::ffff:192.168.1.1'))).reason).toBe('address');
    expect((await refusal('https://nothing.test/hook', resolveTo())).reason).toBe('unresolvable');
    const failing: Resolver = async () => {
      throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    expect((await refusal('https://broken.test/hook', failing)).reason).toBe('unresolvable');
    // Loopback is allowed by the setting, over http; private addresses never are.
    expect((await refusal('http://private.test/hook', resolveTo('192.168.0.2'), true)).reason).toBe('address');
    expect((await refusal('http://public.test/hook', resolveTo('93.184.216.34'), true)).reason).toBe('https-only');
  });

  it('accepts a name whose every address is public, and pins the first (IPv4-mapped ones as IPv4)', async () => {
    const vetted = await vetTarget('https://shop.test/hook', { allowHttpLoopback: false, resolve: resolveTo('::ffff:93.184.216.34', '93.184.216.35') });
    expect(vetted).toMatchObject({ host: 'shop.test', address: '93.184.216.34', family: 4 });
  });
});

describe('delivering', () => {
  it('connects to the address that was checked, not to what a later lookup says', async () => {
    receiver.behave(() => ({ status: 204 }));
    let lookups = 0;
    // First answer: loopback (allowed here). Any later lookup would point elsewhere.
    const rebinding: Resolver = async () => [{ address: lookups++ === 0 ? '127.0.0.1' : '10.9.9.9', family: 4 }];
    const outcome = await deliver(
      { url: `http://rebind.test:${receiver.port}/pinned`, secret: SECRET, id: 'msg_pinned', body: '{"type":"ping","timestamp":"2026-01-01T00:00:00.000Z","data":{"subscription":"x"}}' },
      { allowHttpLoopback: true, resolve: rebinding },
      { timeoutMs: 2_000 },
    );
    expect(outcome).toEqual({ delivered: true, status: 204 });
    expect(lookups).toBe(1);
    const got = receiver.deliveries.find((d) => d.path === '/pinned');
    expect(got?.headers.host).toBe(`rebind.test:${receiver.port}`);
    expect(got?.headers['webhook-id']).toBe('msg_pinned');
    expect(verifySignature(SECRET, got!)).toMatchObject({ type: 'ping' });
  });

  it('checks again before connecting: a name that now resolves to a private address is not called', async () => {
    let lookups = 0;
    // Registration saw a public address; by delivery time the name points inside.
    const rebinding: Resolver = async () => [{ address: lookups++ === 0 ? '93.184.216.34' : '127.0.0.1', family: 4 }];
    expect((await vetTarget(`https://rebind.test:${receiver.port}/inside`, { allowHttpLoopback: false, resolve: rebinding })).address).toBe('93.184.216.34');
    const before = receiver.deliveries.length;
    const outcome = await deliver(
      { url: `https://rebind.test:${receiver.port}/inside`, secret: SECRET, id: 'msg_inside', body: '{}' },
      { allowHttpLoopback: false, resolve: rebinding },
      { timeoutMs: 2_000 },
    );
    expect(outcome).toMatchObject({ delivered: false, error: expect.stringMatching(/^target refused: .*non-public address \(loopback\)/) });
    expect(receiver.deliveries.length).toBe(before);
  });

  it('bounds a lookup that never answers by the delivery timeout', async () => {
    const hanging: Resolver = () => new Promise(() => {});
    const outcome = await deliver({ url: 'https://slow-dns.test/hook', secret: SECRET, id: 'msg_dns', body: '{}' }, { allowHttpLoopback: false, resolve: hanging }, { timeoutMs: 200 });
    expect(outcome).toEqual({ delivered: false, error: 'no answer within 200 ms' });
  });

  it('treats a connection refused as a failed delivery, with its reason', async () => {
    const closed = await startReceiver();
    const port = closed.port;
    await closed.close();
    const outcome = await deliver({ url: `http://127.0.0.1:${port}/hook`, secret: SECRET, id: 'msg_refused', body: '{}' }, { allowHttpLoopback: true }, { timeoutMs: 2_000 });
    expect(outcome).toMatchObject({ delivered: false, error: expect.stringMatching(/^ECONNREFUSED/) });
  });
});

describe('configuration', () => {
  it('defaults to https-only targets, 10 s attempts, retries from 5 s to 1 h, 30 days to acknowledge', () => {
    expect(loadConfig({})).toMatchObject({
      webhookAllowHttpLoopback: false,
      webhookTimeoutMs: 10_000,
      webhookPollMs: 1_000,
      webhookRetryBaseMs: 5_000,
      webhookRetryCapMs: 3_600_000,
      webhookConcurrency: 8,
      acknowledgementDeadlineSeconds: 30 * 86_400,
    });
    expect(loadConfig({ PROFFER_WEBHOOK_ALLOW_HTTP_LOOPBACK: 'true' }).webhookAllowHttpLoopback).toBe(true);
    expect(loadConfig({ PROFFER_WEBHOOK_ALLOW_HTTP_LOOPBACK: '0' }).webhookAllowHttpLoopback).toBe(false);
  });

  it.each([
    [{ PROFFER_WEBHOOK_ALLOW_HTTP_LOOPBACK: 'sometimes' }, /PROFFER_WEBHOOK_ALLOW_HTTP_LOOPBACK must be true or false/],
    [{ PROFFER_WEBHOOK_RETRY_BASE_MS: '60000', PROFFER_WEBHOOK_RETRY_CAP_MS: '1000' }, /must not be below PROFFER_WEBHOOK_RETRY_BASE_MS/],
    [{ PROFFER_WEBHOOK_TIMEOUT_MS: '5' }, /PROFFER_WEBHOOK_TIMEOUT_MS must be between/],
    [{ PROFFER_ACKNOWLEDGEMENT_DEADLINE: '0' }, /PROFFER_ACKNOWLEDGEMENT_DEADLINE must be between/],
  ])('refuses %o', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
