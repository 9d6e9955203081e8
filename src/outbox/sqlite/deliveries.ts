/**
 * Deliveries in SQLite (WAL): intake writes a batch of deliveries and
 * rejected events in one transaction; the dispatcher reads due rows and
 * writes attempt results in batches. One hookd process owns a store file.
 *
 * One concept over 300 lines: every statement on the deliveries table, so
 * the queries and the indexes they rely on are read together.
 */
import type {
  AttemptResult,
  DeliveryPage,
  DeliveryRow,
  DeliveryState,
  DeliveryStore,
  DueRow,
  NewDelivery,
  Rejection,
  RequeueFilter,
  StoredRequest,
} from '../contract.ts';
import { DELIVERY_STATES } from '../contract.ts';
import { InvalidCursorError, StoreError } from '../errors.ts';
import type { SqliteAttempts } from './attempts.ts';
import type { SqliteFile } from './database.ts';
import type { SqliteRejected } from './rejected.ts';
import { rowKey } from './row-key.ts';

const DUE_COLUMNS =
  'id, event_id, event_type, webhook_id, identifier, transport, priority, attempts, received_at, head, body';
const ROW_COLUMNS = `seq, ${DUE_COLUMNS}, state, next_attempt_at, updated_at, last_error`;

type Stored<T> = Omit<T, 'request'> & { head: string; body: string };

/** The request as it was rendered: the head's members and the body. */
function request<T extends { head: string; body: string }>(
  r: T,
): Omit<T, 'head' | 'body'> & { request: StoredRequest } {
  const { head, body, ...rest } = r;
  return { ...rest, request: { ...(JSON.parse(head) as object), body } };
}

export class SqliteDeliveries implements DeliveryStore {
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

  constructor(
    private readonly file: SqliteFile,
    private readonly attempts: SqliteAttempts,
    private readonly rejected: SqliteRejected,
    /** Whether a success gets an attempts row too (`store.attemptLog: all`); it is on the delivery row anyway. */
    private readonly logSuccesses = false,
  ) {
    const db = file.db;
    this.stmts = {
      exists: db.prepare(`SELECT 1 FROM deliveries WHERE key = ? AND id = ?`).pluck(),
      insert: db.prepare(
        `INSERT INTO deliveries (key, id, event_id, event_type, webhook_id, identifier, transport, priority, state, attempts, next_attempt_at, received_at, updated_at, head, body, last_error)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)`,
      ),
      due: db.prepare(
        `SELECT ${DUE_COLUMNS} FROM deliveries
         WHERE state = 'pending' AND webhook_id = ? AND next_attempt_at <= ?
         ORDER BY next_attempt_at LIMIT ?`,
      ),
      nextDueOf: db.prepare(
        `SELECT id, next_attempt_at AS at FROM deliveries WHERE state = 'pending' AND webhook_id = ?
         ORDER BY next_attempt_at LIMIT ?`,
      ),
      // Covered by the partial index deliveries_due: cost grows with the pending rows only.
      countPending: db.prepare(`SELECT COUNT(*) FROM deliveries WHERE state = 'pending'`).pluck(),
      dueByWebhook: db.prepare(
        `SELECT webhook_id AS webhookId, MIN(next_attempt_at) AS at FROM deliveries WHERE state = 'pending' GROUP BY webhook_id`,
      ),
      finish: db.prepare(
        `UPDATE deliveries SET state = ?, attempts = ?, next_attempt_at = ?, updated_at = ?, last_error = ?,
           last_status = ?, last_started_at = ?, last_duration_ms = ?, last_response = ? WHERE key = ? AND id = ?`,
      ),
      get: db.prepare(`SELECT ${ROW_COLUMNS} FROM deliveries WHERE key = ? AND id = ?`),
    };
    // Rows of older versions that tracked in-flight on disk go back to the queue.
    db.prepare(`UPDATE deliveries SET state = 'pending' WHERE state = 'inflight'`).run();
    for (const s of DELIVERY_STATES) this.counts.set(s, 0);
    this.recount();
  }

