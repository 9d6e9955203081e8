/**
 * Deliveries in SQLite (WAL): intake batches and attempt results are
 * written by the writer (a thread of their own for a file, group-committed);
 * the dispatcher's queue reads (due rows, counts) and the API's reads run on
 * this thread's connection, which sees each commit as soon as it returns.
 * One hookd process owns a store file.
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
import { InvalidCursorError } from '../errors.ts';
import type { SqliteFile } from './database.ts';
import { rowKey } from './row-key.ts';
import type { InsertRow, RejectRow, ResultRow } from './write-ops.ts';
import type { Writer } from './writer.ts';

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
    /** Where every write goes (the writer thread for a file). */
    private readonly writer: Writer,
  ) {
    const db = file.db;
    this.stmts = {
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
    const rows: InsertRow[] = deliveries.map((d) => {
      const { body, ...head } = d.request;
      return [
        d.id,
        d.eventId,
        d.eventType,
        d.webhookId,
        d.identifier,
        d.transport,
        d.priority,
        d.nextAttemptAt,
        d.receivedAt,
        d.requestHead ?? JSON.stringify(head),
        body,
        d.renderError ?? null,
      ];
    });
    const rejected: RejectRow[] = rejections.map((r) => [
      r.receivedAt,
      r.source,
      r.subject ?? null,
      r.reason,
      r.detail ?? null,
      r.payload ?? null,
    ]);
    const { added, failed } = (await this.guard(
      true,
      this.writer.run({ op: 'insert', rows, rejections: rejected }),
    )) as { added: number; failed: number };
    this.bump('failed', failed);
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
   * Synced NORMAL unless an intake batch shares the commit: a result lost to
   * a power cut only makes hookd send that attempt again, with the same
   * webhook-id; new events (which are acknowledged upstream) are always
   * synced in full.
   */
  async complete(results: readonly AttemptResult[], now: number): Promise<void> {
    const rows = results.map(
      (r): ResultRow => [
        r.deliveryId,
        r.attempt,
        r.startedAt,
        r.durationMs,
        r.outcome,
        r.status ?? null,
        r.outcome === 'success' ? null : (r.error ?? null),
        r.response ?? null,
        r.next.state,
        r.next.state === 'pending' ? r.next.at : now,
      ],
    );
    await this.guard(false, this.writer.run({ op: 'complete', results: rows, now }));
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
    const changes = (await this.guard(
      false,
      this.writer.run({
        op: 'retry',
        args: {
          webhookId: filter.webhookId,
          since: filter.since,
          ids: filter.ids,
          dueAt: filter.dueAt ?? now,
          now,
        },
      }),
    )) as number;
    this.bump('failed', -changes);
    return changes;
  }

  /** Awaits a write; intake writes also set `writable` (false after a failure until one works again). */
  private async guard<T>(intake: boolean, write: Promise<T>): Promise<T> {
    try {
      const r = await write;
      if (intake) this.writable = true;
      return r;
    } catch (err) {
      if (intake) this.writable = false;
      throw err;
    }
  }
}
