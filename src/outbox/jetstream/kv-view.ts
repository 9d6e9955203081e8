/**
 * One replica's in-memory copy of a KV bucket, kept current by a watcher:
 * every put or delete through any replica reaches every view in the order
 * the bucket recorded it (the KV stream's sequence, the entry's revision).
 *
 * How views converge without compare-and-set (nats-server #4320):
 * - Each view applies an entry only when its revision is above the highest
 *   revision it has for that key, so late or replayed entries never undo a
 *   newer one; every view ends at the bucket's last value of each key.
 * - A write through this view is applied here at once (the contract's reads
 *   are synchronous) and sent; while it is unconfirmed, entries of that key
 *   from the watcher are held back, and the newest of them is applied once
 *   the write is confirmed (or failed), so a concurrent older write does not
 *   flicker in between.
 * - A write is retried while the bucket has no leader (whole records: a
 *   repeated put writes the same record again). A write that still fails
 *   leaves the view as the bucket has it: the key is read again. Its error
 *   reaches `flush()` and `onError`.
 */
import type { KV, KvEntry, KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/transport-node';
import { StoreError } from '../errors.ts';
import { retryUntil } from './retry.ts';

export interface ViewChange<T> {
  key: string;
  /** The value in force now; undefined when the key was deleted. */
  value: T | undefined;
  previous: T | undefined;
  /** True when the write came through this view (applied before the bucket confirmed it). */
  local: boolean;
}

export interface KvViewOptions<T> {
  /** Reads an entry's bytes; undefined for a value that is not one (it is reported and left out). */
  decode: (key: string, bytes: Uint8Array) => T | undefined;
  onError?: (err: Error) => void;
  /** How long a write is retried (a leader election takes seconds) before it fails; default 30 s. */
  writeDeadlineMs?: number;
}

const encoder = new TextEncoder();

export class KvView<T> {
  private readonly values = new Map<string, T>();
  /** The highest revision applied per key (kept after a delete, so older entries stay ignored). */
  private readonly revisions = new Map<string, number>();
  /** Keys with writes in flight, and the newest watcher entry held back meanwhile. */
  private readonly pending = new Map<string, { writes: number; held?: KvEntry }>();
  private readonly inflight = new Set<Promise<void>>();
  private failures: Error[] = [];
  private readonly listeners: ((c: ViewChange<T>) => void)[] = [];
  private watcher: QueuedIterator<KvWatchEntry> | undefined;

  private constructor(
    private readonly kv: KV,
    /** The bucket's name, for errors. */
    readonly bucket: string,
    private readonly opts: KvViewOptions<T>,
  ) {}

  /** Opens a view and resolves once it holds the bucket's current values. */
  static async open<T>(kv: KV, bucket: string, opts: KvViewOptions<T>): Promise<KvView<T>> {
    const view = new KvView(kv, bucket, opts);
    await view.watch();
    return view;
  }

  private async watch(): Promise<void> {
    const empty = (await this.kv.status()).values === 0;
    const watcher = await this.kv.watch();
    this.watcher = watcher;
    let loaded: () => void = () => {};
    const ready = new Promise<void>((r) => {
      loaded = r;
    });
    if (empty) loaded();
    void (async () => {
      for await (const e of watcher) {
        this.receive(e);
        // The initial values are loaded when the watcher has nothing more pending.
        if (e.delta === 0) loaded();
      }
    })().catch((err: Error) =>
      this.report(new StoreError(`watching ${this.bucket} failed: ${err.message}`, { cause: err })),
    );
    await ready;
  }

  get(key: string): T | undefined {
    return this.values.get(key);
  }

  entries(): IterableIterator<[string, T]> {
    return this.values.entries();
  }

  onChange(fn: (c: ViewChange<T>) => void): void {
    this.listeners.push(fn);
  }

  /**
   * Sets a key (undefined: deletes it): applied to this view at once,
   * resolved once the bucket has it. The write is also tracked for `flush()`.
   */
  write(key: string, value: T | undefined): Promise<void> {
    const p = this.pending.get(key) ?? { writes: 0 };
    p.writes++;
    this.pending.set(key, p);
    this.apply(key, value, true);
    const sent = retryUntil(this.opts.writeDeadlineMs ?? 30_000, () =>
      value === undefined
        ? this.kv.delete(key).then(() => undefined)
        : this.kv.put(key, encoder.encode(JSON.stringify(value))),
    );
    const done = sent.then(
      (revision) => this.settled(key, revision),
      async (err: Error) => {
        await this.settled(key, undefined, true);
        throw new StoreError(`writing ${this.bucket} key ${key} failed: ${err.message}`, { cause: err });
      },
    );
    const tracked = done.catch((err: Error) => this.report(err));
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked));
    return done;
  }

  /** Waits for every write made so far; rejects with the first that failed since the last flush. */
  async flush(): Promise<void> {
    while (this.inflight.size) await Promise.all([...this.inflight]);
    const [first] = this.failures;
    this.failures = [];
    if (first) throw first;
  }

  async close(): Promise<void> {
    await this.flush().catch(() => {});
    this.watcher?.stop();
  }

  private report(err: Error): void {
    this.failures.push(err);
    this.opts.onError?.(err);
  }

  private async settled(key: string, revision: number | undefined, failed = false): Promise<void> {
    if (revision !== undefined) this.revisions.set(key, Math.max(revision, this.revisions.get(key) ?? 0));
    const p = this.pending.get(key);
    if (!p) return;
    p.writes--;
    if (p.writes > 0) return;
    this.pending.delete(key);
    if (p.held) this.receive(p.held);
    if (failed) {
      // The bucket does not have what this view shows: take what it has.
      const e = await this.kv.get(key).catch(() => undefined);
      if (e) this.receive(e, true);
      else if (e === null) this.apply(key, undefined, false);
    }
  }

  private receive(e: KvEntry, force = false): void {
    if (!force && e.revision <= (this.revisions.get(e.key) ?? 0)) return;
    const p = this.pending.get(e.key);
    if (p) {
      if (!p.held || p.held.revision < e.revision) p.held = e;
      return;
    }
    this.revisions.set(e.key, Math.max(e.revision, this.revisions.get(e.key) ?? 0));
    let value: T | undefined;
    if (e.operation === 'PUT') {
      value = this.opts.decode(e.key, e.value);
      if (value === undefined)
        this.opts.onError?.(new StoreError(`${this.bucket} key ${e.key} holds no valid value: left out`));
    }
    this.apply(e.key, value, false);
  }

  private apply(key: string, value: T | undefined, local: boolean): void {
    const previous = this.values.get(key);
    if (value === undefined) this.values.delete(key);
    else this.values.set(key, value);
    for (const fn of this.listeners) fn({ key, value, previous, local });
  }
}
