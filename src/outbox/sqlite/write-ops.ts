/**
 * Every write of the deliveries, attempts and rejected events tables, on the
 * one connection that writes them (the writer thread's, or the main one for
 * an in-memory store), and the group commit: the operations that arrived
 * together share one transaction and one sync (issue 14: a full sync per
 * intake batch and per result batch tipped the event loop over).
 *
 * Operations travel as plain tuples (they cross a thread boundary: cloning
 * arrays of scalars is cheaper than cloning objects).
 */
import type { Database } from './driver.ts';
import { SqliteRetention } from './retention.ts';
import { rowKey } from './row-key.ts';

/** A new delivery: id, event id, event type, webhook id, identifier, transport, priority, next attempt at, received at, head (JSON), body, render error. */
export type InsertRow = [
  string,
  string,
  string,
  string,
  string,
  string,
  number,
  number,
  number,
  string,
  string,
  string | null,
];

/** A rejected event: received at, source, subject, reason, detail, payload. */
export type RejectRow = [number, string, string | null, string, string | null, Uint8Array | null];

/** An attempt result: delivery id, attempt, started at, duration, outcome, status, error, response, next state, next at. */
export type ResultRow = [
  string,
  number,
  number,
  number,
  string,
  number | null,
  string | null,
  string | null,
  'pending' | 'succeeded' | 'failed',
  number,
];

export interface RetryArgs {
  webhookId?: string;
  since?: number;
  ids?: readonly string[];
  dueAt: number;
  now: number;
}

export type WriteOp =
  | { op: 'insert'; rows: InsertRow[]; rejections: RejectRow[] }
  | { op: 'complete'; results: ResultRow[]; now: number }
  | { op: 'retry'; args: RetryArgs }
  | {
      op: 'prune';
      retention: { succeeded: number; failed: number; rejected: number };
      now: number;
      budget: number;
    }
  /** For tests that break the disk on purpose (`max_page_count`), and tools. */
  | { op: 'pragma'; sql: string };

export type OpReply = { ok: true; value: unknown } | { ok: false; error: { message: string; code?: string } };

/** Operations that acknowledge something upstream are synced in full before they are answered. */
const needsFull = (o: WriteOp) => o.op === 'insert' || o.op === 'retry';

export class WriteOps {
  private readonly stmts;
  private readonly retention: SqliteRetention;
  private level: 'FULL' | 'NORMAL' | undefined;

