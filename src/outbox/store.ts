/**
 * The durable outbox (DESIGN.md section 4): SQLite in WAL mode. Intake
 * writes deliveries in one transaction per batch; the dispatcher claims due
 * rows and writes attempt results in batches. One hookd process owns a store
 * file; several processes share the NATS consumer, each with its own store.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { dropEventIdUnique, SCHEMA } from './schema.sql.ts';

export type DeliveryState = 'pending' | 'inflight' | 'succeeded' | 'failed';
export const DELIVERY_STATES: readonly DeliveryState[] = ['pending', 'inflight', 'succeeded', 'failed'];

export interface NewDelivery {
  id: string;
  eventId: string;
  eventType: string;
  webhookId: string;
  identifier: string;
  transport: string;
  priority: number;
  receivedAt: number;
  /** When the first attempt is due. */
  nextAttemptAt: number;
  /** The rendered request as JSON text. */
  request: string;
  /** Set when rendering failed: the delivery is stored as failed with this reason. */
  renderError?: string;
}

/** What the dispatcher needs to send a delivery (every due row read is sent, so it comes with its request). */
export interface DueRow {
  id: string;
  event_id: string;
  event_type: string;
  webhook_id: string;
  identifier: string;
  transport: string;
  priority: number;
  attempts: number;
  received_at: number;
  /** The rendered request (JSON). */
  request: string;
}

/** A whole delivery row. */
export interface DeliveryRow extends DueRow {
  state: DeliveryState;
  next_attempt_at: number;
  updated_at: number;
  last_error: string | null;
}

export interface AttemptRow {
  id: number;
  delivery_id: string;
  attempt: number;
  started_at: number;
  duration_ms: number;
  outcome: 'success' | 'retryable' | 'permanent';
  status: number | null;
  error: string | null;
  response: string | null;
}

/** The result of one attempt and what happens next. */
export interface AttemptResult {
  deliveryId: string;
  attempt: number;
  startedAt: number;
  durationMs: number;
  outcome: 'success' | 'retryable' | 'permanent';
  status?: number;
  error?: string;
  response?: string;
  /** The delivery's new state: pending (retry at nextAttemptAt), succeeded or failed. */
  next: { state: 'pending'; at: number } | { state: 'succeeded' } | { state: 'failed' };
}

export interface Rejection {
  receivedAt: number;
  source: string;
  subject?: string;
  reason: string;
  detail?: string;
  payload?: Uint8Array;
}

export class StoreError extends Error {
  readonly code = 'HOOKD_STORE_FAILED';
}

export class Outbox {
  readonly db: Database.Database;
  private readonly stmts;
  /**
   * Delivery counts for `depth()`. In flight: this process's own, in memory
   * (in flight is not on disk). Succeeded and failed: as last counted in the
   * store (`recount`) plus what this process wrote since. Pending is not kept
   * here: another process (`hookd retry`) may change it, so it is counted.
   */
  private readonly counts = new Map<DeliveryState, number>();
  /**
   * Whether new events can be stored: false after intake failed to write
   * (disk full, I/O error) until an intake write works again. Readiness reports it.
   */
  writable = true;

