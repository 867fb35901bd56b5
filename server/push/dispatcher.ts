import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { sql } from 'kysely';
import type { AppContext } from '../context.js';
import { markOverdue, type AcknowledgementSettings } from '../services/acknowledgements.js';
import { expireDueGrants, type ReceiptSigner } from '../services/subscriptions.js';
import { deliver, type Outcome } from './deliver.js';
import { buildPayload, type OutboxMessage } from './payloads.js';
import { onOutboxWrite } from './signal.js';
import type { TargetPolicy } from './targets.js';

export interface DispatcherLog {
  warn(object: object, message: string): void;
  debug(object: object, message: string): void;
}

/** Messages one lease delivers at most before it is given back (so one busy vendor cannot hog a slot). */
const MESSAGES_PER_LEASE = 100;
const BATCH = 20;

/**
 * Delivers the outbox. All of its state is in the database, so a restart (or a crash) loses
 * nothing: a message is deleted only once delivered (at least once, then).
 *
 * Per subscription, one message at a time and in order: the head must be delivered before the
 * next is tried, and a failing head is retried with exponential backoff and jitter, forever,
 * its error and attempts kept on the webhook row for the vendor to see. A process takes a
 * subscription by leasing its webhook row (`lease_owner`, `lease_until`, picked with FOR UPDATE
 * SKIP LOCKED), so several processes on one PostgreSQL never deliver one subscription's messages
 * at the same time; a lease outlives the longest delivery and is renewed after each one, and a
 * crashed holder's lease simply runs out.
 *
 * The same loop marks overdue acknowledgements and expires grants past their expiry.
 */
export class Dispatcher {
  private readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly leaseMs: number;
  private readonly policy: TargetPolicy;
  private readonly settings: AcknowledgementSettings;
  private readonly signer: ReceiptSigner;
  private readonly drains = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private running = false;
  private nudged = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;
  private lastHousekeeping = 0;

  constructor(
    private readonly ctx: AppContext,
    private readonly log: DispatcherLog,
  ) {
    const { config } = ctx;
    this.leaseMs = config.webhookTimeoutMs + 5_000;
    this.policy = { allowHttpLoopback: config.webhookAllowHttpLoopback };
    this.settings = { publicUrl: config.publicUrl, deadlineSeconds: config.acknowledgementDeadlineSeconds };
    this.signer = { keys: ctx.receiptKeys, issuer: config.publicUrl };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = onOutboxWrite(this.ctx, () => this.nudge());
    this.loop = this.run();
  }

