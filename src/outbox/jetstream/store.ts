/**
 * `store.backend: jetstream` (DESIGN.md section 8): the `Store` every
 * replica opens on the same NATS. Nothing here is a replica's own: the
 * dispatch side (intake's publishes, the work the dispatcher takes, attempt
 * results) is the `JetStreamDispatchQueue` handed in, the shared state
 * (API webhooks, webhook states) the KV views of `openSharedState`, and
 * every read is answered from the streams (delivery-reads.ts), so every
 * replica answers the same.
 *
 * - `retryFailed` republishes each dead letter to its webhook's queue with a
 *   fresh budget (attempt 0, its history kept) under `Nats-Msg-Id`
 *   `<id>.r<dead letter sequence>`, then deletes the dead letter: two
 *   replicas (or `hookd retry` and the API) requeueing the same one store it
 *   once, and only the publish that was not a duplicate counts.
 * - `depth()` and `bytes()` are read synchronously from stream info that a
 *   timer refreshes (every `refreshMs`, and on `recount`).
 * - `prune()` deletes nothing: retention is the streams' max age, applied at
 *   open (streams.ts) and enforced by the server; it answers zeros.
 */
import { type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import type {
  AttemptLog,
  AttemptResult,
  DeliveryPage,
  DeliveryRow,
  DeliveryState,
  DeliveryStore,
  DueRow,
  NewDelivery,
  Pruned,
  RejectedEvent,
  RejectedEvents,
  Rejection,
  RequeueFilter,
  Retention,
  SpecSeal,
  Store,
} from '../contract.ts';
import { StoreError } from '../errors.ts';
import { SubjectReader } from './browse.ts';
import { idToken } from './buckets.ts';
import { DeliveryReads, isDeliveryId } from './delivery-reads.ts';
import { openSharedState, type SharedState } from './index.ts';
import {
  ATTEMPT_HEADER,
  DEAD_LETTERS_STREAM,
  DELIVERIES_STREAM,
  type FinishedRecord,
  msgIds,
  NOT_BEFORE_HEADER,
  type QueuedMessage,
  REJECTED_STREAM,
  RETRIES_STREAM,
  type RejectedRecord,
  SUCCEEDED_STREAM,
  subjects,
} from './records.ts';
import { retryUntil } from './retry.ts';
import { ensureStreams } from './streams.ts';

/** The dispatcher's side of the store: `JetStreamDispatchQueue` (dispatch-queue.ts). */
export type DispatchSide = Pick<
  DeliveryStore,
  'insert' | 'complete' | 'due' | 'nextDueOf' | 'dueByWebhook' | 'claimed' | 'released'
> & { close(): Promise<void> };

export interface JetStreamStoreOptions {
  /** `store.jetstream.replicas`: of the streams and buckets hookd creates. */
  replicas: number;
  /** `store.retention`: the finished records' streams get these max ages. */
  retention: Retention;
  seal?: SpecSeal;
  /**
   * Opens the dispatch side on the store's connection. Absent: the store is
   * opened for reads and requeues only (`hookd retry`, `hookd explain`), and
   * intake or dispatch calls fail with a `StoreError` saying so.
   */
  dispatch?: (nc: NatsConnection) => Promise<DispatchSide>;
  /** Failed background work (KV writes, refreshes). */
  onError?: (err: Error) => void;
  /** How often depth and bytes are read from the streams (default 5 s). */
  refreshMs?: number;
}

/** Every stream hookd keeps: its own, and the KV buckets' (`KV_HOOKD_…`). */
const isHookdStream = (name: string) => name.startsWith('HOOKD_') || name.startsWith('KV_HOOKD_');

const readOnly = (what: string) =>
  new StoreError(`${what}: this jetstream store was opened for reads and requeues only (no dispatch queue)`);

class JetStreamDeliveries implements DeliveryStore {
  inflight = 0;
  counts = { pending: 0, succeeded: 0, failed: 0 };

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    readonly reads: DeliveryReads,
    private readonly dispatch: DispatchSide | undefined,
    private readonly refresh: () => void,
  ) {}

  private side(what: string): DispatchSide {
    if (!this.dispatch) throw readOnly(what);
    return this.dispatch;
  }

  async insert(deliveries: readonly NewDelivery[], rejections?: readonly Rejection[]): Promise<number> {
    return this.side('insert').insert(deliveries, rejections);
  }
  async complete(results: readonly AttemptResult[], now: number): Promise<void> {
    await this.side('complete').complete(results, now);
    this.inflight = Math.max(0, this.inflight - results.length);
  }
  due(webhookId: string, now: number, limit: number, exclude: readonly string[]): DueRow[] {
    return this.dispatch?.due(webhookId, now, limit, exclude) ?? [];
  }
  nextDueOf(webhookId: string, exclude: readonly string[]): number | undefined {
    return this.dispatch?.nextDueOf(webhookId, exclude);
  }
  dueByWebhook(): { webhookId: string; at: number }[] {
    return this.dispatch?.dueByWebhook() ?? [];
  }
  claimed(n: number): void {
    this.inflight += n;
    this.side('claimed').claimed(n);
  }
  released(n: number): void {
    this.inflight = Math.max(0, this.inflight - n);
    this.side('released').released(n);
  }

  depth(): Record<DeliveryState, number> {
    const { pending, succeeded, failed } = this.counts;
    return {
      pending: Math.max(0, pending - this.inflight),
      inflight: this.inflight,
      succeeded: Math.max(0, succeeded),
      failed: Math.max(0, failed),
    };
  }

  recount(): void {
    this.refresh();
  }

  async get(id: string): Promise<DeliveryRow | undefined> {
    return (await this.reads.get(id))?.row;
  }

  byWebhook(
    webhookId: string,
    opts: { state?: DeliveryState; limit: number; before?: string },
  ): Promise<DeliveryPage> {
    return this.reads.byWebhook(webhookId, opts);
  }

  async retryFailed(filter: RequeueFilter, now: number): Promise<number> {
    const js = jetstream(this.nc);
    const dead = await this.deadLetters(filter);
    let requeued = 0;
    const woken = new Set<string>();
    for (const { seq, record } of dead) {
      const { state: _s, finishedAt: _f, lastError: _l, ...queued } = record;
      const message: QueuedMessage = queued;
      const h = headers();
      h.set(ATTEMPT_HEADER, '0');
      h.set(NOT_BEFORE_HEADER, String(filter.dueAt ?? now));
      const ack = await retryUntil(30_000, () =>
        js.publish(subjects.delivery(record.webhookId), JSON.stringify(message), {
          msgID: msgIds.requeue(record.id, seq),
          headers: h,
          timeout: 5000,
        }),
      ).catch((err: Error) => {
        throw new StoreError(`requeueing dead letter ${record.id} failed: ${err.message}`, { cause: err });
      });
      // Gone already when another replica requeued it first: the publish was its duplicate.
      await this.jsm.streams.deleteMessage(DEAD_LETTERS_STREAM, seq, false).catch(() => false);
      this.reads.noteWebhook(record.id, record.webhookId);
      if (!ack.duplicate) requeued++;
      woken.add(record.webhookId);
    }
    // Idle replicas fetch at once (core NATS: best effort; their rescan finds it anyway).
    for (const w of woken) this.nc.publish(subjects.activity(w));
    if (dead.length) this.refresh();
    return requeued;
  }

  /** The dead letters a filter names, oldest first. */
  private async deadLetters(filter: RequeueFilter): Promise<{ seq: number; record: FinishedRecord }[]> {
    const out: { seq: number; record: FinishedRecord }[] = [];
    const keep = (seq: number, record: FinishedRecord) => {
      if (filter.since !== undefined && record.finishedAt < filter.since) return;
      if (
        filter.webhookId !== undefined &&
        record.webhookId !== filter.webhookId &&
        record.identifier !== filter.webhookId
      )
        return;
      out.push({ seq, record });
    };
    const read = (subject: string) =>
      new SubjectReader(this.jsm, DEAD_LETTERS_STREAM, subject).forEach(1, (m) => {
        const record = parse(m.data);
        if (record) keep(m.seq, record);
        return true;
      });
    if (filter.ids !== undefined) {
      for (const id of filter.ids) {
        if (!isDeliveryId(id)) continue;
        const m = await new SubjectReader(this.jsm, DEAD_LETTERS_STREAM, `hookd.dead.*.${id}`).last();
        const record = m && parse(m.data);
        if (m && record) keep(m.seq, record);
      }
      return out;
    }
    // By the webhook's id (its subject); an identifier names no subject, so every dead letter is read.
    if (filter.webhookId !== undefined) await read(`hookd.dead.${idToken(filter.webhookId)}.*`);
    if (filter.webhookId === undefined || out.length === 0) await read('hookd.dead.>');
    return out;
  }
}

