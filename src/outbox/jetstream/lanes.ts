/**
 * This replica's webhook queues (`WebhookQueue`, one per webhook asked
 * about) and what it holds of them: the one pull inbox every webhook's
 * messages and pull statuses arrive on (`<inbox>.<webhook token>`), the
 * buffers, and the deliveries handed to the dispatcher and not settled.
 *
 * Kept alive or handed back on a clock (`tick`): buffered messages not
 * started within `bufferMaxAgeMs` are nak'd, so any replica can take them
 * at once (until one does, a nak'd message still counts against the
 * webhook's `MaxAckPending`: at most its concurrency, never its backlog);
 * deliveries being attempted (or waiting for their result to be written)
 * restart their ack wait every third of it. A message not due for a while
 * goes to the waiting room instead of the buffer, so it does not hold one
 * of the webhook's slots.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { idToken } from './buckets.ts';
import { moveToWaitingRoom } from './moves.ts';
import type { Publisher } from './publisher.ts';
import { TakenMessage } from './taken.ts';
import { PULL_EXPIRES_MS, WebhookQueue } from './webhook-queue.ts';

const DELIVERIES_PREFIX = 'hookd.deliveries.';
/** A pulled message due later than this goes to the waiting room instead of the buffer. */
const HOLD_MS = 1000;

export interface LanesDeps {
  nc: NatsConnection;
  jsm: JetStreamManager;
  pub: Publisher;
  ackWaitMs: number;
  /** A webhook's consumer is deleted by the server after this long without pulls (`inactive_threshold`). */
  consumerInactiveMs?: number;
  bufferMaxAgeMs: number;
  publishDeadlineMs: number;
  /** `MaxAckPending` of a webhook's consumer. */
  concurrency: (webhookId: string) => number;
  /** A webhook has work at `at` (messages arrived, its consumer is ready). */
  work: (webhookId: string, at?: number) => void;
  onError: (err: Error) => void;
}

export class Lanes {
  private readonly byId = new Map<string, WebhookQueue>();
  private readonly byToken = new Map<string, WebhookQueue>();
  /** Handed to the dispatcher and not settled, by delivery id. */
  readonly started = new Map<string, { t: TakenMessage; lane: WebhookQueue }>();
  /** Per webhook: started and not settled. */
  private readonly startedOf = new Map<WebhookQueue, number>();
  private readonly inbox = createInbox();
  private readonly sub: Subscription;
  private closing = false;

  constructor(private readonly deps: LanesDeps) {
    this.sub = deps.nc.subscribe(`${this.inbox}.>`, {
      callback: (err, msg) => {
        if (err) deps.onError(new Error(`the pull inbox failed: ${err.message}`, { cause: err }));
        else this.arrived(msg);
      },
    });
  }

  get(webhookId: string): WebhookQueue | undefined {
    return this.byId.get(webhookId);
  }

  all(): IterableIterator<WebhookQueue> {
    return this.byId.values();
  }

  /** The webhook's queue; the first time, its consumer is set up (then the webhook is said to have work). */
  lane(webhookId: string): WebhookQueue {
    let lane = this.byId.get(webhookId);
    if (lane) return lane;
    const { nc, jsm, ackWaitMs, onError } = this.deps;
    const inactiveMs = this.deps.consumerInactiveMs;
    const created = new WebhookQueue({
      nc,
      jsm,
      webhookId,
      inbox: this.inbox,
      ackWaitMs,
      inactiveMs,
      onError,
    });
    lane = created;
    this.byId.set(webhookId, created);
    this.byToken.set(idToken(webhookId), created);
    void created.limit(this.deps.concurrency(webhookId)).then(() => {
      if (created.isReady) this.deps.work(webhookId);
    });
    return lane;
  }

  /** Keeps the webhook's consumer at `max`; one found gone (or maybe gone) is set up again, then the webhook has work. */
  limit(lane: WebhookQueue, max: number, now: number): void {
    lane.checkIdle(now);
    const ready = lane.isReady;
    const limited = lane.limit(max);
    if (!ready) void limited.then(() => lane.isReady && this.deps.work(lane.webhookId));
  }