  /** Look again now (something was just written). */
  nudge(): void {
    this.nudged = true;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /**
   * Takes no more work, lets deliveries in flight finish (each gives its lease back), and after
   * `timeoutMs` aborts the rest: their messages stay in the outbox, to be delivered again.
   */
  async stop(timeoutMs: number): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.unsubscribe?.();
    this.nudge();
    const settled = Promise.allSettled([this.loop, ...this.drains]);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([settled.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs)))]);
    clearTimeout(timer);
    if (timedOut) {
      this.stopping.abort();
      await Promise.race([settled, new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      this.nudged = false;
      // Each on its own: deliveries go on while housekeeping fails, and the reverse.
      for (const step of [() => this.housekeeping(), () => this.leaseAndDeliver()]) {
        try {
          await step();
        } catch (error) {
          this.log.warn({ err: { message: (error as Error).message } }, 'webhook dispatcher: this round failed; trying again');
        }
      }
      if (this.running && !this.nudged) await this.sleep(this.ctx.config.webhookPollMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  private async housekeeping(): Promise<void> {
    const now = Date.now();
    if (now - this.lastHousekeeping < Math.max(this.ctx.config.webhookPollMs, 1_000)) return;
    this.lastHousekeeping = now;
    await markOverdue(this.ctx.db, this.settings);
    await expireDueGrants(this.ctx.db, this.signer);
  }

  /** Leases as many due subscriptions as there are free slots, and delivers to each on its own. */
  private async leaseAndDeliver(): Promise<void> {
    const free = this.ctx.config.webhookConcurrency - this.drains.size;
    if (free <= 0) return;
    const { rows } = await sql<{ subscription_id: string }>`
      update webhooks set lease_owner = ${this.owner}, lease_until = now() + ${this.leaseMs}::float8 * interval '1 millisecond'
      where subscription_id in (
        select w.subscription_id from webhooks w
        where w.subscription_id in (select o.subscription_id from webhook_outbox o)
          and w.next_attempt_at <= now()
          and (w.lease_until is null or w.lease_until <= now())
        order by w.next_attempt_at
        limit ${free}
        for update of w skip locked)
      returning subscription_id`.execute(this.ctx.db);
    for (const { subscription_id } of rows) {
      const drain: Promise<void> = this.drain(subscription_id)
        .catch((error: Error) => {
          // Backed off like a failed delivery, so a message that cannot be prepared is not retried in a tight loop.
          this.log.warn({ err: { message: error.message }, subscription: subscription_id }, 'webhook dispatcher: delivery round failed');
          return this.failed(subscription_id, { delivered: false, error: 'internal error while preparing the delivery; retrying' }).catch(() => {});
        })
        .finally(() => {
          this.drains.delete(drain);
          // The slot is free, and the subscription may have more: look again.
          this.nudge();
        });
      this.drains.add(drain);
    }
  }

  /** Delivers the subscription's messages in order until one fails, none is left, or the lease's share is used. */
  private async drain(subscriptionId: string): Promise<void> {
    let sent = 0;
    while (this.running && sent < MESSAGES_PER_LEASE) {
      const { rows } = await sql<OutboxMessage & { url: string; secret: string }>`
        select o.subscription_id, o.seq, o.message_id, o.type, o.person_id, o.event_id, o.data, o.created_at, w.url, w.secret
        from webhook_outbox o join webhooks w on w.subscription_id = o.subscription_id
        where o.subscription_id = ${subscriptionId} and w.lease_owner = ${this.owner}
        order by o.seq
        limit ${BATCH}`.execute(this.ctx.db);
      if (rows.length === 0) break;
      for (const message of rows) {
        if (!this.running) break;
        const payload = await buildPayload(this.ctx.db, message, this.settings);
        if (payload === null) {
          if (!(await this.done(message, undefined))) return;
          continue;
        }
        const outcome = await deliver(
          { url: message.url, secret: message.secret, id: message.message_id, body: JSON.stringify(payload) },
          this.policy,
          { timeoutMs: this.ctx.config.webhookTimeoutMs, signal: this.stopping.signal },
        );
        sent++;
        if (!outcome.delivered) {
          await this.failed(subscriptionId, outcome);
          return;
        }
        this.log.debug({ subscription: subscriptionId, type: payload.type, status: outcome.status }, 'webhook delivered');
        if (!(await this.done(message, outcome))) return;
      }
    }
    await this.release(subscriptionId);
  }

  /**
   * The message is delivered (or not to be sent): it leaves the outbox and the lease is renewed.
   * Answers false when the lease is no longer ours (the webhook was deleted or replaced meanwhile).
   */
  private async done(message: OutboxMessage, outcome: Outcome | undefined): Promise<boolean> {
    return this.ctx.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('webhook_outbox').where('subscription_id', '=', message.subscription_id).where('seq', '=', message.seq).execute();
      const { rows } = await sql`
        update webhooks set lease_until = now() + ${this.leaseMs}::float8 * interval '1 millisecond'
          ${outcome ? sql`, attempts = 0, last_error = null, last_attempt_at = now(), last_delivered_at = now()` : sql``}
        where subscription_id = ${message.subscription_id} and lease_owner = ${this.owner}
        returning 1 as held`.execute(trx);
      return rows.length > 0;
    });
  }

  /** The head stays; it is tried again after base·2^attempts (capped), with jitter, and the lease is given back. */
  private async failed(subscriptionId: string, outcome: Extract<Outcome, { delivered: false }>): Promise<void> {
    const { webhookRetryBaseMs: base, webhookRetryCapMs: cap } = this.ctx.config;
    // Not the receiver's answer itself (a body); the vendor reads it in its webhook's lastError.
    const reason = outcome.status !== undefined ? `HTTP ${outcome.status}` : outcome.error;
    this.log.warn({ subscription: subscriptionId, reason }, 'webhook delivery failed; will retry');
    await sql`
      update webhooks set
        attempts = attempts + 1,
        last_error = ${outcome.error.slice(0, 500)},
        last_attempt_at = now(),
        next_attempt_at = now() + least(${cap}::float8, ${base}::float8 * power(2, least(attempts, 40))) * (0.5 + random() * 0.5) * interval '1 millisecond',
        lease_owner = null,
        lease_until = null
      where subscription_id = ${subscriptionId} and lease_owner = ${this.owner}`.execute(this.ctx.db);
  }

  private async release(subscriptionId: string): Promise<void> {
    await sql`update webhooks set lease_owner = null, lease_until = null where subscription_id = ${subscriptionId} and lease_owner = ${this.owner}`.execute(this.ctx.db);
  }
}