  /**
   * Re-reads the succeeded and failed counts from the store (a scan of the
   * `done` index): at start and on each rescan, so changes by another
   * process (and pruning) show within a rescan.
   */
  recount(): void {
    this.counts.set('succeeded', 0);
    this.counts.set('failed', 0);
    for (const r of this.file.db
      .prepare(`SELECT state, COUNT(*) AS n FROM deliveries WHERE state <> 'pending' GROUP BY state`)
      .all() as { state: DeliveryState; n: number }[]) {
      if (r.state === 'succeeded' || r.state === 'failed') this.counts.set(r.state, r.n);
    }
  }

  private bump(state: DeliveryState, by: number): void {
    this.counts.set(state, (this.counts.get(state) ?? 0) + by);
  }

  /** Finished deliveries pruned: they leave the counts. */
  pruned(state: 'succeeded' | 'failed', n: number): void {
    this.bump(state, -n);
  }

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

  async insert(deliveries: readonly NewDelivery[], rejections: readonly Rejection[] = []): Promise<number> {
    let added = 0;
    let failed = 0;
    this.guard(true, () =>
      this.file.write('FULL', () => {
        for (const d of deliveries) {
          const { body, ...head } = d.request;
          const renderFailed = d.renderError !== undefined;
          const key = rowKey(d.id);
          // A redelivered event maps onto its row: nothing new.
          if (this.stmts.exists.get(key, d.id)) continue;
          this.stmts.insert.run(
            key,
            d.id,
            d.eventId,
            d.eventType,
            d.webhookId,
            d.identifier,
            d.transport,
            d.priority,
            renderFailed ? 'failed' : 'pending',
            d.nextAttemptAt,
            d.receivedAt,
            d.receivedAt,
            JSON.stringify(head),
            body,
            d.renderError ?? null,
          );
          added++;
          if (renderFailed) {
            failed++;
            this.attempts.add(d.id, {
              attempt: 1,
              started_at: d.receivedAt,
              duration_ms: 0,
              outcome: 'permanent',
              status: null,
              error: d.renderError ?? null,
              response: null,
            });
            this.stmts.finish.run(
              'failed',
              1,
              d.receivedAt,
              d.receivedAt,
              d.renderError,
              null,
              d.receivedAt,
              0,
              null,
              key,
              d.id,
            );
          }
        }
        for (const r of rejections) this.rejected.add(r);
      }),
    );
    this.bump('failed', failed);
    // Let responses and timers in before the next batch: a stored backlog must never stop sending
    // (batches written back to back held the event loop for seconds, issue 14).
    await new Promise((r) => setImmediate(r));
    return added;
  }

  due(webhookId: string, now: number, limit: number, skip: readonly string[]): DueRow[] {
    // Read past the excluded rows instead of sending the list to SQLite (json_each cost a tenth of a drain).
    const rows = this.stmts.due.all(webhookId, now, limit + skip.length) as Stored<DueRow>[];
    const exclude = skip.length > 0 ? new Set(skip) : undefined;
    const out: DueRow[] = [];
    for (const r of rows) {
      if (exclude?.has(r.id)) continue;
      out.push(request(r));
      if (out.length === limit) break;
    }
    return out;
  }

  nextDueOf(webhookId: string, skip: readonly string[]): number | undefined {
    const rows = this.stmts.nextDueOf.all(webhookId, skip.length + 1) as { id: string; at: number }[];
    const exclude = new Set(skip);
    return rows.find((r) => !exclude.has(r.id))?.at;
  }

  dueByWebhook(): { webhookId: string; at: number }[] {
    return this.stmts.dueByWebhook.all() as { webhookId: string; at: number }[];
  }

  claimed(n: number): void {
    this.bump('inflight', n);
  }

