/**
 * Intake's side of the `jetstream` backend's delivery work queue
 * (DESIGN.md section 8, issue 15): the stream `HOOKD_DELIVERIES`, one
 * subject per webhook (`hookd.deliveries.<webhook id token>`), so that
 * replicas can later pull each webhook's backlog through its own consumer
 * (a hot webhook does not delay a quiet one).
 *
 * Each delivery is published with `Nats-Msg-Id` = its delivery id. Delivery
 * ids are derived from the event and the webhook, so the event redelivered
 * (this replica died before acknowledging it, or another replica takes it)
 * publishes the same ids, and the stream keeps each delivery once within
 * its duplicate window: a publish retried after a lost answer or a leader
 * change is safe for the same reason. The window is set well above the
 * event consumer's ack wait, the longest an unacknowledged event waits for
 * its redelivery.
 *
 * `accept` is the only way intake acknowledges an event: it publishes the
 * event's deliveries, waits until the stream has confirmed every one of
 * them, and only then acknowledges the event (and waits for the server to
 * confirm the acknowledgement); if any publish fails, the event is not
 * acknowledged but handed back for redelivery.
 *
 * `insert` is the whole of an intake batch (`DeliveryStore.insert`): the
 * deliveries to their queue; a delivery whose request could not be
 * rendered straight to `HOOKD_DEAD_LETTERS` as its end record (one
 * permanent attempt, the render error); rejected events to
 * `HOOKD_REJECTED`; each confirmed before it resolves.
 */
import { jetstreamManager, RetentionPolicy } from '@nats-io/jetstream';
import { type NatsConnection, nanos } from '@nats-io/transport-node';
import { ensureStream } from '../../source/index.ts';
import type { NewDelivery, Rejection } from '../contract.ts';
import { StoreError } from '../errors.ts';
import { idToken } from './buckets.ts';
import { Publisher } from './publisher.ts';
import {
  ATTEMPT_HEADER,
  DELIVERIES_STREAM,
  type FinishedRecord,
  msgIds,
  NOT_BEFORE_HEADER,
  queuedText,
  REASON_HEADER,
  type RejectedRecord,
  subjects,
} from './records.ts';
import { retryUntil } from './retry.ts';

export { ATTEMPT_HEADER, DELIVERIES_STREAM, NOT_BEFORE_HEADER };
export const DELIVERIES_SUBJECT_PREFIX = 'hookd.deliveries';

/** How long the stream remembers a delivery id (longer than any redelivery of the event it came from). */
const DUPLICATE_WINDOW_MS = 10 * 60_000;

export const deliverySubject = (webhookId: string) => `${DELIVERIES_SUBJECT_PREFIX}.${idToken(webhookId)}`;

/** What the stream's messages carry: the delivery as intake rendered it. */
export type QueuedDelivery = Omit<NewDelivery, 'renderError' | 'nextAttemptAt' | 'requestHead'>;

/** An event as its source hands it over: acknowledged once stored, or handed back. */
export interface AckableEvent {
  /** Acknowledges, resolving once the server has the acknowledgement. */
  ackAck(): Promise<boolean>;
  nak(delayMs?: number): void;
}

export class DeliveryQueue {
  private constructor(
    private readonly pub: Publisher,
    private readonly publishDeadlineMs: number,
  ) {}

  /** Publishes to streams that exist (`ensureStreams`). */
  static over(pub: Publisher, publishDeadlineMs = 30_000): DeliveryQueue {
    return new DeliveryQueue(pub, publishDeadlineMs);
  }

  /**
   * Creates the stream (`replicas`: 1, or 3 on a cluster), or uses it as it
   * is. `publishDeadlineMs`: how long a publish is retried (same id, so
   * retrying is safe: a leader election takes seconds) before the event is
   * handed back (default 30 s).
   */
  static async open(
    nc: NatsConnection,
    opts: { replicas: number; publishDeadlineMs?: number },
  ): Promise<DeliveryQueue> {
    const jsm = await jetstreamManager(nc);
    await ensureStream(jsm, {
      name: DELIVERIES_STREAM,
      subjects: [`${DELIVERIES_SUBJECT_PREFIX}.>`],
      retention: RetentionPolicy.Workqueue,
      num_replicas: opts.replicas,
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    });
    return new DeliveryQueue(new Publisher(nc), opts.publishDeadlineMs ?? 30_000);
  }

