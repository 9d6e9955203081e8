/**
 * The `jetstream` backend's queue as the dispatcher sees it (issue 15, JETSTREAM.md): the
 * `DueWork` the scheduler reads (`dueByWebhook`, `due`, `nextDueOf`: synchronous, from what this
 * replica knows), where attempt results go (`complete`, `claimed`, `released`), intake's `insert`.
 *
 * - Each webhook's deliveries come through its own durable consumer
 *   (`MaxAckPending` = its concurrency, cluster-wide), pulled only when the
 *   scheduler asks for that webhook, at most its free slots (lanes.ts).
 * - `complete` moves each attempted delivery on (moves.ts: end record or
 *   waiting room), then acknowledges it, after the publish is confirmed: a
 *   replica dying in between leaves it queued, attempted again with the same
 *   delivery id (at least once); its records are duplicates the streams drop.
 * - `dueByWebhook` is the stream's backlog per webhook (a stream info with
 *   `subjects_filter` every `refreshMs`) plus this replica's buffers. `onWork`
 *   tells the owner a webhook has work: pulled messages arrived, a retry came
 *   back from the waiting room, a `hookd.activity.<webhook>` ping from any
 *   replica's intake, or a backlog nobody here pulls.
 * - `close` hands back everything taken and not settled, to any replica at once.
 */
import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { AttemptResult, DueRow, NewDelivery, Rejection, Retention } from '../contract.ts';
import { StoreError } from '../errors.ts';
import { tokenId } from './buckets.ts';
import { DeliveryQueue } from './delivery-queue.ts';
import { Lanes } from './lanes.ts';
import { moveAfterAttempt } from './moves.ts';
import { Publisher } from './publisher.ts';
import { DELIVERIES_STREAM, subjects } from './records.ts';
import { backlogByWebhook, ensureStreams } from './streams.ts';
import { WaitingRoom } from './waiting-room.ts';

const TICK_MS = 250;

export interface DispatchQueueOptions {
  /** Replicas of the streams created here (`store.jetstream.replicas`). */
  replicas: number;
  /** `store.retention` (ms): the max ages of `HOOKD_SUCCEEDED`, `HOOKD_DEAD_LETTERS`, `HOOKD_REJECTED`. */
  retention: Retention;
  /** A webhook's concurrency: its consumer's `MaxAckPending` (read on every ask; a change updates the consumer). */
  concurrency: (webhookId: string) => number;
  /** Above the attempt timeout: a delivery taken by a replica that stopped answering goes to another after this. */
  ackWaitMs: number;
  /** A webhook's consumer unused this long is deleted by the server (default 1 h; created again when needed). */
  consumerInactiveMs?: number;
  /** A webhook has work now or at `at` (the owner calls `dispatcher.notify`). */
  onWork?: (webhookId: string, at: number) => void;
  /** Failures in the background (consumer setup, waiting room, stream info). */
  onError?: (err: Error) => void;
  /** A buffered message not started within this is handed back (default 3 s). */
  bufferMaxAgeMs?: number;
  /** How often the backlog per webhook is read from the stream (default 1 s). */
  refreshMs?: number;
  /** How long a publish is retried (same msg-id) before it fails (default 30 s). */
  publishDeadlineMs?: number;
}

