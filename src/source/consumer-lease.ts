/**
 * The consumer lease of the `sqlite` store (DESIGN.md section 8): one hookd
 * process, with one store file, consumes a stream's durable consumer. A
 * second process with another store file would take events it may not know
 * how to deliver (webhooks created through the first one's API live in the
 * first one's file), so it is refused at start, naming the holder, instead
 * of silently splitting the work.
 *
 * The lease is a key in the KV bucket `HOOKD_LEASES` whose entries expire
 * `ttlMs` after their last write (the bucket's max age, which Debian's
 * nats-server 2.9 honours). The holder rewrites it every `ttlMs / 3`; a
 * holder that was SIGKILLed stops rewriting it and the key expires, so a
 * replacement takes over within `ttlMs`. A replacement on the same host with
 * the same store file is the same replica restarted: it takes over at once.
 *
 * Two processes starting at the same instant race on `create`, which the
 * server decides for one of them; after that only the holder writes the key
 * (a single writer), so the lease does not rely on compare-and-set under
 * contention (nats-server #4320).
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { type KV, type KvEntry, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';

export const LEASE_BUCKET = 'HOOKD_LEASES';

/** Who holds a consumer: what the refusal names. */
export interface LeaseHolder {
  host: string;
  pid: number;
  store: string;
  /** Random per process: tells this process's own entry from a restarted twin's. */
  instance: string;
  since: string;
}

export class LeaseHeldError extends Error {
  readonly code = 'HOOKD_CONSUMER_LEASED';
  constructor(
    /** `stream/consumer`. */
    readonly consumer: string,
    readonly holder: LeaseHolder,
  ) {
    super(
      `another hookd holds the NATS consumer ${consumer}: ` +
        `pid ${holder.pid} on ${holder.host} with store ${holder.store} (since ${holder.since}). ` +
        'With store.backend sqlite one process consumes a stream; stop the other one, or give this one its own nats.consumer.',
    );
  }
}

export class LeaseLostError extends Error {
  readonly code = 'HOOKD_CONSUMER_LEASE_LOST';
}