  constructor(
    private readonly db: Database,
    /** Whether a success gets an attempts row too (`store.attemptLog: all`). */
    private readonly logSuccesses: boolean,
  ) {
    // Each operation of a group runs in a savepoint, whose undo journal would otherwise spill to a
    // temporary file past 64 KiB: in memory, a drain writes 3 KB per delivery instead of 5.
    db.pragma('temp_store = MEMORY');
    this.stmts = {
      exists: db.prepare(`SELECT 1 FROM deliveries WHERE key = ? AND id = ?`).pluck(),
      insert: db.prepare(
        `INSERT INTO deliveries (key, id, event_id, event_type, webhook_id, identifier, transport, priority, state, attempts, next_attempt_at, received_at, updated_at, head, body, last_error)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)`,
      ),
      finish: db.prepare(
        `UPDATE deliveries SET state = ?, attempts = ?, next_attempt_at = ?, updated_at = ?, last_error = ?,
           last_status = ?, last_started_at = ?, last_duration_ms = ?, last_response = ? WHERE key = ? AND id = ?`,
      ),
      attempt: db.prepare(
        `INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, outcome, status, error, response)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      reject: db.prepare(
        `INSERT INTO rejected_events (received_at, source, subject, reason, detail, payload) VALUES (?, ?, ?, ?, ?, ?)`,
      ),
    };
    this.retention = new SqliteRetention(db);
  }

  /**
   * Runs the operations that arrived together in one transaction, each in a
   * savepoint of its own (one that fails leaves the others), synced once:
   * in full when any of them acknowledges something upstream. An operation
   * is answered ok only once the commit that covers it returned.
   */
  group(ops: readonly WriteOp[]): OpReply[] {
    const replies: OpReply[] = [];
    const level = ops.some(needsFull) ? 'FULL' : 'NORMAL';
    if (level !== this.level) {
      this.db.pragma(`synchronous = ${level}`);
      this.level = level;
    }
    const fail = (err: unknown): OpReply => ({
      ok: false,
      error: { message: (err as Error)?.message ?? String(err), code: (err as { code?: string })?.code },
    });
    try {
      // IMMEDIATE: the write lock is taken (waiting out the main connection's short writes, webhook
      // states and API webhooks) before anything is read. A deferred transaction that read first
      // could not take it past the other commit: SQLITE_BUSY at once, and every operation failed.
      this.db
        .transaction(() => {
          for (const o of ops) {
            if (!this.db.inTransaction) {
              // SQLite rolled the whole transaction back (a full disk, an I/O error): the rest fails too.
              replies.push(fail(new Error('the transaction was rolled back by an earlier failure')));
              continue;
            }
            try {
              replies.push({ ok: true, value: this.db.transaction(() => this.apply(o))() });
            } catch (err) {
              replies.push(fail(err));
            }
          }
          if (!this.db.inTransaction) throw new Error('the transaction was rolled back');
        })
        .immediate();
    } catch (err) {
      // Nothing of this group is known to be on disk.
      for (let i = 0; i < replies.length; i++) if (replies[i]!.ok) replies[i] = fail(err);
      while (replies.length < ops.length) replies.push(fail(err));
    }
    return replies;
  }

  private apply(o: WriteOp): unknown {
    switch (o.op) {
      case 'insert':
        return this.insert(o.rows, o.rejections);
      case 'complete':
        return this.complete(o.results, o.now);
      case 'retry':
        return this.retry(o.args);
      case 'prune':
        return this.retention.prune(o.retention, o.now, o.budget);
      case 'pragma':
        return this.db.pragma(o.sql, { simple: true });
    }
  }

  /** New deliveries (a redelivered event maps onto its row: nothing new) and rejected events. */
  private insert(
    rows: readonly InsertRow[],
    rejections: readonly RejectRow[],
  ): { added: number; failed: number } {
    let added = 0;
    let failed = 0;
    const s = this.stmts;
    for (const r of rows) {
      const [id, , , , , , , at, receivedAt, , , renderError] = r;
      const key = rowKey(id);
      if (s.exists.get(key, id)) continue;
      // The row as handed over (id to priority), its state, when it is due, received and updated, head, body, error.
      s.insert.run(
        key,
        ...r.slice(0, 7),
        renderError === null ? 'pending' : 'failed',
        at,
        receivedAt,
        receivedAt,
        r[9],
        r[10],
        renderError,
      );
      added++;
      if (renderError !== null) {
        failed++;
        s.attempt.run(id, 1, receivedAt, 0, 'permanent', null, renderError, null);
        s.finish.run('failed', 1, receivedAt, receivedAt, renderError, null, receivedAt, 0, null, key, id);
      }
    }
    for (const r of rejections) s.reject.run(...r);
    return { added, failed };
  }

  /** Attempt results: a row per failed attempt (and per success when asked), the delivery moved on. */
  private complete(results: readonly ResultRow[], now: number): number {
    const s = this.stmts;
    for (const r of results) {
      const [id, attempt, startedAt, durationMs, outcome, status, error, response, next, nextAt] = r;
      if (outcome !== 'success' || this.logSuccesses)
        s.attempt.run(id, attempt, startedAt, durationMs, outcome, status, error, response);
      s.finish.run(
        next,
        attempt,
        next === 'pending' ? nextAt : now,
        now,
        outcome === 'success' ? null : error,
        status,
        startedAt,
        durationMs,
        response,
        rowKey(id),
        id,
      );
    }
    return results.length;
  }

  /** Dead letters back in the queue with a fresh retry budget; how many. */
  private retry(f: RetryArgs): number {
    const where = [`state = 'failed'`];
    const args: unknown[] = [];
    if (f.webhookId !== undefined) {
      // The webhook's id, or its identifier (what operators see in logs and metrics).
      where.push('(webhook_id = ? OR identifier = ?)');
      args.push(f.webhookId, f.webhookId);
    }
    if (f.since !== undefined) {
      where.push('updated_at >= ?');
      args.push(f.since);
    }
    if (f.ids !== undefined) {
      const marks = f.ids.map(() => '?').join(',') || 'NULL';
      where.push(`key IN (${marks}) AND id IN (${marks})`);
      args.push(...f.ids.map(rowKey), ...f.ids);
    }
    return this.db
      .prepare(
        `UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ? WHERE ${where.join(' AND ')}`,
      )
      .run(f.dueAt, f.now, ...args).changes;
  }
}
