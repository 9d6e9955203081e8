/** Run-time webhook states in SQLite. */
import type { WebhookStateStore } from '../contract.ts';
import type { SqliteFile } from './database.ts';

export class SqliteWebhookStates implements WebhookStateStore {
  private readonly stmts;

  constructor(file: SqliteFile) {
    this.stmts = {
      all: file.db.prepare(`SELECT webhook_id AS webhookId, state, reason, data FROM webhook_states`),
      save: file.db.prepare(
        `INSERT INTO webhook_states (webhook_id, state, reason, data, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (webhook_id) DO UPDATE SET state = excluded.state, reason = excluded.reason, data = excluded.data, updated_at = excluded.updated_at`,
      ),
      delete: file.db.prepare(`DELETE FROM webhook_states WHERE webhook_id = ?`),
    };
  }

  loadWebhookStates(): { webhookId: string; state: string; reason: string | null; data: string | null }[] {
    return this.stmts.all.all() as never;
  }

  saveWebhookState(
    webhookId: string,
    state: string,
    reason: string | null,
    data: string | null,
    now: number,
  ): void {
    this.stmts.save.run(webhookId, state, reason, data, now);
  }

  deleteWebhookState(webhookId: string): void {
    this.stmts.delete.run(webhookId);
  }
}
