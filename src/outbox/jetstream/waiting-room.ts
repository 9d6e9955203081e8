/**
 * The waiting room of the `jetstream` backend (issue 15): deliveries whose
 * next attempt is later wait in `HOOKD_RETRIES`, not in their webhook's
 * consumer, where they would count against its `MaxAckPending` and hold
 * its concurrency. One durable consumer, `hookd-retries`, is shared by
 * every replica: a message not yet due is handed back with
 * `nak(min(notBefore - now, 1 h))` (the server holds it; it survives a
 * restart and fires a fraction of a second late); a due one is republished
 * to its webhook's subject in `HOOKD_DELIVERIES` with the same
 * `Nats-Msg-Id`, then acknowledged, so every attempt goes through the
 * webhook's consumer and its cluster-wide limit. A replica dying between
 * the two leaves the message here: the next replica's republish is a
 * duplicate the stream drops.
 *
 * Waiting retries count against this consumer's own `MaxAckPending`
 * (`RETRIES_MAX_ACK_PENDING`); beyond it, later retries wait in the stream
 * until earlier ones leave.
 */
import {
  AckPolicy,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { type NatsConnection, nanos } from '@nats-io/transport-node';
import { ensureConsumer as ensureDurable } from '../../source/index.ts';
import { tokenId } from './buckets.ts';
import type { Publisher } from './publisher.ts';
import { ATTEMPT_HEADER, NOT_BEFORE_HEADER, RETRIES_STREAM } from './records.ts';
import { retryUntil } from './retry.ts';

export const RETRIES_CONSUMER = 'hookd-retries';
/** Retries waiting at once for their time (nak'd); more wait in the stream. */
export const RETRIES_MAX_ACK_PENDING = 10_000;
/** The longest a not-yet-due retry is held by one nak (then it is looked at again). */
const MAX_NAK_MS = 3_600_000;
/** Early enough: the server fires a nak's delay a little late, never early. */
const DUE_SLACK_MS = 20;

export interface WaitingRoomOptions {
  /** A retry of `webhookId` is back in its webhook's queue. */
  onDue: (webhookId: string) => void;
  onError: (err: Error) => void;
  /** Where republishes go (the queue's, shared). */
  publisher: Publisher;
  /** How long a republish is retried (same msg-id: safe) before the message is handed back (default 30 s). */
  publishDeadlineMs?: number;
  now?: () => number;
}

export class WaitingRoom {
  private messages: ConsumerMessages | undefined;
  private closed = false;
  private readonly inflight = new Set<Promise<void>>();
  private readonly now: () => number;

  private constructor(
    private readonly js: JetStreamClient,
    private readonly opts: WaitingRoomOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** Creates the shared consumer if needed and starts taking retries (the stream exists: `ensureStreams`). */
  static async open(nc: NatsConnection, opts: WaitingRoomOptions): Promise<WaitingRoom> {
    await ensureConsumer(await jetstreamManager(nc));
    const room = new WaitingRoom(jetstream(nc), opts);
    await room.start();
    return room;
  }

  private async start(): Promise<void> {
    const consumer = await this.js.consumers.get(RETRIES_STREAM, RETRIES_CONSUMER);
    const messages = await consumer.consume({
      max_messages: 256,
      expires: 5000,
      callback: (m) => this.handle(m),
    });
    this.messages = messages;
    // Stopped by the server (consumer deleted, stream gone): start again while open.
    void messages.closed().then(
      () => this.restart(),
      (err: Error) => {
        this.opts.onError(new Error(`the waiting room's consumer stopped: ${err.message}`, { cause: err }));
        this.restart();
      },
    );
  }

  private restart(): void {
    if (this.closed) return;
    const again = setTimeout(() => {
      if (this.closed) return;
      void this.start().catch((err: Error) => {
        this.opts.onError(new Error(`could not restart the waiting room: ${err.message}`, { cause: err }));
        this.restart();
      });
    }, 1000);
    again.unref?.();
  }

  private handle(m: JsMsg): void {
    const notBefore = Number(m.headers?.get(NOT_BEFORE_HEADER) || 0);
    const wait = notBefore - this.now();
    if (wait > DUE_SLACK_MS) {
      m.nak(Math.min(wait, MAX_NAK_MS));
      return;
    }
    const moving = this.moveOn(m);
    this.inflight.add(moving);
    void moving.finally(() => this.inflight.delete(moving));
  }

  /** Republishes a due retry to its webhook's queue (same msg-id), then acknowledges it here. */
  private async moveOn(m: JsMsg): Promise<void> {
    const token = m.subject.slice('hookd.retries.'.length);
    const set = {
      [ATTEMPT_HEADER]: m.headers?.get(ATTEMPT_HEADER) || '0',
      [NOT_BEFORE_HEADER]: m.headers?.get(NOT_BEFORE_HEADER) || '0',
    };
    const msgID = m.headers?.get('Nats-Msg-Id') || `${m.info.streamSequence}.waiting`;
    try {
      await retryUntil(this.opts.publishDeadlineMs ?? 30_000, () =>
        this.opts.publisher.publish(`hookd.deliveries.${token}`, m.data, { msgID, set }),
      );
    } catch (err) {
      m.nak(1000);
      this.opts.onError(
        new Error(`could not move retry ${msgID} back to its webhook's queue: ${(err as Error).message}`, {
          cause: err,
        }),
      );
      return;
    }
    // Not confirmed: the message comes again and its republish is a duplicate the stream drops.
    await m.ackAck().catch(() => false);
    const webhookId = tokenId(token);
    if (webhookId !== undefined) this.opts.onDue(webhookId);
  }

  /** Stops taking retries; the ones being moved finish (or come again to another replica). */
  async close(): Promise<void> {
    this.closed = true;
    await this.messages?.close().catch(() => undefined);
    await Promise.allSettled([...this.inflight]);
  }
}

async function ensureConsumer(jsm: JetStreamManager): Promise<void> {
  await ensureDurable(jsm, RETRIES_STREAM, {
    durable_name: RETRIES_CONSUMER,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(30_000),
    max_ack_pending: RETRIES_MAX_ACK_PENDING,
  });
}
