import { describe, expect, it } from 'vitest';
import { InFlight } from '../../../server/context.js';

describe('InFlight', () => {
  it('lets shutdown wait for work still running, and forgets work once settled', async () => {
    const inFlight = new InFlight();
    let finish!: () => void;
    const work = inFlight.track(new Promise<void>((resolve) => (finish = resolve)));
    const failing = inFlight.track(Promise.reject(new Error('query failed'))).catch(() => 'handled');
    expect(inFlight.size).toBe(2);
    let drained = false;
    const draining = inFlight.drain(60_000).then(() => (drained = true));
    await Promise.resolve();
    expect(drained).toBe(false);
    finish();
    await work;
    await draining;
    expect(drained).toBe(true);
    expect(await failing).toBe('handled');
    expect(inFlight.size).toBe(0);
  });

  it('gives up waiting after its bound', async () => {
    const inFlight = new InFlight();
    void inFlight.track(new Promise(() => {}));
    await inFlight.drain(10);
    expect(inFlight.size).toBe(1);
  });
});