  /** What this replica holds of a webhook: buffered, and started but not settled. */
  held(lane: WebhookQueue): number {
    return lane.buffer.length + (this.startedOf.get(lane) ?? 0);
  }

  /** A buffered message handed to the dispatcher as `id`. */
  start(id: string, t: TakenMessage, lane: WebhookQueue, now: number): void {
    t.started = true;
    t.touchedAt = now;
    this.started.set(id, { t, lane });
    this.startedOf.set(lane, (this.startedOf.get(lane) ?? 0) + 1);
  }

  /** A started delivery's next home has it: it is no longer held (its ack follows). */
  settled(id: string, t: TakenMessage): void {
    const held = this.started.get(id);
    if (held?.t !== t) return;
    this.started.delete(id);
    this.startedOf.set(held.lane, (this.startedOf.get(held.lane) ?? 1) - 1);
  }

  /** A message or status on the pull inbox. */
  private arrived(msg: Msg): void {
    if (msg.subject.startsWith(this.inbox)) {
      const lane = this.byToken.get(msg.subject.slice(this.inbox.length + 1));
      const h = msg.headers;
      lane?.status(h?.code ?? 0, h?.description ?? '', Number(h?.get('Nats-Pending-Messages') || 0));
      return;
    }
    const now = Date.now();
    let t: TakenMessage;
    try {
      t = new TakenMessage(msg, now);
    } catch (err) {
      this.deps.onError(err as Error);
      return;
    }
    const lane = this.byToken.get(msg.subject.slice(DELIVERIES_PREFIX.length));
    if (!lane || this.closing) {
      lane?.arrived(undefined);
      t.nak();
      return;
    }
    if (t.notBefore > now + HOLD_MS) {
      lane.arrived(undefined);
      void this.toWaitingRoom(t);
      return;
    }
    lane.arrived(t);
    this.deps.work(lane.webhookId, t.notBefore);
  }

  private async toWaitingRoom(t: TakenMessage): Promise<void> {
    try {
      await moveToWaitingRoom(this.deps.pub, t, this.deps.publishDeadlineMs);
      t.ack();
    } catch (err) {
      t.nak(1000);
      this.deps.onError(err as Error);
    }
  }

  /** Hands back stale buffered messages; restarts the ack wait of deliveries still being attempted. */
  tick(now: number): void {
    for (const lane of this.byId.values())
      for (const t of lane.stale(now - this.deps.bufferMaxAgeMs)) t.nak();
    const every = this.deps.ackWaitMs / 3;
    for (const { t } of this.started.values()) if (now - t.touchedAt >= every) t.working(now);
  }

  /**
   * Hands back everything held (buffered, or started and not settled) so
   * another replica takes it at once, and stops pulling; what is still on
   * its way to this replica is handed back as it arrives.
   */
  async close(): Promise<void> {
    this.closing = true;
    for (const lane of this.byId.values()) {
      for (const t of lane.buffer) t.nak();
      lane.buffer.length = 0;
    }
    for (const { t } of this.started.values()) t.nak();
    this.started.clear();
    this.startedOf.clear();
    const { nc } = this.deps;
    if (nc.isClosed()) return;
    await nc.flush().catch(() => undefined);
    // A pull request still waiting on the server would get messages nobody here answers (they would
    // wait out the ack wait): the inbox stays, handing back what comes, until the requests expire.
    const giveUpAt = Date.now() + PULL_EXPIRES_MS + 200;
    const waiting = () => [...this.byId.values()].some((lane) => lane.pullsUntil(Date.now()) > 0);
    while (waiting() && Date.now() < giveUpAt && !nc.isClosed()) await new Promise((r) => setTimeout(r, 50));
    this.sub.unsubscribe();
    await nc.flush().catch(() => undefined);
  }
}
