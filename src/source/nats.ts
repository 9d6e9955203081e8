/**
 * The JetStream source (DESIGN.md section 2): a durable pull consumer that
 * hands micro-batches to the intake and acknowledges each message only after
 * its deliveries are stored. Bad messages are rejected (kept with their
 * reason) and acknowledged so they never block the stream. Several hookd
 * processes on the same consumer split the work.
 */
import { type ConsumerMessages, type JsMsg, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { inBatches } from './batches.ts';
import type { ConsumerLease } from './consumer-lease.ts';
import { type Decoded, decodeEvent } from './decode.ts';
import type { HookEvent, Rejection } from './event.ts';
import { openEventStream } from './event-stream.ts';
import { natsServers } from './nats-servers.ts';

export interface NatsSourceDeps {
  settings: Config['nats'] & { url: string };
  maxBytes: number;
  /** `events.maxDepth`. */
  maxDepth: number;
  logger: Logger;
  /** Stores a batch; resolves when it is on disk. */
  accept: (events: HookEvent[], rejections: Rejection[]) => Promise<unknown>;
  onReceived: (n: number) => void;
  onRejected: (reason: string) => void;
  onPending?: (pending: number) => void;
  /** Held while consuming (the sqlite store's one-process rule); taken before the consumer starts. */
  lease?: ConsumerLease;
  /**
   * The source cannot go on (the lease is held by another process, or was
   * lost; its stream or consumer cannot be set up): hookd must stop.
   */
  onFatal?: (err: Error) => void;
}

/**
 * How long a message waits before JetStream redelivers it after a failed
 * store: doubling per delivery, so a long store outage spends few of the
 * message's `nats.maxDeliver` deliveries.
 */
const nakDelayMs = (deliveryCount: number) => Math.min(2000 * 2 ** Math.max(0, deliveryCount - 1), 300_000);
const PENDING_POLL_MS = 5000;

export class NatsSource {
  private nc: NatsConnection | undefined;
  private messages: ConsumerMessages | undefined;
  private buffer: JsMsg[] = [];
  private flushing: Promise<void> | undefined;
  private stopped = false;
  private storeHealthy = true;
  private storeBackoffMs = 0;
  private pendingTimer: NodeJS.Timeout | undefined;
  private readonly settings;
  private streamIdentity = '';

  constructor(private readonly deps: NatsSourceDeps) {
    this.settings = deps.settings;
  }

  /** Whether this process holds the consumer lease (sqlite store); false without one. */
  get leaseHeld(): boolean {
    return this.deps.lease?.held ?? false;
  }

  /** True when connected to NATS (readiness). */
  get connected(): boolean {
    return this.nc !== undefined && !this.nc.isClosed() && this.messages !== undefined && !this.disconnected;
  }
  private disconnected = false;

  /**
   * Connects in the background (a NATS that is down at start is retried
   * forever while HTTP ingest keeps working), sets up the stream and consumer
   * and starts consuming. A setup that fails for good (the stream cannot be
   * created, JetStream refused past `ensureStream`'s patience) is fatal: a
   * hookd serving its API but consuming nothing would look healthy while
   * events pile up.
   */
  start(): void {
    void this.run().catch((err: Error) => {
      if (this.stopped) return;
      if (this.deps.onFatal) this.deps.onFatal(err);
      else this.deps.logger.error({ err: err.message }, 'NATS source stopped');
    });
  }

  private async run(): Promise<void> {
    const { logger } = this.deps;
    const s = this.settings;
    this.nc = await connect({
      servers: natsServers(s.url),
      name: 'hookd',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      waitOnFirstConnect: true,
    });
    if (this.stopped) {
      await this.nc.close();
      return;
    }
    logger.info({ url: s.url }, 'connected to NATS');
    void this.watchStatus(this.nc);
    if (this.deps.lease) {
      try {
        await this.deps.lease.acquire(this.nc);
      } catch (err) {
        await this.nc.close().catch(() => {});
        this.nc = undefined;
        this.deps.onFatal?.(err as Error);
        return;
      }
      this.deps.lease.keep(
        (err) => {
          // Another process consumes now: stop taking events; what is buffered is redelivered to it.
          this.messages?.stop();
          this.deps.onFatal?.(err);
        },
        (err) => logger.warn({ err: err.message }, 'could not renew the consumer lease; retrying'),
      );
      if (this.stopped) {
        await this.deps.lease.release();
        return;
      }
    }
    this.streamIdentity = await openEventStream(await jetstreamManager(this.nc), s, logger);
    const consumer = await jetstream(this.nc).consumers.get(s.stream, s.consumer);
    this.pendingTimer = setInterval(() => {
      consumer
        .info()
        .then((i) => this.deps.onPending?.(i.num_pending))
        .catch(() => {});
    }, PENDING_POLL_MS);
    this.pendingTimer.unref();
    this.messages = await consumer.consume({
      max_messages: s.batch,
      callback: (m) => {
        this.buffer.push(m);
        if (!this.flushing) this.flushing = this.drain();
      },
    });
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const st of nc.status()) {
      if (st.type === 'disconnect') {
        this.disconnected = true;
        this.deps.logger.warn('disconnected from NATS; reconnecting');
      } else if (st.type === 'reconnect') {
        this.disconnected = false;
        this.deps.logger.info('reconnected to NATS');
      }
    }
  }

  /** Processes buffered messages batch by batch, several at a time (`inBatches`). */
  private async drain(): Promise<void> {
    // Let the callback fill the buffer with what arrived together.
    await new Promise((r) => setImmediate(r));
    await inBatches(
      () => this.buffer,
      this.settings.batch,
      (b) => this.process(b),
    );
    this.flushing = undefined;
  }

  private async process(batch: JsMsg[]): Promise<void> {
    const now = Date.now();
    const events: HookEvent[] = [];
    const rejections: Rejection[] = [];
    let slice = performance.now();
    for (let i = 0; i < batch.length; i++) {
      const m = batch[i]!;
      // Decoding 512 large events is work too: give the event loop a turn now and then.
      if ((i & 31) === 31 && performance.now() - slice > 10) {
        await new Promise((r) => setImmediate(r));
        slice = performance.now();
      }
      if (m.info.deliveryCount > this.settings.maxDeliver) {
        // Never stored in maxDeliver deliveries: it crashes or stalls every hookd. Keep it, don't retry it.
        rejections.push({
          receivedAt: now,
          source: 'nats',
          subject: m.subject,
          reason: 'redelivered',
          detail: `delivered ${m.info.deliveryCount} times without being stored (nats.maxDeliver is ${this.settings.maxDeliver}); stream sequence ${m.seq}`,
          payload: m.data.subarray(0, this.deps.maxBytes),
        });
        continue;
      }
      const decoded = this.decode(m, now);
      if (decoded.ok) events.push(decoded.event);
      else {
        rejections.push({
          receivedAt: now,
          source: 'nats',
          subject: m.subject,
          reason: decoded.reason,
          detail: decoded.detail,
          // Keep what fits: a huge payload is kept truncated, the reason says how big it was.
          payload: m.data.subarray(0, this.deps.maxBytes),
        });
      }
    }
    try {
      await this.deps.accept(events, rejections);
    } catch (err) {
      // Not stored: never ack. Redelivery after a delay; the store may recover meanwhile.
      this.storeBackoffMs = Math.min(this.storeBackoffMs * 2 || 250, 5000);
      if (this.storeHealthy)
        this.deps.logger.error({ err }, 'could not store events; not acknowledging them');
      this.storeHealthy = false;
      for (const m of batch) m.nak(nakDelayMs(m.info.deliveryCount));
      // Pause consuming: nothing can be stored; what is buffered waits and is redelivered later.
      await new Promise((r) => setTimeout(r, this.storeBackoffMs));
      return;
    }
    if (!this.storeHealthy) this.deps.logger.info('storing events works again');
    this.storeHealthy = true;
    this.storeBackoffMs = 0;
    this.deps.onReceived(events.length);
    for (const r of rejections) {
      this.deps.onRejected(r.reason);
      this.deps.logger.warn(
        { subject: r.subject, reason: r.reason, detail: r.detail },
        'rejected an event; kept it with the reason',
      );
    }
    for (const m of batch) m.ack();
  }

  /** One message to an event or a rejection; an unexpected exception rejects this message alone. */
  private decode(m: JsMsg, now: number): Decoded {
    try {
      const headers = new Map<string, string>();
      if (m.headers) for (const [k, v] of m.headers) headers.set(k.toLowerCase(), v[0] ?? '');
      return decodeEvent({
        payload: m.data,
        subject: m.subject,
        headers,
        fallbackId: `${this.streamIdentity}:${m.seq}`,
        maxBytes: this.deps.maxBytes,
        maxDepth: this.deps.maxDepth,
        receivedAt: now,
      });
    } catch (err) {
      return { ok: false, reason: 'unprocessable', detail: `could not decode: ${(err as Error).message}` };
    }
  }

  /** Stops taking messages; waits for the batch being stored, then closes the connection (flushing acks). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pendingTimer);
    this.messages?.stop();
    await this.flushing;
    // Anything still buffered was never stored: leave it unacknowledged for redelivery.
    this.buffer = [];
    await this.deps.lease?.release();
    if (this.nc && !this.nc.isClosed()) {
      await this.nc.drain().catch(() => this.nc?.close());
    }
  }
}
