import type { DatabaseHandle } from '../db/database.js';

export interface AccessLogEntry {
  personId: string;
  subscriptionId: string;
  vendorId: string;
  /** `feed`, `feed-link`, … (docs/feeds.md). */
  what: string;
  /** The granted field paths, as the JSON text of an array (as read from the grant). */
  fieldsJson: string;
  address: string;
  at: Date;
}

interface Waiting {
  entry: AccessLogEntry;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for the access log. A read is answered only once its entry is committed, but
 * committing each entry on its own costs a round trip and a commit per read: instead, entries
 * that arrive while a batch is being written wait and go together in the next multi-row INSERT
 * (one statement, so one implicit transaction). Each caller awaits the commit of its own batch.
 *
 * A batch that fails is retried entry by entry, so one bad entry (its person erased a moment
 * ago) fails only its own read; an entry that still fails rejects its caller, which answers
 * 503: an entry is never dropped while its read is served.
 */
export class AccessLogWriter {
  private queue: Waiting[] = [];
  private running = false;
  private scheduled = false;
  /** For tests and diagnostics: how many INSERT statements wrote how many entries. */
  readonly stats = { batches: 0, entries: 0, failedBatches: 0 };

  constructor(
    private readonly database: DatabaseHandle,
    private readonly maxBatch = 500,
  ) {}

  write(entry: AccessLogEntry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      // Started on a microtask, so the entries of one tick share the first batch too.
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
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        await this.commit(batch);
      }
    } finally {
      this.running = false;
    }
  }

  private async commit(batch: Waiting[]): Promise<void> {
    try {
      await this.insert(batch.map((w) => w.entry));
      this.stats.batches += 1;
      this.stats.entries += batch.length;
      for (const waiting of batch) waiting.resolve();
      return;
    } catch (error) {
      this.stats.failedBatches += 1;
      if (batch.length === 1) {
        batch[0]?.reject(error);
        return;
      }
    }
    await Promise.all(
      batch.map(async (waiting) => {
        try {
          await this.insert([waiting.entry]);
          this.stats.batches += 1;
          this.stats.entries += 1;
          waiting.resolve();
        } catch (error) {
          this.stats.failedBatches += 1;
          waiting.reject(error);
        }
      }),
    );
  }

  /**
   * One statement of fixed text whatever the batch size (seven arrays, not 7 × N parameters), so
   * it is prepared once and costs the same to build for one entry or five hundred.
   */
  private async insert(entries: AccessLogEntry[]): Promise<void> {
    await this.database.prepared('access-log-batch', INSERT_BATCH, [
        entries.map((e) => e.personId),
        entries.map((e) => e.subscriptionId),
        entries.map((e) => e.vendorId),
        entries.map((e) => e.what),
        entries.map((e) => e.fieldsJson),
        entries.map((e) => e.address),
        entries.map((e) => e.at),
      ]);
  }
}

const INSERT_BATCH = `insert into access_log (person_id, subscription_id, vendor_id, what, fields, address, at)
  select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::jsonb[], $6::text[], $7::timestamptz[])`;
