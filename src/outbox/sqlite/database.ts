/**
 * Opens the SQLite file: WAL, the schema, and a switch of the sync level
 * that only talks to SQLite when the level changes (it used to be set again
 * on every transaction).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Database } from './driver.ts';
import { migrate, SCHEMA } from './schema.ts';

export type SyncLevel = 'FULL' | 'NORMAL';

export class SqliteFile {
  readonly db: Database;
  private level: SyncLevel = 'FULL';

  constructor(readonly path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // FULL: an event acknowledged upstream survives a power loss, not just a process kill.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    migrate(this.db);
    this.db.exec(SCHEMA);
  }

  /**
   * Runs `fn` in one transaction at the given sync level, holding the write
   * lock from its start: a transaction that read first could not take the
   * lock past another connection's commit (SQLITE_BUSY, without waiting).
   */
  write<T>(level: SyncLevel, fn: () => T): T {
    if (level !== this.level) {
      this.db.pragma(`synchronous = ${level}`);
      this.level = level;
    }
    return this.db.transaction(fn).immediate();
  }

  get open(): boolean {
    return this.db.open;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