  released(n: number): void {
    this.bump('inflight', -n);
  }

  /**
   * Written with synchronous=NORMAL: a result lost to a power cut only makes
   * hookd send that attempt again, with the same webhook-id; new events
   * (which are acknowledged upstream) are always written with FULL.
   */
  async complete(results: readonly AttemptResult[], now: number): Promise<void> {
    this.guard(false, () =>
      this.file.write('NORMAL', () => {
        for (const r of results) {
          const status = r.status ?? null;
          const response = r.response ?? null;
          if (r.outcome !== 'success' || this.logSuccesses) {
            this.attempts.add(r.deliveryId, {
              attempt: r.attempt,
              started_at: r.startedAt,
              duration_ms: r.durationMs,
              outcome: r.outcome,
              status,
              error: r.error ?? null,
              response,
            });
          }
          this.stmts.finish.run(
            r.next.state,
            r.attempt,
            r.next.state === 'pending' ? r.next.at : now,
            now,
            r.outcome === 'success' ? null : (r.error ?? null),
            status,
            r.startedAt,
            r.durationMs,
            response,
            rowKey(r.deliveryId),
            r.deliveryId,
          );
        }
      }),
    );
    for (const r of results) {
      this.bump('inflight', -1);
      if (r.next.state !== 'pending') this.bump(r.next.state, 1);
    }
  }

  async get(id: string): Promise<DeliveryRow | undefined> {
    const r = this.stmts.get.get(rowKey(id), id) as (Stored<DeliveryRow> & { seq: number }) | undefined;
    if (!r) return undefined;
    const { seq: _seq, ...row } = r;
    return request(row);
  }

  /** Newest first by insertion order; the cursor is the last row's `seq`, so nothing is skipped or repeated. */
  async byWebhook(
    webhookId: string,
    opts: { state?: DeliveryState; limit: number; before?: string },
  ): Promise<DeliveryPage> {
    const where = ['webhook_id = ?'];
    const args: unknown[] = [webhookId];
    if (opts.state) {
      where.push('state = ?');
      args.push(opts.state);
    }
    if (opts.before !== undefined) {
      const seq = /^[0-9]{1,16}$/.test(opts.before) ? Number(opts.before) : Number.NaN;
      if (!Number.isSafeInteger(seq)) throw new InvalidCursorError();
      where.push('seq < ?');
      args.push(seq);
    }
    args.push(opts.limit);
    const rows = this.file.db
      .prepare(`SELECT ${ROW_COLUMNS} FROM deliveries WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT ?`)
      .all(...args) as (Stored<DeliveryRow> & { seq: number })[];
    const last = rows.at(-1);
    return {
      items: rows.map(({ seq: _seq, ...r }) => request(r)),
      next: rows.length === opts.limit && last ? String(last.seq) : null,
    };
  }

  async retryFailed(filter: RequeueFilter, now: number): Promise<number> {
    const where = [`state = 'failed'`];
    const args: unknown[] = [];
    if (filter.webhookId !== undefined) {
      // The webhook's id, or its identifier (what operators see in logs and metrics).
      where.push('(webhook_id = ? OR identifier = ?)');
      args.push(filter.webhookId, filter.webhookId);
    }
    if (filter.since !== undefined) {
      where.push('updated_at >= ?');
      args.push(filter.since);
    }
    if (filter.ids !== undefined) {
      const marks = filter.ids.map(() => '?').join(',') || 'NULL';
      where.push(`key IN (${marks}) AND id IN (${marks})`);
      args.push(...filter.ids.map(rowKey), ...filter.ids);
    }
    const r = this.file.write('FULL', () =>
      this.file.db
        .prepare(
          `UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ? WHERE ${where.join(' AND ')}`,
        )
        .run(filter.dueAt ?? now, now, ...args),
    );
    this.bump('failed', -r.changes);
    return r.changes;
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
}
