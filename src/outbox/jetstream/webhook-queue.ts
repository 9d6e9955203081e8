/**
 * Dispatch's side of the delivery work queue, for one webhook (issue 15):
 * a durable pull consumer on the webhook's own subject
 * (`hookd.deliveries.<webhook>`), shared by every replica, so that
 * - a hot webhook's backlog does not delay a quiet one (each webhook has its
 *   own consumer; the research measured p50 77 ms against 2.9 s with one
 *   shared consumer),
 * - the webhook's concurrency holds cluster-wide: `MaxAckPending` counts
 *   every replica's unacknowledged deliveries of the webhook, and follows
 *   the configured concurrency (the consumer is updated when it changes),
 * - a replica killed for good loses nothing: what it took and did not
 *   acknowledge goes to another replica after the ack wait, with the same
 *   delivery id (the receiver's `webhook-id`). The ack wait is above the
 *   attempt timeout; a longer attempt restarts it (`working`).
 *
 * Messages are pulled only on demand, when the dispatcher asks for the
 * webhook's due work, and at most as many as it has free slots: a webhook
 * nobody asks for (breaker open, Stopped) keeps its backlog stored in the
 * stream, not handed out and pinned. What arrives waits in a small buffer;
 * a message not started within a few seconds is handed back (`stale`).
 * Pull requests wait on the server for up to `PULL_EXPIRES_MS`, so new
 * messages, and slots freed by any replica, reach a waiting request at once.
 * `MaxDeliver` is never set (it hides a message in a work queue), nor
 * consumer `BackOff` (it redefines the ack wait).
 *
 * A consumer nobody pulls from for `inactiveMs` (default 1 h: a webhook
 * deleted, or idle or held that long) is deleted by the server
 * (`inactive_threshold`), so consumers of removed webhooks do not pile up.
 * Nothing is lost with it: a work-queue stream keeps every message not
 * acknowledged, and the consumer is created again when the webhook is
 * next asked for (a pull that gets no answer at all, not even its expiry
 * status, means the consumer is gone).
 */
import { AckPolicy, type JetStreamManager } from '@nats-io/jetstream';
import { type NatsConnection, nanos } from '@nats-io/transport-node';
import { idToken } from './buckets.ts';
import { DELIVERIES_STREAM, subjects } from './records.ts';
import type { TakenMessage } from './taken.ts';

/** How long a pull request waits on the server for messages (the client refuses less than 1 s). */
export const PULL_EXPIRES_MS = 2000;

export const consumerName = (webhookId: string) => `hookd-${idToken(webhookId)}`;

/** How long a webhook's consumer may go without pulls before the server deletes it. */
export const CONSUMER_INACTIVE_MS = 3_600_000;

export interface WebhookQueueDeps {
  nc: NatsConnection;
  jsm: JetStreamManager;
  webhookId: string;
  /** Where the server sends this replica's pulled messages and pull statuses (`<inbox>.<webhook token>`). */
  inbox: string;
  /** Above the attempt timeout: a taken delivery not settled by then goes to another replica. */
  ackWaitMs: number;
  /** The consumer's `inactive_threshold` (default `CONSUMER_INACTIVE_MS`). */
  inactiveMs?: number;
  onError: (err: Error) => void;
}

export class WebhookQueue {
  /** Arrived and not yet handed to the dispatcher, oldest first. */
  readonly buffer: TakenMessage[] = [];
  /** Messages asked for by pull requests still waiting on the server. */
  private outstanding = 0;
  /** When the last pull request sent expires on the server. */
  private outstandingUntil = 0;
  /** `MaxAckPending` as last set on the consumer, and as wanted now. */
  private applied = 0;
  private wanted = 0;
  private updating: Promise<void> | undefined;
  private ready = false;
  /** When this replica last set up the consumer or sent it a pull request (0: never). */
  private lastPullAt = 0;
  private readonly pullSubject: string;
  private readonly replyTo: string;

  constructor(private readonly deps: WebhookQueueDeps) {
    this.pullSubject = `$JS.API.CONSUMER.MSG.NEXT.${DELIVERIES_STREAM}.${consumerName(deps.webhookId)}`;
    this.replyTo = `${deps.inbox}.${idToken(deps.webhookId)}`;
  }

  get webhookId(): string {
    return this.deps.webhookId;
  }

  /** Whether the consumer exists with its limit (pulls wait until then). */
  get isReady(): boolean {
    return this.ready;
  }

  /**
   * Whether a pull request of this replica may still be waiting on the
   * server (one whose server died never answers: it counts until its
   * expiry has passed).
   */
  pulling(now: number): boolean {
    if (this.outstanding > 0 && now > this.outstandingUntil + 1000) {
      // Not even the expiry status came: the consumer is gone (deleted for inactivity) or its server
      // is; it is looked up (and created again if missing) before the next pull.
      this.outstanding = 0;
      this.lost();
    }
    return this.outstanding > 0;
  }

  /**
   * Idle here for half the consumer's inactive threshold: the server may
   * have deleted it since, so it is looked up (created again if missing)
   * before the next pull, rather than a pull going unanswered.
   */
  checkIdle(now: number): void {
    const half = (this.deps.inactiveMs ?? CONSUMER_INACTIVE_MS) / 2;
    if (this.ready && this.lastPullAt > 0 && now - this.lastPullAt > half) this.lost();
  }

