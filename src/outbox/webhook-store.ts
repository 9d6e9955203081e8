/**
 * Webhooks created through the API (DESIGN.md section 5), persisted in the
 * outbox database so they survive restarts. Each row keeps the webhook as it
 * was written (the `WebhookInput`, secrets included: deliveries need them)
 * plus the audit fields; it is validated again when loaded. Each webhook also
 * gets an integer number, never reused, for the seed APIs whose ids are
 * integers (seed 000 `id`, seed 001 `WebhookId`).
 */
import type Database from 'better-sqlite3';

export interface StoredWebhook {
  id: string;
  /** Integer alias for the seed dialects; unique and never reused. */
  number: number;
  /** The webhook as written, with the audit fields set by hookd. */
  spec: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

interface Row {
  id: string;
  number: number;
  spec: string;
  created_at: number;
  updated_at: number;
}

export class DuplicateWebhookError extends Error {
  readonly code = 'HOOKD_WEBHOOK_DUPLICATE';
  constructor(readonly id: string) {
    super(`a webhook with id "${id}" exists already`);
  }
}

const fromRow = (r: Row): StoredWebhook => ({
  id: r.id,
  number: r.number,
  spec: JSON.parse(r.spec) as Record<string, unknown>,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class WebhookStore {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    const select = `SELECT w.id, n.number, w.spec, w.created_at, w.updated_at
      FROM webhooks w JOIN webhook_numbers n ON n.webhook_id = w.id`;
    this.stmts = {
      all: db.prepare(`${select} ORDER BY n.number`),
      get: db.prepare(`${select} WHERE w.id = ?`),
      byNumber: db.prepare(`${select} WHERE n.number = ?`),
      exists: db.prepare(`SELECT 1 FROM webhooks WHERE id = ?`).pluck(),
      insert: db.prepare(`INSERT INTO webhooks (id, spec, created_at, updated_at) VALUES (?, ?, ?, ?)`),
      number: db.prepare(`INSERT INTO webhook_numbers (webhook_id) VALUES (?)`),
      update: db.prepare(`UPDATE webhooks SET spec = ?, updated_at = ? WHERE id = ?`),
      delete: db.prepare(`DELETE FROM webhooks WHERE id = ?`),
      deleteNumber: db.prepare(`DELETE FROM webhook_numbers WHERE webhook_id = ?`),
    };
  }

  all(): StoredWebhook[] {
    return (this.stmts.all.all() as Row[]).map(fromRow);
  }

  get(id: string): StoredWebhook | undefined {
    const r = this.stmts.get.get(id) as Row | undefined;
    return r && fromRow(r);
  }

  byNumber(n: number): StoredWebhook | undefined {
    const r = this.stmts.byNumber.get(n) as Row | undefined;
    return r && fromRow(r);
  }

  /** Stores a new webhook; throws `DuplicateWebhookError` when the id is taken. */
  insert(id: string, spec: Record<string, unknown>, now: number): StoredWebhook {
    this.db.pragma('synchronous = FULL');
    this.db.transaction(() => {
      if (this.stmts.exists.get(id)) throw new DuplicateWebhookError(id);
      this.stmts.insert.run(id, JSON.stringify(spec), now, now);
      this.stmts.number.run(id);
    })();
    return this.get(id)!;
  }

  /** Replaces a stored webhook's spec; false when there is none. */
  update(id: string, spec: Record<string, unknown>, now: number): boolean {
    this.db.pragma('synchronous = FULL');
    return this.stmts.update.run(JSON.stringify(spec), now, id).changes > 0;
  }

  /** Removes a webhook (its number is never handed out again); false when there is none. */
  delete(id: string): boolean {
    this.db.pragma('synchronous = FULL');
    return this.db.transaction(() => {
      this.stmts.deleteNumber.run(id);
      return this.stmts.delete.run(id).changes > 0;
    })();
  }
}
