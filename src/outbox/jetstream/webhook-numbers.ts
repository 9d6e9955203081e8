/**
 * Integer numbers for API webhooks (the seed dialects' ids), unique across
 * replicas and never reused, without compare-and-set (nats-server #4320).
 *
 * Each replica reserves blocks of `blockSize` numbers by publishing to the
 * stream `HOOKD_WEBHOOK_NUMBERS`: the stream leader gives every publish its
 * own sequence `s`, and block `s` (numbers `(s-1)·blockSize+1 … s·blockSize`)
 * belongs to that publisher alone: a single writer per number by
 * construction. A retried publish carries the same `Nats-Msg-Id`, so it gets
 * the same sequence. The stream keeps only its last message; its sequence
 * never goes back. Numbers are handed out synchronously from the reserved
 * block; the next block is reserved in the background when half is used.
 * A restarted replica starts a new block (numbers are sparse, never reused).
 */
import { type JetStreamClient, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ensureStream } from '../../source/index.ts';
import { StoreError } from '../errors.ts';
import { NUMBERS_STREAM, NUMBERS_SUBJECT } from './buckets.ts';

export class WebhookNumbers {
  private readonly blocks: number[] = [];
  private next = 0;
  private left = 0;
  private reserving: Promise<void> | undefined;
  private published = 0;
  private readonly instance = `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;

  private constructor(
    private readonly js: JetStreamClient,
    private readonly blockSize: number,
    private readonly onError: (err: Error) => void,
  ) {}

  static async open(
    nc: NatsConnection,
    opts: { replicas: number; blockSize?: number; onError?: (err: Error) => void },
  ): Promise<WebhookNumbers> {
    const jsm = await jetstreamManager(nc);
    await ensureStream(
      jsm,
      {
        name: NUMBERS_STREAM,
        subjects: [NUMBERS_SUBJECT],
        max_msgs_per_subject: 1,
        num_replicas: opts.replicas,
      },
      { onWait: opts.onError },
    );
    const numbers = new WebhookNumbers(jetstream(nc), opts.blockSize ?? 100, opts.onError ?? (() => {}));
    await numbers.reserve();
    return numbers;
  }

  /** The next number of this replica's block; throws when none is reserved (NATS unreachable for a while). */
  take(): number {
    if (this.left === 0) {
      const block = this.blocks.shift();
      if (block === undefined) {
        this.refill();
        throw new StoreError('no webhook number is reserved yet: NATS has not answered; try again');
      }
      this.next = (block - 1) * this.blockSize + 1;
      this.left = this.blockSize;
    }
    this.left--;
    if (this.left < this.blockSize / 2 && this.blocks.length === 0) this.refill();
    return this.next++;
  }

  private refill(): void {
    if (this.reserving) return;
    this.reserving = this.reserve()
      .catch((err: Error) =>
        this.onError(new StoreError(`reserving webhook numbers failed: ${err.message}`, { cause: err })),
      )
      .finally(() => {
        this.reserving = undefined;
      });
  }

  private async reserve(): Promise<void> {
    const msgID = `${this.instance}-${++this.published}`;
    const ack = await this.js.publish(NUMBERS_SUBJECT, msgID, { msgID, retries: 5 });
    this.blocks.push(ack.seq);
  }
}
