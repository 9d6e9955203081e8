/**
 * The deliveries of the `jetstream` backend (store.ts): intake and the
 * dispatcher's side go to the dispatch queue handed in; reads come from the
 * streams (delivery-reads.ts); requeueing a dead letter republishes it to
 * its webhook's queue with a fresh budget (attempt 0, its history kept)
 * under `Nats-Msg-Id` `<id>.r<dead letter sequence>`, then deletes the dead
 * letter: two replicas (or `hookd retry` and the API) requeueing the same
 * one store it once, and only the publish that was not a duplicate counts.
 * Depth is kept from the stream counts a timer refreshes, less this
 * replica's own in flight, never negative.
 */
import { type JetStreamManager, jetstream } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import type {
  AttemptResult,
  DeliveryPage,
  DeliveryRow,
  DeliveryState,
  DeliveryStore,
  DueRow,
  NewDelivery,
  Rejection,
  RequeueFilter,
} from '../contract.ts';
import { StoreError } from '../errors.ts';
import { SubjectReader } from './browse.ts';
import { idToken } from './buckets.ts';
import { type DeliveryReads, isDeliveryId } from './delivery-reads.ts';
import {
  ATTEMPT_HEADER,
  DEAD_LETTERS_STREAM,
  type FinishedRecord,
  msgIds,
  NOT_BEFORE_HEADER,
  type QueuedMessage,
  subjects,
} from './records.ts';
import { retryUntil } from './retry.ts';

/** The dispatcher's side of the store: `JetStreamDispatchQueue` (dispatch-queue.ts). */
export type DispatchSide = Pick<
  DeliveryStore,
  'insert' | 'complete' | 'due' | 'nextDueOf' | 'dueByWebhook' | 'claimed' | 'released'
> & { close(): Promise<void> };

const readOnly = (what: string) =>
  new StoreError(`${what}: this jetstream store was opened for reads and requeues only (no dispatch queue)`);

export class JetStreamDeliveries implements DeliveryStore {
  /** Attempt results are written at once (dispatch-queue.ts): a delivery holds its webhook's cluster-wide slot until then. */
  readonly resultDelayMs = 0;
  /** Every delivery is handed out by its webhook's consumer (dispatch-queue.ts), none from the dispatcher's memory. */
  readonly ownQueue = true;
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
      const { state: _s, finishedAt: _f, lastError: _l, request, ...queued } = record;
      if (!request) continue; // not a dead letter hookd wrote (each keeps its request: records.ts)
      const message: QueuedMessage = { ...queued, request };
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
