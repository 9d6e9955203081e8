/**
 * The attempt log in SQLite: a row per failed attempt (and per success when
 * `store.attemptLog` is `all`). A success without a row of its own is read
 * from its delivery, which keeps the last attempt's status, start, latency
 * and response: the log reads the same either way, one row less per delivery.
 */
import type { AttemptLog, AttemptRow } from '../contract.ts';
import type { SqliteFile } from './database.ts';
import { rowKey } from './row-key.ts';

interface LastAttempt {
  state: string;
  attempts: number;
  last_status: number | null;
  last_started_at: number | null;
  last_duration_ms: number | null;
  last_response: string | null;
}

export class SqliteAttempts implements AttemptLog {
  private readonly stmts;

  constructor(file: SqliteFile) {
    this.stmts = {
      of: file.db.prepare(
        `SELECT attempt, started_at, duration_ms, outcome, status, error, response
         FROM attempts WHERE delivery_id = ? ORDER BY attempt, id`,
      ),
      last: file.db.prepare(
        `SELECT state, attempts, last_status, last_started_at, last_duration_ms, last_response FROM deliveries WHERE key = ? AND id = ?`,
      ),
    };
  }

  async of(deliveryId: string): Promise<AttemptRow[]> {
    const rows = this.stmts.of.all(deliveryId) as AttemptRow[];
    const d = this.stmts.last.get(rowKey(deliveryId), deliveryId) as LastAttempt | undefined;
    if (
      d?.state === 'succeeded' &&
      d.last_started_at !== null &&
      !rows.some((r) => r.attempt === d.attempts && r.outcome === 'success')
    ) {
      rows.push({
        attempt: d.attempts,
        started_at: d.last_started_at,
        duration_ms: d.last_duration_ms ?? 0,
        outcome: 'success',
        status: d.last_status,
        error: null,
        response: d.last_response,
      });
    }
    return rows;
  }
}
