/**
 * Webhooks created through the API (DESIGN.md section 5), persisted in the
 * outbox database so they survive restarts. Each row keeps the webhook as it
 * was written (the `WebhookInput`, secrets included: deliveries need them)
 * plus the audit fields; it is validated again when loaded. Each webhook also
 * gets an integer number, never reused, for the seed APIs whose ids are
 * integers (seed 000 `id`, seed 001 `WebhookId`).
 *
 * The secrets inside a spec are sealed by a `SpecSeal` before they are written
 * and opened after they are read (encryption at rest, `security.secretsKey`);
 * the store itself never looks inside a spec.
 */
import type { ApiWebhookStore, SpecSeal, StoredWebhook } from '../contract.ts';
import { DuplicateWebhookError } from '../errors.ts';
import type { SqliteFile } from './database.ts';

const PLAIN: SpecSeal = { seal: (_id, spec) => spec, open: (_id, spec) => spec };

interface Row {
  id: string;
  number: number;
  spec: string;
  created_at: number;
  updated_at: number;
}

export class SqliteApiWebhooks implements ApiWebhookStore {
  private readonly stmts;

  constructor(
    private readonly file: SqliteFile,
    private readonly sealer: SpecSeal = PLAIN,
  ) {
    const db = file.db;
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

  private fromRow(r: Row): StoredWebhook {
    const row = { id: r.id, number: r.number, createdAt: r.created_at, updatedAt: r.updated_at };
    const spec = JSON.parse(r.spec) as Record<string, unknown>;
    try {
      return { ...row, spec: this.sealer.open(r.id, spec) };
    } catch (err) {
      return { ...row, spec, unreadable: (err as Error).message };
    }
  }

  all(): StoredWebhook[] {
    return (this.stmts.all.all() as Row[]).map((r) => this.fromRow(r));
  }

  get(id: string): StoredWebhook | undefined {
    const r = this.stmts.get.get(id) as Row | undefined;
    return r && this.fromRow(r);
  }

  byNumber(n: number): StoredWebhook | undefined {
    const r = this.stmts.byNumber.get(n) as Row | undefined;
    return r && this.fromRow(r);
  }

  /** Stores a new webhook; throws `DuplicateWebhookError` when the id is taken. */
  insert(id: string, spec: Record<string, unknown>, now: number): StoredWebhook {
    this.file.write('FULL', () => {
      if (this.stmts.exists.get(id)) throw new DuplicateWebhookError(id);
      this.stmts.insert.run(id, JSON.stringify(this.sealer.seal(id, spec)), now, now);
      this.stmts.number.run(id);
    });
    return this.get(id)!;
  }

  /** Replaces a stored webhook's spec; false when there is none. */
  update(id: string, spec: Record<string, unknown>, now: number): boolean {
    return this.file.write(
      'FULL',
      () => this.stmts.update.run(JSON.stringify(this.sealer.seal(id, spec)), now, id).changes > 0,
    );
  }

  /** Removes a webhook (its number is never handed out again); false when there is none. */
  delete(id: string): boolean {
    return this.file.write('FULL', () => {
      this.stmts.deleteNumber.run(id);
      return this.stmts.delete.run(id).changes > 0;
    });
  }
}
