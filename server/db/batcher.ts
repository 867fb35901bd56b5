interface Waiting<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/** How many statements ran, for how many items, and how many of them failed. */
export interface BatcherStats {
  batches: number;
  items: number;
  failedBatches: number;
}

/**
 * Many small statements run as few. Items submitted while a batch is in flight wait and go
 * together in the next one: one statement (so one round trip, one implicit transaction) for the
 * lot. Each caller awaits the outcome of its own item, and every item is run after it was
 * submitted, so what a caller learns is never older than its request.
 *
 * A batch that fails is retried item by item, so one bad item fails only its own caller; an item
 * that still fails rejects its caller. Nothing is dropped.
 *
 * `run` answers one result per item, in the items' order.
 */
export class Batcher<T, R> {
  private queue: Waiting<T, R>[] = [];
  private running = false;
  private scheduled = false;
  readonly stats: BatcherStats = { batches: 0, items: 0, failedBatches: 0 };

  constructor(
    private readonly run: (items: T[]) => Promise<R[]>,
    private readonly maxBatch = 500,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      // Started on a microtask, so the items of one tick share the first batch too.
      if (!this.running && !this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => {
          this.scheduled = false;
          void this.drain();
        });
      }
    });
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0) await this.runBatch(this.queue.splice(0, this.maxBatch));
    } finally {
      this.running = false;
    }
  }

  private async runBatch(batch: Waiting<T, R>[]): Promise<void> {
    try {
      const results = await this.runCounted(batch.map((w) => w.item));
      batch.forEach((waiting, i) => waiting.resolve(results[i] as R));
      return;
    } catch (error) {
      if (batch.length === 1) {
        batch[0]?.reject(error);
        return;
      }
    }
    await Promise.all(
      batch.map(async (waiting) => {
        try {
          const [result] = await this.runCounted([waiting.item]);
          waiting.resolve(result as R);
        } catch (error) {
          waiting.reject(error);
        }
      }),
    );
  }

  private async runCounted(items: T[]): Promise<R[]> {
    try {
      const results = await this.run(items);
      if (results.length !== items.length) throw new Error(`a batch of ${items.length} answered ${results.length} results`);
      this.stats.batches += 1;
      this.stats.items += items.length;
      return results;
    } catch (error) {
      this.stats.failedBatches += 1;
      throw error;
    }
  }
}