export class JetStreamDispatchQueue {
  /** Results written at once (a delivery holds its webhook's cluster-wide slot until then); no delivery from memory. */
  readonly resultDelayMs = 0;
  readonly ownQueue = true;
  private readonly lanes: Lanes;
  /** Messages in the stream per webhook, as last read. */
  private backlog = new Map<string, number>();
  private readonly wanted = new Map<string, number>();
  private workScheduled = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private activity: Subscription | undefined;
  private room: WaitingRoom | undefined;
  private refreshing = false;
  private closing = false;
  private readonly pub: Publisher;
  private readonly intake: DeliveryQueue;
  private readonly onError: (err: Error) => void;
  private readonly publishDeadlineMs: number;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly opts: DispatchQueueOptions,
  ) {
    this.pub = new Publisher(nc);
    this.publishDeadlineMs = opts.publishDeadlineMs ?? 30_000;
    this.intake = DeliveryQueue.over(this.pub, this.publishDeadlineMs);
    this.onError = opts.onError ?? (() => {});
    this.lanes = new Lanes({
      nc,
      jsm,
      pub: this.pub,
      ackWaitMs: opts.ackWaitMs,
      consumerInactiveMs: opts.consumerInactiveMs,
      bufferMaxAgeMs: opts.bufferMaxAgeMs ?? 3000,
      publishDeadlineMs: this.publishDeadlineMs,
      concurrency: opts.concurrency,
      work: (webhookId, at) => this.work(webhookId, at),
      onError: this.onError,
    });
  }

  /** Creates the streams (or brings their retention in line), starts the waiting room and reads the backlog. */
  static async open(nc: NatsConnection, opts: DispatchQueueOptions): Promise<JetStreamDispatchQueue> {
    const jsm = await jetstreamManager(nc);
    await ensureStreams(nc, { replicas: opts.replicas, retention: opts.retention });
    const q = new JetStreamDispatchQueue(nc, jsm, opts);
    try {
      await q.start();
    } catch (err) {
      await q.close();
      throw err;
    }
    return q;
  }

  private async start(): Promise<void> {
    this.activity = this.nc.subscribe('hookd.activity.*', {
      callback: (err, msg) => {
        const webhookId = err
          ? undefined
          : msg.string() || tokenId(msg.subject.slice('hookd.activity.'.length));
        if (webhookId) this.work(webhookId);
      },
    });
    this.room = await WaitingRoom.open(this.nc, {
      onDue: (webhookId) => this.work(webhookId),
      onError: this.onError,
      publisher: this.pub,
      publishDeadlineMs: this.publishDeadlineMs,
    });
    await this.refresh();
    this.timers.push(
      setInterval(() => this.lanes.tick(Date.now()), TICK_MS).unref(),
      setInterval(() => void this.refresh(), this.opts.refreshMs ?? 1000).unref(),
    );
  }

  /**
   * Stores one intake batch (`DeliveryStore.insert`): resolves once every
   * delivery, dead letter and rejected event is confirmed, to how many
   * deliveries were new; then pings `hookd.activity.<webhook>` so that idle
   * replicas fetch at once.
   */
  async insert(deliveries: readonly NewDelivery[], rejections: readonly Rejection[] = []): Promise<number> {
    const added = await this.intake.insert(deliveries, rejections);
    const pinged = new Set<string>();
    for (const d of deliveries) {
      if (d.renderError !== undefined || pinged.has(d.webhookId)) continue;
      pinged.add(d.webhookId);
      this.nc.publish(subjects.activity(d.webhookId), d.webhookId);
    }
    return added;
  }

  /** Webhooks with a backlog in the stream (due now) or buffered here (their earliest time). */
  dueByWebhook(): { webhookId: string; at: number }[] {
    const now = Date.now();
    const due = new Map<string, number>();
    for (const [webhookId, n] of this.backlog) if (n > 0) due.set(webhookId, now);
    for (const lane of this.lanes.all()) {
      const next = lane.nextDue([]);
      const cur = due.get(lane.webhookId);
      if (next !== undefined && (cur === undefined || next < cur)) due.set(lane.webhookId, next);
    }
    return [...due].map(([webhookId, at]) => ({ webhookId, at }));
  }

  /** Up to `limit` buffered deliveries due by `upTo`, taken; the rest is pulled (it comes with `onWork`). */
  due(webhookId: string, upTo: number, limit: number, skip: readonly string[]): DueRow[] {
    if (this.closing) return [];
    const now = Date.now();
    const lane = this.lanes.lane(webhookId);
    const max = Math.max(1, Math.floor(this.opts.concurrency(webhookId)));
    this.lanes.limit(lane, max, now);
    const rows: DueRow[] = [];
    for (const t of lane.take(limit, upTo, skip)) {
      let row: DueRow;
      try {
        row = t.row();
      } catch (err) {
        // Not a delivery (something else published on hookd's subject): said once, then dropped.
        this.onError(err as Error);
        t.ack();
        continue;
      }
      this.lanes.start(row.id, t, lane, now);
      rows.push(row);
    }
    if (rows.length < limit) lane.want(limit - rows.length, max - this.lanes.held(lane), now);
    return rows;
  }

  /**
   * The earliest buffered delivery's time; now when the stream holds a
   * backlog this replica is not pulling (the next `due` asks for it);
   * undefined otherwise (a pull on its way brings `onWork`).
   */
  nextDueOf(webhookId: string, skip: readonly string[]): number | undefined {
    const lane = this.lanes.get(webhookId);
    const next = lane?.nextDue(skip);
    if (next !== undefined) return next;
    const now = Date.now();
    if ((this.backlog.get(webhookId) ?? 0) > 0 && !lane?.pulling(now)) return now;
    return undefined;
  }

  /**
   * Moves each attempted delivery on (see the file's header), then
   * acknowledges it. Results of deliveries no longer held here (a batch
   * written again after a failure) are skipped. Rejects when a move could
   * not be published: those deliveries stay held and the batch may be
   * written again.
   */
  async complete(results: readonly AttemptResult[], now: number): Promise<void> {
    const moves: Promise<void>[] = [];
    for (const r of results) {
      const held = this.lanes.started.get(r.deliveryId);
      if (!held) continue;
      const { t, lane } = held;
      moves.push(
        moveAfterAttempt(this.pub, t, r, now, this.publishDeadlineMs).then(() => {
          this.lanes.settled(r.deliveryId, t);
          // Its next home has it: it leaves the queue (an ack lost on the way means one more attempt, same id).
          t.ack();
          // Its slot is free (cluster-wide too, once the ack is in): the scheduler may ask for the next.
          this.work(lane.webhookId);
        }),
      );
    }
    const done = await Promise.allSettled(moves);
    const failed = done.flatMap((d) => (d.status === 'rejected' ? [d.reason as Error] : []));
    if (failed.length > 0)
      throw new StoreError(
        `${failed.length} of ${moves.length} attempt results could not be recorded: ${failed[0]!.message}`,
        { cause: failed[0] },
      );
  }

  /** Counted here (`inFlight`). */
  claimed(_n: number): void {}

  /** An attempt cut short by shutdown: its message stays held until `close` hands it back. */
  released(_n: number): void {}

  /** Deliveries this replica holds: handed to the dispatcher and not settled. */
  get inFlight(): number {
    return this.lanes.started.size;
  }

  /** Tells the owner (once per turn of the event loop per webhook) that a webhook has work at `at`. */
  private work(webhookId: string, at = Date.now()): void {
    if (this.closing) return;
    const cur = this.wanted.get(webhookId);
    if (cur === undefined || at < cur) this.wanted.set(webhookId, at);
    if (this.workScheduled) return;
    this.workScheduled = true;
    setImmediate(() => {
      this.workScheduled = false;
      const wanted = [...this.wanted];
      this.wanted.clear();
      if (this.closing) return;
      for (const [id, when] of wanted) this.opts.onWork?.(id, when);
    });
  }

  /** Reads the backlog per webhook; webhooks with a backlog nobody here pulls get `onWork`. */
  private async refresh(): Promise<void> {
    if (this.refreshing || this.closing) return;
    this.refreshing = true;
    try {
      const backlog = await backlogByWebhook(this.jsm);
      this.backlog = backlog;
      const now = Date.now();
      for (const webhookId of backlog.keys()) {
        const lane = this.lanes.get(webhookId);
        if (!lane || (!lane.pulling(now) && lane.buffer.length === 0)) this.work(webhookId);
      }
    } catch (err) {
      this.onError(
        new Error(`could not read the backlog of ${DELIVERIES_STREAM}: ${(err as Error).message}`),
      );
    } finally {
      this.refreshing = false;
    }
  }

  /**
   * Stops taking work and hands back every delivery taken and not settled
   * (buffered, or attempted without a written result), so another replica
   * takes it at once. Call after the dispatcher stopped. The connection
   * stays open (it is the owner's).
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    await this.room?.close();
    this.activity?.unsubscribe();
    await this.lanes.close();
    this.pub.close();
  }
}
