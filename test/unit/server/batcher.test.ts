import { describe, expect, it } from 'vitest';
import { Batcher } from '../../../server/db/batcher.js';

/** A `run` that records its batches and answers each item doubled, refusing the item 13. */
function doubling() {
  const batches: number[][] = [];
  let release: (() => void) | undefined;
  const gate = { closed: false };
  const run = async (items: number[]) => {
    batches.push([...items]);
    if (gate.closed) await new Promise<void>((resolve) => (release = resolve));
    if (items.includes(13)) throw new Error('13 is refused');
    return items.map((n) => n * 2);
  };
  return { batches, run, gate, open: () => release?.() };
}

describe('Batcher', () => {
  it('runs the items of one tick in one batch, and answers each caller its own result', async () => {
    const { batches, run } = doubling();
    const batcher = new Batcher(run);
    const results = await Promise.all([1, 2, 3, 4].map((n) => batcher.submit(n)));
    expect(results).toEqual([2, 4, 6, 8]);
    expect(batches).toEqual([[1, 2, 3, 4]]);
    expect(batcher.stats).toEqual({ batches: 1, items: 4, failedBatches: 0 });
  });

  it('collects what arrives while a batch is in flight into the next one', async () => {
    const { batches, run, gate, open } = doubling();
    const batcher = new Batcher(run);
    gate.closed = true;
    const first = batcher.submit(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual([[1]]);
    const later = [batcher.submit(2), batcher.submit(3)];
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual([[1]]); // still waiting for the first
    gate.closed = false;
    open();
    expect(await Promise.all([first, ...later])).toEqual([2, 4, 6]);
    expect(batches).toEqual([[1], [2, 3]]);
  });

  it('never runs more than maxBatch items at once', async () => {
    const { batches, run } = doubling();
    const batcher = new Batcher(run, 2);
    await Promise.all([1, 2, 3, 4, 5].map((n) => batcher.submit(n)));
    expect(batches).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('fails only the item that fails on its own, after retrying the batch item by item', async () => {
    const { batches, run } = doubling();
    const batcher = new Batcher(run);
    const results = await Promise.allSettled([12, 13, 14].map((n) => batcher.submit(n)));
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'rejected'))).toEqual([24, 'rejected', 28]);
    expect(batches).toEqual([[12, 13, 14], [12], [13], [14]]);
    expect(batcher.stats).toEqual({ batches: 2, items: 2, failedBatches: 2 });
  });

  it('refuses a run that answers a different number of results than it was given', async () => {
    const batcher = new Batcher(async (items: number[]) => items.slice(1));
    const results = await Promise.allSettled([1, 2].map((n) => batcher.submit(n)));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
  });
});
