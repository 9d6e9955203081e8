/** The `sqlite` backend (DESIGN.md section 8): every delivery in one process's file. */
import { statSync } from 'node:fs';
import type { Pruned, Retention, SpecSeal, Store } from '../contract.ts';
import { SqliteApiWebhooks } from './api-webhooks.ts';
import { SqliteAttempts } from './attempts.ts';
import { Checkpointer } from './checkpointer.ts';
import { SqliteFile } from './database.ts';
import { SqliteDeliveries } from './deliveries.ts';
import { SqliteRejected } from './rejected.ts';
import { SqliteRetention } from './retention.ts';
import { SqliteWebhookStates } from './webhook-states.ts';

export interface SqliteStoreOptions {
  seal?: SpecSeal;
  /** `all`: a row per successful attempt too (default `failures`: a success is kept on its delivery). */
  attemptLog?: 'failures' | 'all';
}

export class SqliteStore implements Store {
  readonly deliveries: SqliteDeliveries;
  readonly attempts: SqliteAttempts;
  readonly rejected: SqliteRejected;
  readonly webhookStates: SqliteWebhookStates;
  readonly webhooks: SqliteApiWebhooks;
  private readonly file: SqliteFile;
  private readonly retention: SqliteRetention;
  private readonly checkpointer: Checkpointer | undefined;

  constructor(
    readonly path: string,
    opts: SqliteStoreOptions = {},
  ) {
    this.file = new SqliteFile(path);
    this.attempts = new SqliteAttempts(this.file);
    this.rejected = new SqliteRejected(this.file);
    this.deliveries = new SqliteDeliveries(
      this.file,
      this.attempts,
      this.rejected,
      opts.attemptLog === 'all',
    );
    this.retention = new SqliteRetention(this.file);
    if (path !== ':memory:') {
      // Checkpoints run in a worker thread; the main connection's own only if that one is gone.
      this.file.db.pragma('wal_autocheckpoint = 10000');
      this.checkpointer = new Checkpointer(path);
    }
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

  async prune(retention: Retention, now: number, budget: number): Promise<Pruned> {
    return this.retention.prune(retention, now, budget, (state, n) => this.deliveries.pruned(state, n));
  }

  /** For tests that break the disk on purpose (a full disk) and for tools; not part of `Store`. */
  get sqlite(): SqliteFile {
    return this.file;
  }

  async close(): Promise<void> {
    await this.checkpointer?.close();
    this.file.close();
  }
}

/** Opens the store a config names. */
export function openStore(path: string, opts: SqliteStoreOptions = {}): Store {
  return new SqliteStore(path, opts);
}