  constructor(readonly path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // FULL: an event acknowledged upstream survives a power loss, not just a process kill.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    dropEventIdUnique(this.db);
    this.db.exec(SCHEMA);
    const db = this.db;
    this.stmts = {
      insert: db.prepare(
        `INSERT OR IGNORE INTO deliveries (id, event_id, event_type, webhook_id, identifier, transport, priority, state, attempts, next_attempt_at, received_at, updated_at, request, last_error)
         VALUES (@id, @eventId, @eventType, @webhookId, @identifier, @transport, @priority, @state, 0, @nextAttemptAt, @receivedAt, @receivedAt, @request, @lastError)`,
      ),
      insertAttempt: db.prepare(
        `INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, outcome, status, error, response)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      due: db.prepare(
        `SELECT id, event_id, event_type, webhook_id, identifier, transport, priority, attempts, received_at, request
         FROM deliveries
         WHERE state = 'pending' AND webhook_id = ? AND next_attempt_at <= ?
           AND id NOT IN (SELECT value FROM json_each(?))
         ORDER BY next_attempt_at LIMIT ?`,
      ),
      nextDueOf: db
        .prepare(
          `SELECT MIN(next_attempt_at) FROM deliveries
           WHERE state = 'pending' AND webhook_id = ? AND id NOT IN (SELECT value FROM json_each(?))`,
        )
        .pluck(),
      // Covered by the partial index deliveries_due: cost grows with the pending rows only.
      countPending: db.prepare(`SELECT COUNT(*) FROM deliveries WHERE state = 'pending'`).pluck(),
      dueByWebhook: db.prepare(
        `SELECT webhook_id AS webhookId, MIN(next_attempt_at) AS at FROM deliveries WHERE state = 'pending' GROUP BY webhook_id`,
      ),
      finish: db.prepare(
        `UPDATE deliveries SET state = @state, attempts = @attempt, next_attempt_at = @at, updated_at = @now, last_error = @error WHERE id = @id`,
      ),
      reject: db.prepare(
        `INSERT INTO rejected_events (received_at, source, subject, reason, detail, payload) VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      get: db.prepare(`SELECT * FROM deliveries WHERE id = ?`),
      attempts: db.prepare(`SELECT * FROM attempts WHERE delivery_id = ? ORDER BY attempt, id`),
    };
    // Rows of older versions that tracked in-flight on disk go back to the queue.
    db.prepare(`UPDATE deliveries SET state = 'pending' WHERE state = 'inflight'`).run();
    for (const s of DELIVERY_STATES) this.counts.set(s, 0);
    this.recount();
  }

  /**
   * Re-reads the succeeded and failed counts from the store (a scan of an
   * index, about 150 ms per million rows here): at start and on each rescan,
   * so changes by another process show within a rescan.
   */
  recount(): void {
    this.counts.set('succeeded', 0);
    this.counts.set('failed', 0);
    for (const r of this.db
      .prepare(`SELECT state, COUNT(*) AS n FROM deliveries WHERE state <> 'pending' GROUP BY state`)
      .all() as { state: DeliveryState; n: number }[]) {
      if (r.state === 'succeeded' || r.state === 'failed') this.counts.set(r.state, r.n);
    }
  }

  private bump(state: DeliveryState, by: number): void {
    this.counts.set(state, (this.counts.get(state) ?? 0) + by);
  }

  /**
   * Deliveries by state, never negative: pending counted in the store now
   * (less those in flight here, still pending on disk), the rest as kept above.
   */
  depth(): Record<DeliveryState, number> {
    const inflight = Math.max(0, this.counts.get('inflight') ?? 0);
    const pending = Math.max(0, (this.stmts.countPending.get() as number) - inflight);
    return {
      pending,
      inflight,
      succeeded: Math.max(0, this.counts.get('succeeded') ?? 0),
      failed: Math.max(0, this.counts.get('failed') ?? 0),
    };
  }

  /**
   * Stores a batch of new deliveries and rejected events in one transaction.
   * Returns how many deliveries were new (a redelivered event adds none).
   */
  insert(deliveries: readonly NewDelivery[], rejections: readonly Rejection[] = []): number {
    let added = 0;
    let failed = 0;
    this.db.pragma('synchronous = FULL');
    this.guard(true, () =>
      this.db.transaction(() => {
        for (const d of deliveries) {
          const state = d.renderError === undefined ? 'pending' : 'failed';
          const r = this.stmts.insert.run({ ...d, state, lastError: d.renderError ?? null });
          if (r.changes === 0) continue;
          added++;
          if (d.renderError !== undefined) {
            failed++;
            this.stmts.insertAttempt.run(d.id, 1, d.receivedAt, 0, 'permanent', null, d.renderError, null);
            this.stmts.finish.run({
              id: d.id,
              state: 'failed',
              attempt: 1,
              at: d.receivedAt,
              now: d.receivedAt,
              error: d.renderError,
            });
          }
        }
        for (const r of rejections) {
          this.stmts.reject.run(
            r.receivedAt,
            r.source,
            r.subject ?? null,
            r.reason,
            r.detail ?? null,
            r.payload ?? null,
          );
        }
      })(),
    );
    this.bump('failed', failed);
    return added;
  }

  /** Due deliveries of one webhook, oldest first, leaving out those already in flight. */
  due(webhookId: string, now: number, limit: number, inflight: readonly string[]): DueRow[] {
    return this.stmts.due.all(webhookId, now, JSON.stringify(inflight), limit) as DueRow[];
  }

  /** When the next pending delivery of a webhook is due (undefined: none pending). */
  nextDueOf(webhookId: string, inflight: readonly string[]): number | undefined {
    return (this.stmts.nextDueOf.get(webhookId, JSON.stringify(inflight)) as number | null) ?? undefined;
  }

  /** Every webhook with pending deliveries and when its earliest is due (a scan: at start and after bulk changes). */
  dueByWebhook(): { webhookId: string; at: number }[] {
    return this.stmts.dueByWebhook.all() as { webhookId: string; at: number }[];
  }

  /**
   * In-flight is tracked in memory: one process owns the store, and rows of
   * a process that died are simply still pending. These keep the counts right.
   */
  claimed(n: number): void {
    this.bump('inflight', n);
  }

  /** In-flight deliveries going back to the queue untouched (shutdown). */
  released(n: number): void {
    this.bump('inflight', -n);
  }

  /**
   * Records attempts and moves their deliveries on, in one transaction.
   * Written with synchronous=NORMAL: a result lost to a power cut only makes
   * hookd send that attempt again, with the same webhook-id; new events
   * (which are acknowledged upstream) are always written with FULL.
   */
  complete(results: readonly AttemptResult[], now: number): void {
    this.db.pragma('synchronous = NORMAL');
    this.guard(false, () =>
      this.db.transaction(() => {
        for (const r of results) {
          this.stmts.insertAttempt.run(
            r.deliveryId,
            r.attempt,
            r.startedAt,
            r.durationMs,
            r.outcome,
            r.status ?? null,
            r.error ?? null,
            r.response ?? null,
          );
          this.stmts.finish.run({
            id: r.deliveryId,
            state: r.next.state,
            attempt: r.attempt,
            at: r.next.state === 'pending' ? r.next.at : now,
            now,
            error: r.outcome === 'success' ? null : (r.error ?? null),
          });
        }
      })(),
    );
    for (const r of results) {
      this.bump('inflight', -1);
      if (r.next.state !== 'pending') this.bump(r.next.state, 1);
    }
  }

  get(id: string): DeliveryRow | undefined {
    return this.stmts.get.get(id) as DeliveryRow | undefined;
  }

  attempts(deliveryId: string): AttemptRow[] {
    return this.stmts.attempts.all(deliveryId) as AttemptRow[];
  }

  /**
   * Puts failed (dead-lettered) deliveries back in the queue with a fresh
   * retry budget. `webhookId` undefined means every webhook; `ids` restricts to those deliveries.
   */
  retryFailed(
    opts: {
      webhookId?: string;
      since?: number;
      ids?: readonly string[] /** When they are due (default now). */;
      dueAt?: number;
    },
    now: number,
  ): number {
    const where = [`state = 'failed'`];
    const args: unknown[] = [];
    if (opts.webhookId !== undefined) {
      // The webhook's id, or its identifier (what operators see in logs and metrics).
      where.push('(webhook_id = ? OR identifier = ?)');
      args.push(opts.webhookId, opts.webhookId);
    }
    if (opts.since !== undefined) {
      where.push('updated_at >= ?');
      args.push(opts.since);
    }
    if (opts.ids !== undefined) {
      where.push(`id IN (${opts.ids.map(() => '?').join(',') || 'NULL'})`);
      args.push(...opts.ids);
    }
    const r = this.db
      .prepare(
        `UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ? WHERE ${where.join(' AND ')}`,
      )
      .run(opts.dueAt ?? now, now, ...args);
    this.bump('failed', -r.changes);
    return r.changes;
  }

  rejected(limit = 100): {
    id: number;
    received_at: number;
    source: string;
    subject: string | null;
    reason: string;
    detail: string | null;
    payload: Buffer | null;
  }[] {
    return this.db.prepare(`SELECT * FROM rejected_events ORDER BY id DESC LIMIT ?`).all(limit) as never;
  }

  loadWebhookStates(): { webhookId: string; state: string; reason: string | null; data: string | null }[] {
    return this.db
      .prepare(`SELECT webhook_id AS webhookId, state, reason, data FROM webhook_states`)
      .all() as never;
  }

  saveWebhookState(
    webhookId: string,
    state: string,
    reason: string | null,
    data: string | null,
    now: number,
  ): void {
    this.db
      .prepare(
        `INSERT INTO webhook_states (webhook_id, state, reason, data, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (webhook_id) DO UPDATE SET state = excluded.state, reason = excluded.reason, data = excluded.data, updated_at = excluded.updated_at`,
      )
      .run(webhookId, state, reason, data, now);
  }

  /** Runs a write, rethrowing failures as `StoreError`; intake writes also set `writable`. */
  private guard<T>(intake: boolean, fn: () => T): T {
    try {
      const r = fn();
      if (intake) this.writable = true;
      return r;
    } catch (err) {
      if (intake) this.writable = false;
      throw new StoreError('the outbox could not be written', { cause: err });
    }
  }

  deleteWebhookState(webhookId: string): void {
    this.db.prepare(`DELETE FROM webhook_states WHERE webhook_id = ?`).run(webhookId);
  }

  /** Readiness: can new events be stored? (Redeliveries and new requests keep trying, so recovery shows.) */
  probe(): boolean {
    return this.db.open && this.writable;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