export interface LeaseOptions {
  stream: string;
  consumer: string;
  storePath: string;
  ttlMs: number;
  /** Clock and pause, injectable for tests. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

function parseHolder(e: KvEntry): LeaseHolder | undefined {
  if (e.operation !== 'PUT') return undefined;
  try {
    return JSON.parse(decoder.decode(e.value)) as LeaseHolder;
  } catch {
    return undefined;
  }
}

/**
 * KV keys allow `[-/_=.a-zA-Z0-9]`: any other character of a stream or
 * consumer name (and `=` itself) is written `=` + six hex digits, so two
 * names never share a key.
 */
function keyPart(s: string): string {
  return s.replace(/[^-_a-zA-Z0-9]/gu, (c) => `=${c.codePointAt(0)!.toString(16).padStart(6, '0')}`);
}

/** The KV key of a stream's consumer. */
export function leaseKey(stream: string, consumer: string): string {
  return `consumer.${keyPart(stream)}.${keyPart(consumer)}`;
}

export class ConsumerLease {
  readonly key: string;
  /** `stream/consumer`, as errors name it. */
  private readonly name: string;
  private readonly me: LeaseHolder;
  private kv: KV | undefined;
  private revision = 0;
  private timer: NodeJS.Timeout | undefined;
  private holding = false;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly opts: LeaseOptions) {
    this.key = leaseKey(opts.stream, opts.consumer);
    this.name = `${opts.stream}/${opts.consumer}`;
    this.me = {
      host: hostname(),
      pid: process.pid,
      store: resolve(opts.storePath),
      instance: `${process.pid}-${Math.random().toString(36).slice(2, 10)}`,
      since: new Date().toISOString(),
    };
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /**
   * Takes the lease, waiting at most one lease period for a holder that has
   * stopped renewing (a crashed process) to expire. Throws `LeaseHeldError`
   * when a live process holds it.
   */
  async acquire(nc: NatsConnection): Promise<void> {
    const kvm = new Kvm(nc);
    // A bucket made earlier with another lease period is used as it is.
    const kv = await kvm
      .create(LEASE_BUCKET, { history: 1, ttl: this.opts.ttlMs })
      .catch(() => kvm.open(LEASE_BUCKET));
    this.kv = kv;
    const value = encoder.encode(JSON.stringify(this.me));
    const giveUpAt = this.now() + this.opts.ttlMs + Math.min(this.opts.ttlMs, 5000);
    let seen: number | undefined;
    for (;;) {
      const e = await kv.get(this.key);
      const holder = e ? parseHolder(e) : undefined;
      if (!e || !holder) {
        try {
          this.revision = await kv.create(this.key, value);
          this.holding = true;
          return;
        } catch {
          // Another process created it between our read and our create: read again.
          continue;
        }
      }
      if (holder.instance === this.me.instance || this.sameReplica(holder)) {
        try {
          this.revision = await kv.update(this.key, value, e.revision);
          this.holding = true;
          return;
        } catch (err) {
          // The entry moved since we read it (the previous run's last renewal or release): read again.
          if (this.now() >= giveUpAt) throw err;
          await this.sleep(50);
          continue;
        }
      }
      // A live holder rewrites the key every ttl/3: a second revision proves it is alive.
      if (seen !== undefined && e.revision !== seen) throw new LeaseHeldError(this.name, holder);
      seen = e.revision;
      if (this.now() >= giveUpAt) throw new LeaseHeldError(this.name, holder);
      await this.sleep(Math.min(1000, this.opts.ttlMs / 4));
    }
  }

  /** The same host and the same store file: this replica, restarted. */
  private sameReplica(h: LeaseHolder): boolean {
    return h.host === this.me.host && h.store === this.me.store;
  }

  /**
   * Rewrites the lease every ttl/3 until `release`. `onLost` is called when
   * another process took it meanwhile (this one was cut off longer than the
   * lease), and consuming must stop.
   */
  keep(onLost: (err: Error) => void, onError: (err: Error) => void): void {
    const renew = async () => {
      const kv = this.kv!;
      const value = encoder.encode(JSON.stringify(this.me));
      try {
        this.revision = await kv.update(this.key, value, this.revision);
        return;
      } catch (err) {
        const e = await kv.get(this.key).catch(() => undefined);
        if (e === undefined) return onError(err as Error); // NATS unreachable: try again next round.
        const holder = e ? parseHolder(e) : undefined;
        if (e && holder && holder.instance !== this.me.instance) {
          this.stopRenewing();
          return onLost(new LeaseLostError(new LeaseHeldError(this.name, holder).message));
        }
        // Expired while we were cut off, and nobody took it: take it back.
        try {
          this.revision =
            e && holder ? await kv.update(this.key, value, e.revision) : await kv.create(this.key, value);
        } catch (err2) {
          onError(err2 as Error);
        }
      }
    };
    let renewing = false;
    this.timer = setInterval(
      () => {
        // A renewal that hangs while NATS is away must not pile up behind itself.
        if (renewing) return;
        renewing = true;
        void renew().finally(() => {
          renewing = false;
        });
      },
      Math.max(100, Math.floor(this.opts.ttlMs / 3)),
    );
    this.timer.unref();
  }

  private stopRenewing(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.holding = false;
  }

  /** Whether this process holds the lease now (taken, not lost, not released): `hookd_consumer_lease_held`. */
  get held(): boolean {
    return this.holding;
  }

  /** Gives the lease up (on shutdown), so a successor need not wait for it to expire. */
  async release(): Promise<void> {
    this.stopRenewing();
    if (!this.kv || this.revision === 0) return;
    await this.kv.delete(this.key, { previousSeq: this.revision }).catch(() => {});
    this.revision = 0;
  }
}
