/**
 * Which replicas are running (`HOOKD_REPLICAS`), so that each takes its
 * share of a cluster-wide limit: every replica puts its key
 * `replica.<name>` every `heartbeatMs` and deletes it at shutdown; the
 * bucket's TTL removes the key of a replica that died. Every replica
 * watches the bucket and counts the keys it saw written within the last
 * three heartbeats (by its own clock: no clocks are compared), itself
 * included. The count is approximate while replicas join or leave: a
 * replica killed is counted until its heartbeats are three periods old.
 */
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { idToken } from './buckets.ts';
import { KvView } from './kv-view.ts';

export const REPLICAS_BUCKET = 'HOOKD_REPLICAS';

interface Heartbeat {
  replica: string;
  at: number;
}

export interface PresenceOptions {
  replicas: number;
  /** This replica's name. */
  replica: string;
  /** How often this replica says it is there (default 2 s); a key is stale after three. */
  heartbeatMs?: number;
  /** The number of live replicas changed. */
  onChange?: (live: number) => void;
  onError?: (err: Error) => void;
  now?: () => number;
}

export class ReplicaPresence {
  /** When each replica's key was last written, by this replica's clock. */
  private readonly seen = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private last = 1;
  private readonly key: string;
  private readonly now: () => number;
  private readonly heartbeatMs: number;

  private constructor(
    private readonly view: KvView<Heartbeat>,
    private readonly opts: PresenceOptions,
  ) {
    this.key = `replica.${idToken(opts.replica)}`;
    this.now = opts.now ?? Date.now;
    this.heartbeatMs = opts.heartbeatMs ?? 2000;
  }

  static async open(nc: NatsConnection, opts: PresenceOptions): Promise<ReplicaPresence> {
    const heartbeatMs = opts.heartbeatMs ?? 2000;
    const kvm = new Kvm(nc);
    const kv = await kvm
      .create(REPLICAS_BUCKET, { history: 1, replicas: opts.replicas, ttl: 3 * heartbeatMs })
      .catch(() => kvm.open(REPLICAS_BUCKET));
    const view = await KvView.open<Heartbeat>(kv, REPLICAS_BUCKET, {
      decode: (_key, bytes) => {
        try {
          const v = JSON.parse(new TextDecoder().decode(bytes)) as Partial<Heartbeat> | null;
          return typeof v?.replica === 'string' && typeof v.at === 'number' ? (v as Heartbeat) : undefined;
        } catch {
          return undefined;
        }
      },
      onError: opts.onError,
      // A heartbeat not through within three is moot: the next one says the same.
      writeDeadlineMs: 3 * heartbeatMs,
    });
    const presence = new ReplicaPresence(view, opts);
    presence.start();
    return presence;
  }

  private start(): void {
    const t = this.now();
    // Keys in the bucket now were written within its TTL.
    for (const [key] of this.view.entries()) this.seen.set(key, t);
    this.view.onChange((c) => {
      if (c.value === undefined) this.seen.delete(c.key);
      else this.seen.set(c.key, this.now());
      this.changed();
    });
    this.beat();
    this.timer = setInterval(() => this.beat(), this.heartbeatMs);
    this.timer.unref();
  }

  private beat(): void {
    this.view.write(this.key, { replica: this.opts.replica, at: this.now() }).catch(() => {});
    this.changed();
  }

  private changed(): void {
    const n = this.live();
    if (n !== this.last) {
      this.last = n;
      this.opts.onChange?.(n);
    }
  }

  /** Replicas heard from within three heartbeats, this one included (at least 1). */
  live(): number {
    const cutoff = this.now() - 3 * this.heartbeatMs;
    let n = 0;
    for (const [key, at] of this.seen) {
      if (key === this.key || at >= cutoff) n++;
      else this.seen.delete(key);
    }
    return Math.max(1, n + (this.seen.has(this.key) ? 0 : 1));
  }

  /** Stops the heartbeat and removes this replica's key, so the others count one fewer at once. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.view.write(this.key, undefined).catch(() => {});
    await this.view.close();
  }
}
