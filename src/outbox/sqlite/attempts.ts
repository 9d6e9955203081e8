/** The attempt log in SQLite: one row per recorded attempt. */
import type { AttemptLog, AttemptRow } from '../contract.ts';
import type { SqliteFile } from './database.ts';

export class SqliteAttempts implements AttemptLog {
  private readonly stmts;

  constructor(file: SqliteFile) {
    this.stmts = {
      add: file.db.prepare(
        `INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, outcome, status, error, response)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      of: file.db.prepare(
        `SELECT attempt, started_at, duration_ms, outcome, status, error, response
         FROM attempts WHERE delivery_id = ? ORDER BY attempt, id`,
      ),
    };
  }

  /** Inside a write transaction of the caller. */
  add(deliveryId: string, a: Omit<AttemptRow, 'attempt'> & { attempt: number }): void {
    this.stmts.add.run(
      deliveryId,
      a.attempt,
      a.started_at,
      a.duration_ms,
      a.outcome,
      a.status,
      a.error,
      a.response,
    );
  }

  async of(deliveryId: string): Promise<AttemptRow[]> {
    return this.stmts.of.all(deliveryId) as AttemptRow[];
  }
}
