import { Batcher } from '../db/batcher.js';
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

/**
 * Group commit for the access log. A read is answered only once its entry is committed, but
 * committing each entry on its own costs a round trip and a commit per read: instead, entries
 * that arrive while a batch is being written wait and go together in the next multi-row INSERT
 * (one statement, so one implicit transaction). Each caller awaits the commit of its own batch.
 *
 * A batch that fails is retried entry by entry (`Batcher`), so one bad entry (its person erased
 * a moment ago) fails only its own read; an entry that still fails rejects its caller, which
 * answers 503: an entry is never dropped while its read is served.
 */
export class AccessLogWriter {
  private readonly batcher: Batcher<AccessLogEntry, undefined>;

  constructor(database: DatabaseHandle, maxBatch = 500) {
    // One statement of fixed text whatever the batch size (seven arrays, not 7 × N parameters),
    // so it is prepared once and costs the same to build for one entry or five hundred.
    this.batcher = new Batcher<AccessLogEntry, undefined>(async (entries) => {
      await database.prepared('access-log-batch', INSERT_BATCH, [
        entries.map((e) => e.personId),
        entries.map((e) => e.subscriptionId),
        entries.map((e) => e.vendorId),
        entries.map((e) => e.what),
        entries.map((e) => e.fieldsJson),
        entries.map((e) => e.address),
        entries.map((e) => e.at),
      ]);
      return entries.map(() => undefined);
    }, maxBatch);
  }

  write(entry: AccessLogEntry): Promise<void> {
    return this.batcher.submit(entry);
  }

  /** For tests and diagnostics: how many INSERT statements wrote how many entries. */
  get stats() {
    const { batches, items, failedBatches } = this.batcher.stats;
    return { batches, entries: items, failedBatches };
  }
}

const INSERT_BATCH = `insert into access_log (person_id, subscription_id, vendor_id, what, fields, address, at)
  select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::jsonb[], $6::text[], $7::timestamptz[])`;
