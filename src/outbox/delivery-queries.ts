/**
 * Read-side queries of the outbox for the API: one webhook's deliveries,
 * newest first, paged by a (updated_at, id) cursor so rows written in the
 * same millisecond (attempt results are written in batches) are neither
 * skipped nor repeated between pages.
 */
import type Database from 'better-sqlite3';
import type { DeliveryRow, DeliveryState } from './store.ts';

export interface DeliveryCursor {
  updatedAt: number;
  id: string;
}

export class DeliveryQueries {
  constructor(private readonly db: Database.Database) {}

  byWebhook(
    webhookId: string,
    opts: { state?: DeliveryState; limit: number; before?: DeliveryCursor },
  ): DeliveryRow[] {
    const where = ['webhook_id = ?'];
    const args: unknown[] = [webhookId];
    if (opts.state) {
      where.push('state = ?');
      args.push(opts.state);
    }
    if (opts.before) {
      where.push('(updated_at < ? OR (updated_at = ? AND id < ?))');
      args.push(opts.before.updatedAt, opts.before.updatedAt, opts.before.id);
    }
    args.push(opts.limit);
    return this.db
      .prepare(
        `SELECT * FROM deliveries WHERE ${where.join(' AND ')} ORDER BY updated_at DESC, id DESC LIMIT ?`,
      )
      .all(...args) as DeliveryRow[];
  }
}
