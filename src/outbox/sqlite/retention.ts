/**
 * Retention for the SQLite store (DESIGN.md section 8): finished deliveries
 * past `store.retention.succeeded|failed` (counted from when they finished)
 * and rejected events past `store.retention.rejected` are deleted, with the
 * attempts of each delivery. Pending deliveries (held ones included) are
 * never touched: only rows in the `done` index qualify. Each call deletes at
 * most `budget` records in one short transaction, so intake and dispatch
 * never wait long behind it.
 */
import type { Pruned, Retention } from '../contract.ts';
import type { Database } from './driver.ts';

/** What one pass removed, and how many finished deliveries of each state (they leave the counts). */
export interface PruneReport {
  pruned: Pruned;
  byState: { state: 'succeeded' | 'failed'; n: number }[];
}

export class SqliteRetention {
  private readonly stmts;

  constructor(db: Database) {
    this.stmts = {
      expired: db.prepare(
        `SELECT seq, id FROM deliveries WHERE state = ? AND updated_at < ? ORDER BY updated_at LIMIT ?`,
      ),
      deleteDelivery: db.prepare(`DELETE FROM deliveries WHERE seq = ?`),
      deleteAttempts: db.prepare(`DELETE FROM attempts WHERE delivery_id = ?`),
      deleteRejected: db.prepare(
        `DELETE FROM rejected_events WHERE id IN (SELECT id FROM rejected_events WHERE received_at < ? ORDER BY id LIMIT ?)`,
      ),
    };
  }

  /**
   * Deletes up to `budget` expired records, inside the caller's transaction
   * (synced NORMAL when nothing else in its group needs more: a deletion
   * lost to a power cut is simply done again).
   */
  prune(retention: Retention, now: number, budget: number): PruneReport {
    const out: Pruned = { deliveries: 0, attempts: 0, rejected: 0 };
    const byState: { state: 'succeeded' | 'failed'; n: number }[] = [];
    let left = budget;
    for (const state of ['succeeded', 'failed'] as const) {
      if (left <= 0) break;
      const rows = this.stmts.expired.all(state, now - retention[state], left) as {
        seq: number;
        id: string;
      }[];
      for (const r of rows) {
        out.attempts += this.stmts.deleteAttempts.run(r.id).changes;
        this.stmts.deleteDelivery.run(r.seq);
      }
      out.deliveries += rows.length;
      left -= rows.length;
      if (rows.length) byState.push({ state, n: rows.length });
    }
    if (left > 0) out.rejected = this.stmts.deleteRejected.run(now - retention.rejected, left).changes;
    return { pruned: out, byState };
  }
}