  private lost(): void {
    this.ready = false;
    this.applied = 0;
  }

  /** When this replica's last pull request expires on the server (0: none waiting). */
  pullsUntil(now: number): number {
    return this.pulling(now) ? this.outstandingUntil : 0;
  }

  /**
   * Sets the webhook's cluster-wide limit (`MaxAckPending`): creates the
   * consumer the first time, updates it when the limit changed. Resolves
   * once the consumer has it; never rejects (failures go to `onError` and
   * are tried again at the next call).
   */
  limit(maxAckPending: number): Promise<void> {
    this.wanted = Math.max(1, Math.floor(maxAckPending));
    if (this.wanted === this.applied) return Promise.resolve();
    this.updating ??= this.apply().finally(() => {
      this.updating = undefined;
    });
    return this.updating;
  }

  private async apply(): Promise<void> {
    const { jsm, webhookId, ackWaitMs, inactiveMs } = this.deps;
    const name = consumerName(webhookId);
    while (this.applied !== this.wanted) {
      const want = this.wanted;
      const limits = {
        ack_wait: nanos(ackWaitMs),
        max_ack_pending: want,
        inactive_threshold: nanos(inactiveMs ?? CONSUMER_INACTIVE_MS),
      };
      try {
        const existing = await jsm.consumers.info(DELIVERIES_STREAM, name).catch((err: Error) => {
          if (/not found/i.test(err.message)) return undefined;
          throw err;
        });
        if (existing) await jsm.consumers.update(DELIVERIES_STREAM, name, limits);
        else
          await jsm.consumers.add(DELIVERIES_STREAM, {
            durable_name: name,
            filter_subject: subjects.delivery(webhookId),
            ack_policy: AckPolicy.Explicit,
            ...limits,
          });
        this.applied = want;
        this.ready = true;
        this.lastPullAt = Date.now();
      } catch (err) {
        this.deps.onError(
          new Error(
            `could not set up the consumer ${name} of ${DELIVERIES_STREAM}: ${(err as Error).message}`,
            {
              cause: err,
            },
          ),
        );
        return;
      }
    }
  }

  /**
   * The dispatcher could start `n` more attempts of this webhook now: asks
   * the server for what is not already asked for, at most `room` (the
   * webhook's limit less what this replica holds).
   */
  want(n: number, room: number, now: number): void {
    if (!this.ready) return;
    this.pulling(now);
    const ask = Math.min(n, room) - this.outstanding;
    if (ask <= 0) return;
    this.outstanding += ask;
    this.outstandingUntil = now + PULL_EXPIRES_MS;
    this.lastPullAt = now;
    this.deps.nc.publish(this.pullSubject, JSON.stringify({ batch: ask, expires: nanos(PULL_EXPIRES_MS) }), {
      reply: this.replyTo,
    });
  }

  /** A pulled message arrived: buffered, or (`t` undefined) moved elsewhere by the caller. */
  arrived(t: TakenMessage | undefined): void {
    if (this.outstanding > 0) this.outstanding--;
    if (t) this.buffer.push(t);
  }

  /** A pull status arrived: a request expired with `left` messages not sent, or the server refused it. */
  status(code: number, description: string, left: number): void {
    if (code === 100) return; // heartbeat (not asked for)
    if (code === 408 || code === 404) this.outstanding = Math.max(0, this.outstanding - left);
    else {
      // 409: consumer deleted, leadership change, too many waiting requests: ask again when next needed.
      this.outstanding = 0;
      if (/deleted|not found/i.test(description)) this.lost();
    }
  }

  /** Up to `max` buffered messages due at or before `upTo`, oldest first, taken out of the buffer. */
  take(max: number, upTo: number, skip: readonly string[]): TakenMessage[] {
    const out: TakenMessage[] = [];
    if (max <= 0 || this.buffer.length === 0) return out;
    const skipped = skip.length > 0 ? new Set(skip) : undefined;
    let keep = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const t = this.buffer[i]!;
      if (out.length < max && t.notBefore <= upTo && !skipped?.has(t.delivery.id)) out.push(t);
      else this.buffer[keep++] = t;
    }
    this.buffer.length = keep;
    return out;
  }

  /** When the earliest buffered message is due (undefined: none buffered). */
  nextDue(skip: readonly string[]): number | undefined {
    let next: number | undefined;
    for (const t of this.buffer)
      if ((next === undefined || t.notBefore < next) && !skip.includes(t.delivery.id)) next = t.notBefore;
    return next;
  }

  /** Buffered messages that arrived before `before`, taken out of the buffer (to be handed back). */
  stale(before: number): TakenMessage[] {
    if (this.buffer.length === 0 || this.buffer[0]!.arrivedAt >= before) return [];
    const old = this.buffer.filter((t) => t.arrivedAt < before);
    const rest = this.buffer.filter((t) => t.arrivedAt >= before);
    this.buffer.length = 0;
    this.buffer.push(...rest);
    return old;
  }
}
