/** The `sqlite` backend (DESIGN.md section 8): every delivery in one process's file. */
import { statSync } from 'node:fs';
import type { SpecSeal, Store } from '../contract.ts';
import { SqliteApiWebhooks } from './api-webhooks.ts';
import { SqliteAttempts } from './attempts.ts';
import { SqliteFile } from './database.ts';
import { SqliteDeliveries } from './deliveries.ts';
import { SqliteRejected } from './rejected.ts';
import { SqliteWebhookStates } from './webhook-states.ts';

export class SqliteStore implements Store {
  readonly deliveries: SqliteDeliveries;
  readonly attempts: SqliteAttempts;
  readonly rejected: SqliteRejected;
  readonly webhookStates: SqliteWebhookStates;
  readonly webhooks: SqliteApiWebhooks;
  private readonly file: SqliteFile;

  constructor(
    readonly path: string,
    opts: { seal?: SpecSeal } = {},
  ) {
    this.file = new SqliteFile(path);
    this.attempts = new SqliteAttempts(this.file);
    this.rejected = new SqliteRejected(this.file);
    this.deliveries = new SqliteDeliveries(this.file, this.attempts, this.rejected);
    this.webhookStates = new SqliteWebhookStates(this.file);
    this.webhooks = new SqliteApiWebhooks(this.file, opts.seal);
  }

  probe(): boolean {
    return this.file.open && this.deliveries.writable;
  }

  bytes(): number {
    if (this.path === ':memory:') return 0;
    let n = 0;
    for (const f of [this.path, `${this.path}-wal`, `${this.path}-shm`]) {
      try {
        n += statSync(f).size;
      } catch {
        // The WAL and shared-memory files come and go.
      }
    }
    return n;
  }

  /** For tests that break the disk on purpose (a full disk) and for tools; not part of `Store`. */
  get sqlite(): SqliteFile {
    return this.file;
  }

  async close(): Promise<void> {
    this.file.close();
  }
}

/** Opens the store a config names. */
export function openStore(path: string, opts: { seal?: SpecSeal } = {}): Store {
  return new SqliteStore(path, opts);
}
