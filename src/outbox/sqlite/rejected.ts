/** Rejected events in SQLite, kept with their reason. */
import type { RejectedEvent, RejectedEvents } from '../contract.ts';
import type { SqliteFile } from './database.ts';

export class SqliteRejected implements RejectedEvents {
  private readonly stmts;

  constructor(file: SqliteFile) {
    this.stmts = {
      list: file.db.prepare(`SELECT * FROM rejected_events ORDER BY id DESC LIMIT ?`),
    };
  }

  async list(limit = 100): Promise<RejectedEvent[]> {
    return this.stmts.list.all(limit) as RejectedEvent[];
  }
}
