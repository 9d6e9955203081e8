/**
 * The `sqlite` backend (DESIGN.md section 8): every delivery in one
 * process's file. Writes of deliveries, attempts and rejected events go to
 * the writer thread (group commit, off the event loop); reads, and the rare
 * small writes of webhook states and API webhooks, use this thread's connection.
 */
import { statSync } from 'node:fs';
import type { Pruned, Retention, SpecSeal, Store } from '../contract.ts';
import { SqliteApiWebhooks } from './api-webhooks.ts';
import { SqliteAttempts } from './attempts.ts';
import { Checkpointer } from './checkpointer.ts';
import { SqliteFile } from './database.ts';
import { SqliteDeliveries } from './deliveries.ts';
import { SqliteRejected } from './rejected.ts';
import type { PruneReport } from './retention.ts';
import { SqliteWebhookStates } from './webhook-states.ts';
import { InlineWriter, ThreadWriter, type Writer } from './writer.ts';

export interface SqliteStoreOptions {
  seal?: SpecSeal;
  /** `all`: a row per successful attempt too (default `failures`: a success is kept on its delivery). */
  attemptLog?: 'failures' | 'all';
  /**
   * `thread` (default for a file): writes in the writer thread. `inline`:
   * on the caller's connection, one transaction per write (always for
   * `:memory:`; tests that drive time with fake timers).
   */
  writer?: 'thread' | 'inline';
}

export class SqliteStore implements Store {
  readonly deliveries: SqliteDeliveries;
  readonly attempts: SqliteAttempts;
  readonly rejected: SqliteRejected;
  readonly webhookStates: SqliteWebhookStates;
  readonly webhooks: SqliteApiWebhooks;
  private readonly file: SqliteFile;
  private readonly writer: Writer;
  private readonly checkpointer: Checkpointer | undefined;

  constructor(
    readonly path: string,
    opts: SqliteStoreOptions = {},
  ) {
    this.file = new SqliteFile(path);
    this.attempts = new SqliteAttempts(this.file);
    this.rejected = new SqliteRejected(this.file);
    const logSuccesses = opts.attemptLog === 'all';
    this.writer =
      path === ':memory:' || opts.writer === 'inline'
        ? new InlineWriter(this.file.db, logSuccesses)
        : new ThreadWriter({ path, logSuccesses });
    this.deliveries = new SqliteDeliveries(this.file, this.writer);
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
    const { pruned, byState } = (await this.writer.run({
      op: 'prune',
      retention,
      now,
      budget,
    })) as PruneReport;
    for (const { state, n } of byState) this.deliveries.pruned(state, n);
    return pruned;
  }

  /** This thread's connection (reads), for tests and tools; not part of `Store`. */
  get sqlite(): SqliteFile {
    return this.file;
  }

  /** A pragma on the writing connection, for tests that break the disk on purpose (`max_page_count`). */
  writerPragma(sql: string): Promise<unknown> {
    return this.writer.run({ op: 'pragma', sql });
  }

  async close(): Promise<void> {
    await this.writer.close();
    await this.checkpointer?.close();
    this.file.close();
  }
}

/** Opens the store a config names. */
export function openStore(path: string, opts: SqliteStoreOptions = {}): Store {
  return new SqliteStore(path, opts);
}