  /**
   * Publishes deliveries and resolves once the stream confirmed every one,
   * to how many were new (the others it had already: a redelivered event).
   * A delivery that failed to render is not one to queue (it goes to dead
   * letters): handing one over is an error, so none is dropped unnoticed.
   */
  async publish(deliveries: readonly NewDelivery[]): Promise<number> {
    const failed = deliveries.find((d) => d.renderError !== undefined);
    if (failed)
      throw new StoreError(
        `delivery ${failed.id} failed to render: it belongs in dead letters, not the queue`,
      );
    const acks = await Promise.all(deliveries.map((d) => this.publishOne(d)));
    return acks.filter((duplicate) => !duplicate).length;
  }

  /**
   * One intake batch: deliveries queued, render failures dead-lettered,
   * rejected events kept; resolves once the streams confirmed every one, to
   * how many deliveries were new (queued or dead-lettered; a redelivered
   * event adds none).
   */
  async insert(deliveries: readonly NewDelivery[], rejections: readonly Rejection[] = []): Promise<number> {
    const queued = deliveries.filter((d) => d.renderError === undefined);
    const failed = deliveries.filter((d) => d.renderError !== undefined);
    const [added, dead] = await Promise.all([
      this.publish(queued),
      Promise.all(failed.map((d) => this.renderFailed(d))),
      Promise.all(rejections.map((r) => this.rejected(r))),
    ]);
    return added + dead.filter((duplicate) => !duplicate).length;
  }

  /** A delivery whose request could not be rendered ends at once: its end record in dead letters. */
  private renderFailed(d: NewDelivery): Promise<boolean> {
    const { renderError, nextAttemptAt: _, requestHead: _head, ...queued } = d;
    const error = renderError ?? 'render failed';
    const record: FinishedRecord = {
      ...queued,
      state: 'failed',
      attempts: [
        {
          attempt: 1,
          started_at: d.receivedAt,
          duration_ms: 0,
          outcome: 'permanent',
          status: null,
          error,
          response: null,
        },
      ],
      finishedAt: d.receivedAt,
      lastError: error,
    };
    return this.send(subjects.dead(d.webhookId, d.id), JSON.stringify(record), msgIds.finished(d.id, 1), {
      [REASON_HEADER]: headerValue(error),
    });
  }

  private async rejected(r: Rejection): Promise<boolean> {
    const record: RejectedRecord = {
      receivedAt: r.receivedAt,
      source: r.source,
      subject: r.subject ?? null,
      reason: r.reason,
      detail: r.detail ?? null,
      payload: r.payload ? Buffer.from(r.payload).toString('base64') : null,
    };
    return this.send(subjects.rejected, JSON.stringify(record), undefined, undefined);
  }

  /** Publishes one delivery, retrying with the same id until the deadline; resolves to whether it was a duplicate. */
  private publishOne(d: NewDelivery): Promise<boolean> {
    return this.send(deliverySubject(d.webhookId), queuedText(d), msgIds.intake(d.id), {
      [ATTEMPT_HEADER]: '0',
      [NOT_BEFORE_HEADER]: String(d.nextAttemptAt),
    });
  }

  /** Publishes, retrying (same msg-id) until the deadline; resolves to whether the stream had it already. */
  private async send(
    subject: string,
    body: string,
    msgID: string | undefined,
    set: Record<string, string> | undefined,
  ) {
    try {
      const ack = await retryUntil(this.publishDeadlineMs, () =>
        this.pub.publish(subject, body, { msgID, set }),
      );
      return ack.duplicate;
    } catch (err) {
      throw new StoreError(
        `publishing ${msgID ?? 'a record'} to ${subject} failed: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  /**
   * Stores an event's deliveries, then acknowledges the event; when storing
   * fails the event is handed back (redelivered after `retryMs`) and the
   * error is thrown. Resolves to how many deliveries were new.
   */
  async accept(event: AckableEvent, deliveries: readonly NewDelivery[], retryMs = 1000): Promise<number> {
    let added: number;
    try {
      added = await this.publish(deliveries);
    } catch (err) {
      event.nak(retryMs);
      throw err;
    }
    if (!(await event.ackAck()))
      throw new StoreError(
        'the event was stored but its acknowledgement was not confirmed: it will come again',
      );
    return added;
  }
}

/** A header value: one line, bounded (a reason may be a long multi-line error). */
export function headerValue(s: string, max = 512): string {
  const line = s.replace(/[\r\n]+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
