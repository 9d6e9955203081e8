/**
 * The stream every replica's breakers count from (`HOOKD_OUTCOMES`,
 * DESIGN.md section 8): each replica publishes the outcomes of its attempts
 * here, and every replica reads the whole stream back, in the stream's
 * order, from the moment it opened the feed. A breaker fed only from this
 * sequence, with each record's `at` as its clock, reaches the same
 * transition at the same record on every replica: one breaker per webhook
 * cluster-wide with no shared counter and no compare-and-set
 * (nats-server #4320).
 *
 * Failures are one record each, published at once. Successes are summed
 * per webhook over `batchMs` (a success only resets the consecutive count
 * and feeds the failure rate); a webhook's pending successes are published
 * before its next failure, so this replica's order is kept. A probe's
 * outcome is a record of its own, published at once.
 *
 * Each record carries a `Nats-Msg-Id` of this replica's own (`<replica>.<n>`),
 * so a publish retried after a lost answer is counted once.
 */
import {
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { type NatsConnection, nanos } from '@nats-io/transport-node';
import { ensureStream } from '../../source/index.ts';
import { StoreError } from '../errors.ts';
import { tokenId } from './buckets.ts';
import { OUTCOMES_STREAM, type OutcomeRecord, streamSubjects, subjects } from './records.ts';
import { retryUntil } from './retry.ts';

export interface OutcomeFeedOptions {
  /** Replicas of the stream when it is created (`store.jetstream.replicas`). */
  replicas: number;
  /** This replica's name, written into its records. */
  replica: string;
  /** Every record of the stream from when the feed opened, in the stream's order (this replica's own too). */
  onRecord: (webhookId: string, record: OutcomeRecord) => void;
  onError?: (err: Error) => void;
  /** Successes of one webhook are summed over this long (default 250 ms). */
  batchMs?: number;
  /** How long a publish is retried (a leader election takes seconds) before the outcome is dropped (default 10 s). */
  publishDeadlineMs?: number;
  now?: () => number;
  /** How often reading is checked for a stall (default 2 s). */
  checkEveryMs?: number;
}

/** How long the stream keeps outcomes (records.ts: 1 hour); only replicas reading now need them. */
const MAX_AGE_MS = 60 * 60_000;

export class OutcomeFeed {
  /** Successes per webhook not yet published. */
  private readonly successes = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private published = 0;
  private stopReading: (() => void) | undefined;
  private closed = false;
  private readonly now: () => number;

  /** The last stream sequence read, and the stream's last when this feed was seen behind it. */
  private readSeq = 0;
  private behindAt: number | undefined;
  private checker: NodeJS.Timeout | undefined;

  private constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly opts: OutcomeFeedOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * Creates the stream (or uses it as it is) and starts reading it after
   * its last record: resolves once reading has started, so every record
   * published after that reaches `onRecord`.
   */
  static async open(nc: NatsConnection, opts: OutcomeFeedOptions): Promise<OutcomeFeed> {
    const jsm = await jetstreamManager(nc);
    const { info } = await ensureStream(jsm, {
      name: OUTCOMES_STREAM,
      subjects: [streamSubjects.outcomes],
      max_age: nanos(MAX_AGE_MS),
      num_replicas: opts.replicas,
    });
    const feed = new OutcomeFeed(jetstream(nc), jsm, opts);
    feed.readSeq = info.state.last_seq;
    await feed.read();
    feed.checker = setInterval(() => void feed.check().catch(() => {}), opts.checkEveryMs ?? 2000);
    feed.checker.unref();
    return feed;
  }

  /** An ordered consumer after the last record read: it re-creates itself after a gap, keeping the order. */
  private async read(): Promise<void> {
    const consumer = await this.js.consumers.get(OUTCOMES_STREAM, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.readSeq + 1,
    });
    const messages = await consumer.consume();
    this.stopReading = () => void messages.stop();
    void (async () => {
      for await (const m of messages) {
        if (m.seq <= this.readSeq) continue; // read already (a consumer re-created after a stall)
        this.readSeq = m.seq;
        const webhookId = tokenId(m.subject.slice(m.subject.lastIndexOf('.') + 1));
        const record = decodeOutcome(m.data);
        if (webhookId === undefined || !record) {
          this.opts.onError?.(
            new StoreError(`${OUTCOMES_STREAM} sequence ${m.seq} (${m.subject}) is not an outcome: skipped`),
          );
          continue;
        }
        this.opts.onRecord(webhookId, record);
      }
    })().catch((err: Error) =>
      this.opts.onError?.(
        new StoreError(`reading ${OUTCOMES_STREAM} failed: ${err.message}`, { cause: err }),
      ),
    );
  }

  /** A failed attempt (`probe`: the open period it probed). Published at once, after the webhook's pending successes. */
  failure(webhookId: string, deliveryId: string, probe?: number): void {
    this.publishSuccesses(webhookId);
    this.publish(webhookId, {
      kind: 'failure',
      at: this.now(),
      replica: this.opts.replica,
      deliveryId,
      ...(probe === undefined ? {} : { probe }),
    });
  }

  /** A successful attempt: summed with the webhook's others, except a probe's, published at once. */
  success(webhookId: string, probe?: number): void {
    if (probe !== undefined) {
      this.publishSuccesses(webhookId);
      this.publish(webhookId, {
        kind: 'successes',
        at: this.now(),
        replica: this.opts.replica,
        count: 1,
        probe,
      });
      return;
    }
    this.successes.set(webhookId, (this.successes.get(webhookId) ?? 0) + 1);
    if (!this.timer && !this.closed) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        for (const id of [...this.successes.keys()]) this.publishSuccesses(id);
      }, this.opts.batchMs ?? 250);
      this.timer.unref();
    }
  }

  private publishSuccesses(webhookId: string): void {
    const count = this.successes.get(webhookId);
    if (!count) return;
    this.successes.delete(webhookId);
    this.publish(webhookId, { kind: 'successes', at: this.now(), replica: this.opts.replica, count });
  }

  private publish(webhookId: string, record: OutcomeRecord): void {
    const msgID = `${this.opts.replica}.${++this.published}`;
    const sent = retryUntil(this.opts.publishDeadlineMs ?? 10_000, () =>
      this.js.publish(subjects.outcome(webhookId), JSON.stringify(record), { msgID }),
    ).then(
      () => {},
      (err: Error) =>
        this.opts.onError?.(
          new StoreError(
            `publishing an outcome of ${webhookId} to ${OUTCOMES_STREAM} failed: ${err.message}`,
            {
              cause: err,
            },
          ),
        ),
    );
    this.inflight.add(sent);
    void sent.finally(() => this.inflight.delete(sent));
  }

  /** Publishes the pending successes and waits for every publish so far. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const id of [...this.successes.keys()]) this.publishSuccesses(id);
    while (this.inflight.size) await Promise.all([...this.inflight]);
  }

  /**
   * The ordered consumer's own recovery after the server holding it is lost
   * can stall (seen on a 3-node 2.9 cluster with the stream leader
   * SIGKILLed): when the stream had a record at the previous check that is
   * still not read, the consumer is replaced by one after the last record
   * read, so the breakers keep the stream's order and lose nothing.
   */
  private async check(): Promise<void> {
    const last = (await this.jsm.streams.info(OUTCOMES_STREAM)).state.last_seq;
    const stalled = this.behindAt !== undefined && this.readSeq < this.behindAt;
    this.behindAt = this.readSeq < last ? last : undefined;
    if (!stalled || this.closed) return;
    this.stopReading?.();
    await this.read();
    if (this.closed) this.stopReading?.();
    this.opts.onError?.(
      new StoreError(`reading ${OUTCOMES_STREAM} stalled: resumed after sequence ${this.readSeq}`),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.checker);
    await this.flush();
    this.stopReading?.();
  }
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Reads an `OutcomeRecord`; undefined when the bytes are not one. */
export function decodeOutcome(bytes: Uint8Array): OutcomeRecord | undefined {
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown> | null;
    if (!v || !isNum(v.at) || typeof v.replica !== 'string') return undefined;
    if (v.probe !== undefined && !isNum(v.probe)) return undefined;
    if (v.kind === 'failure' && typeof v.deliveryId === 'string') return v as OutcomeRecord;
    if (v.kind === 'successes' && isNum(v.count) && v.count >= 1) return v as OutcomeRecord;
    return undefined;
  } catch {
    return undefined;
  }
}