function parse(data: Uint8Array): FinishedRecord | undefined {
  try {
    const r = JSON.parse(new TextDecoder().decode(data)) as FinishedRecord;
    return typeof r?.id === 'string' && typeof r.webhookId === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

export class JetStreamStore implements Store {
  readonly deliveries: JetStreamDeliveries;
  readonly attempts: AttemptLog;
  readonly rejected: RejectedEvents;
  private storeBytes = 0;
  private reachable = false;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private closed = false;

  private constructor(
    readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly shared: SharedState,
    private readonly dispatch: DispatchSide | undefined,
    reads: DeliveryReads,
    private readonly opts: JetStreamStoreOptions,
  ) {
    this.deliveries = new JetStreamDeliveries(nc, jsm, reads, dispatch, () => void this.refresh());
    this.attempts = { of: (id) => reads.attemptsOf(id) };
    this.rejected = { list: (limit = 100) => this.listRejected(limit) };
  }

  get webhooks() {
    return this.shared.webhooks;
  }
  get webhookStates() {
    return this.shared.webhookStates;
  }

  /** Creates or updates the streams, opens the shared state and the dispatch side; resolves once all are current. */
  static async open(nc: NatsConnection, opts: JetStreamStoreOptions): Promise<JetStreamStore> {
    await ensureStreams(nc, { replicas: opts.replicas, retention: opts.retention });
    const shared = await openSharedState(nc, {
      replicas: opts.replicas,
      seal: opts.seal,
      onError: opts.onError,
    });
    let dispatch: DispatchSide | undefined;
    try {
      dispatch = await opts.dispatch?.(nc);
    } catch (err) {
      await shared.close();
      throw err;
    }
    const store = new JetStreamStore(
      nc,
      await jetstreamManager(nc),
      shared,
      dispatch,
      await DeliveryReads.open(nc),
      opts,
    );
    await store.refresh();
    store.timer = setInterval(() => void store.refresh(), opts.refreshMs ?? 5000);
    store.timer.unref();
    return store;
  }

  /** Reads the queue depth and the bytes of hookd's streams (one refresh at a time). */
  refresh(): Promise<void> {
    this.refreshing ??= this.readStreams().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async readStreams(): Promise<void> {
    try {
      const msgs = async (name: string) => (await this.jsm.streams.info(name)).state.messages;
      const [d, r, s, f] = await Promise.all(
        [DELIVERIES_STREAM, RETRIES_STREAM, SUCCEEDED_STREAM, DEAD_LETTERS_STREAM].map(msgs),
      );
      this.deliveries.counts = { pending: d! + r!, succeeded: s!, failed: f! };
      let bytes = 0;
      for await (const si of this.jsm.streams.list())
        if (isHookdStream(si.config.name)) bytes += si.state.bytes;
      this.storeBytes = bytes;
      this.reachable = true;
    } catch (err) {
      this.reachable = false;
      if (!this.closed)
        this.opts.onError?.(
          new StoreError(`reading hookd's streams failed: ${(err as Error).message}`, { cause: err }),
        );
    }
  }

  probe(): boolean {
    return !this.nc.isClosed() && this.reachable;
  }

  bytes(): number {
    return this.storeBytes;
  }

  /** Nothing to do on a replica: the server deletes records past their stream's max age (`store.retention`). */
  async prune(_retention: Retention, _now: number, _budget: number): Promise<Pruned> {
    return { deliveries: 0, attempts: 0, rejected: 0 };
  }

  private async listRejected(limit: number): Promise<RejectedEvent[]> {
    const found = await new SubjectReader(this.jsm, REJECTED_STREAM, subjects.rejected).newest(
      Number.MAX_SAFE_INTEGER,
      limit,
    );
    return found.flatMap((m) => {
      try {
        const r = m.json<RejectedRecord>();
        return [
          {
            id: m.seq,
            received_at: r.receivedAt,
            source: r.source,
            subject: r.subject,
            reason: r.reason,
            detail: r.detail,
            payload: r.payload === null ? null : new Uint8Array(Buffer.from(r.payload, 'base64')),
          },
        ];
      } catch {
        return [];
      }
    });
  }

  /** Closes the dispatch side and the views; the connection belongs to whoever opened it. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.dispatch?.close();
    await this.shared.flush().catch((err: Error) => this.opts.onError?.(err));
    await this.shared.close();
    await this.refreshing;
  }
}
