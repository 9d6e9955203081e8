/** Rejected events in SQLite, kept with their reason. */
import type { RejectedEvent, RejectedEvents, Rejection } from '../contract.ts';
import type { SqliteFile } from './database.ts';

export class SqliteRejected implements RejectedEvents {
  private readonly stmts;

  constructor(file: SqliteFile) {
    this.stmts = {
      add: file.db.prepare(
        `INSERT INTO rejected_events (received_at, source, subject, reason, detail, payload) VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      list: file.db.prepare(`SELECT * FROM rejected_events ORDER BY id DESC LIMIT ?`),
    };
  }

  /** Inside a write transaction of the caller. */
  add(r: Rejection): void {
    this.stmts.add.run(
      r.receivedAt,
      r.source,
      r.subject ?? null,
      r.reason,
      r.detail ?? null,
      r.payload ?? null,
    );
  }

  async list(limit = 100): Promise<RejectedEvent[]> {
    return this.stmts.list.all(limit) as RejectedEvent[];
  }
}
