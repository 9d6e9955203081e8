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
  /** How often the watcher is checked for a stall (default 2 s). */
  checkEveryMs?: number;
}

const encoder = new TextEncoder();

interface Pending<T> {
  writes: number;
  issued: number;
  held?: KvEntry;
  confirmed: T | undefined;
  /** The latest write (by the order they were made) that was confirmed, and that failed. */
  okSeq: number;
  failedSeq: number;
}

export class KvView<T> {
  private readonly values = new Map<string, T>();
  /** The highest revision applied per key (kept after a delete, so older entries stay ignored). */
  private readonly revisions = new Map<string, number>();
  /**
   * Keys with writes in flight: how many, the newest watcher entry held back
   * meanwhile, and the value the bucket is known to have (before the first
   * of these writes, or the latest of them confirmed).
   */
  private readonly pending = new Map<string, Pending<T>>();
  private readonly inflight = new Set<Promise<void>>();
  private failures: Error[] = [];
  private readonly listeners: ((c: ViewChange<T>) => void)[] = [];
  private watcher: QueuedIterator<KvWatchEntry> | undefined;
  /** The highest revision the watcher delivered, and the bucket's last revision when it was seen behind. */
  private watchedSeq = 0;
  private behindAt: number | undefined;
  private checker: NodeJS.Timeout | undefined;
  private closed = false;

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
    let loaded: () => void = () => {};
    const ready = new Promise<void>((r) => {
      loaded = r;
    });
    if (empty) loaded();
    this.follow(await this.kv.watch(), loaded);
    await ready;
    this.checker = setInterval(() => void this.check().catch(() => {}), this.opts.checkEveryMs ?? 2000);
    this.checker.unref();
  }

  /** Applies what the watcher delivers; `loaded` once it has nothing more pending. */
  private follow(watcher: QueuedIterator<KvWatchEntry>, loaded: () => void = () => {}): void {
    this.watcher = watcher;
    void (async () => {
      for await (const e of watcher) {
        this.watchedSeq = Math.max(this.watchedSeq, e.revision);
        this.receive(e);
        if (e.delta === 0) loaded();
      }
    })().catch((err: Error) =>
      this.report(new StoreError(`watching ${this.bucket} failed: ${err.message}`, { cause: err })),
    );
  }

  /**
   * The watcher's own recovery after a cluster member is lost can stall
   * (seen on a 3-node 2.9 cluster): when the bucket had an entry at the
   * previous check that the watcher has still not delivered, it is replaced
   * by one resuming after the last entry it delivered.
   */
  private async check(): Promise<void> {
    const last = (await this.kv.status()).streamInfo.state.last_seq;
    const stalled = this.behindAt !== undefined && this.watchedSeq < this.behindAt;
    this.behindAt = this.watchedSeq < last ? last : undefined;
    if (!stalled || this.closed) return;
    this.watcher?.stop();
    this.follow(await this.kv.watch({ resumeFromRevision: this.watchedSeq + 1 }));
    this.opts.onError?.(
      new StoreError(`the watcher of ${this.bucket} stalled: resumed after revision ${this.watchedSeq}`),
    );
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
    const p = this.pending.get(key) ?? {
      writes: 0,
      issued: 0,
      confirmed: this.values.get(key),
      okSeq: 0,
      failedSeq: 0,
    };
    p.writes++;
    const seq = ++p.issued;
    this.pending.set(key, p);
    this.apply(key, value, true);
    const sent = retryUntil(this.opts.writeDeadlineMs ?? 30_000, () =>
      value === undefined
        ? this.kv.delete(key).then(() => undefined)
        : this.kv.put(key, encoder.encode(JSON.stringify(value))),
    );
    const done = sent.then(
      (revision) => {
        if (revision !== undefined) this.revisions.set(key, Math.max(revision, this.revisions.get(key) ?? 0));
        if (seq > p.okSeq) [p.okSeq, p.confirmed] = [seq, value];
        return this.settled(key, p);
      },
      async (err: Error) => {
        p.failedSeq = Math.max(p.failedSeq, seq);
        await this.settled(key, p);
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
    this.closed = true;
    clearInterval(this.checker);
    await this.flush().catch(() => {});
    this.watcher?.stop();
  }

  private report(err: Error): void {
    this.failures.push(err);
    this.opts.onError?.(err);
  }

  private async settled(key: string, p: Pending<T>): Promise<void> {
    if (--p.writes > 0) return;
    this.pending.delete(key);
    // A newer write from another replica arrived meanwhile: it is what the bucket has.
    if (p.held && p.held.revision > (this.revisions.get(key) ?? 0)) return this.receive(p.held);
    if (p.failedSeq <= p.okSeq) return;
    // The bucket does not have what this view shows: back to what it is known to have, then what it says.
    this.apply(key, p.confirmed, false);
    const e = await this.kv.get(key).catch(() => undefined);
    if (e && !this.pending.has(key)) this.receive(e, true);
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
