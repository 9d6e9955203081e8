/**
 * A message taken from a webhook's consumer on `HOOKD_DELIVERIES`: what the
 * dispatcher sends (a `DueRow`), how it is settled (ack, nak, still
 * working), and the records that move it on (a retry, an end record), each
 * built from the message as it came, so that a delivery's rendered request
 * is parsed once and, on its first attempt, never written out again.
 *
 * It wraps the core NATS message, not the client's `JsMsg`: messages of
 * every webhook arrive on one subscription of the replica's own pull inbox
 * (one subscription, however many webhooks), and settling answers the
 * message's reply subject as `JsMsg` does.
 */
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import type { AttemptRow, DueRow } from '../contract.ts';
import { dueRowOf } from '../due-row.ts';
import { StoreError } from '../errors.ts';
import type { FinishedRecord, QueuedMessage } from './records.ts';
import { ATTEMPT_HEADER, NOT_BEFORE_HEADER } from './records.ts';

const ACK = Uint8Array.of(43, 65, 67, 75); // +ACK
const NAK = Uint8Array.of(45, 78, 65, 75); // -NAK
const WPI = Uint8Array.of(43, 87, 80, 73); // +WPI
const decoder = new TextDecoder();

/** The delivery count and stream sequence in a JetStream reply subject (`$JS.ACK.…`), old and new forms. */
export function ackInfo(reply: string): { handedOut: number; seq: number } {
  const t = reply.split('.');
  if (t[0] !== '$JS' || t[1] !== 'ACK' || (t.length !== 9 && t.length < 11))
    throw new StoreError(`not a JetStream message: reply subject ${JSON.stringify(reply)}`);
  const at = t.length === 9 ? 4 : 6;
  return { handedOut: Number(t[at]), seq: Number(t[at + 1]) };
}

export class TakenMessage {
  /** Sequence in `HOOKD_DELIVERIES` (the same when the message is handed out again). */
  readonly seq: number;
  /** How many times the consumer has handed it out (above 1: a replica took it and did not settle it). */
  readonly handedOut: number;
  /** Attempts made before this one. */
  readonly attempt: number;
  /** Not to be attempted before this time (ms since the epoch). */
  readonly notBefore: number;
  /** When it arrived here, and when the ack wait was last restarted. */
  readonly arrivedAt: number;
  touchedAt: number;
  /** Handed to the dispatcher (it is attempted and must be settled by its result). */
  started = false;
  private text: string | undefined;
  private parsed: QueuedMessage | undefined;
  /** Where the text's top-level `,"request":` starts when `request` is its last member, else -1 (undefined: not looked). */
  private requestAt: number | undefined;

  constructor(
    private readonly msg: Msg,
    now: number,
  ) {
    const info = ackInfo(msg.reply ?? '');
    this.seq = info.seq;
    this.handedOut = info.handedOut;
    this.attempt = Number(msg.headers?.get(ATTEMPT_HEADER) || 0);
    this.notBefore = Number(msg.headers?.get(NOT_BEFORE_HEADER) || 0);
    this.arrivedAt = now;
    this.touchedAt = now;
  }

  get data(): Uint8Array {
    return this.msg.data;
  }

  /** The delivery as queued (parsed once, on first use). */
  get delivery(): QueuedMessage {
    if (!this.parsed) {
      this.text = decoder.decode(this.msg.data);
      try {
        this.parsed = JSON.parse(this.text) as QueuedMessage;
      } catch (err) {
        throw new StoreError(
          `HOOKD_DELIVERIES message ${this.seq} is not a delivery: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
    }
    return this.parsed;
  }

  /** What the dispatcher sends. */
  row(): DueRow {
    return dueRowOf(this.delivery, this.attempt);
  }

  /** The message with `attempts` as they are now (a retry waiting for its next attempt). */
  queuedWith(attempts: AttemptRow[]): string {
    return this.extended({ attempts });
  }

  /** The record that ends the delivery (a succeeded one without its request: records.ts). */
  finished(
    state: FinishedRecord['state'],
    attempts: AttemptRow[],
    finishedAt: number,
    lastError: string | null,
  ): string {
    if (state === 'failed') return this.extended({ state, attempts, finishedAt, lastError });
    const d = this.delivery;
    const at = this.requestStart();
    // A first attempt's message ends with its request: the record is the text before it, then the outcome.
    if (at > 0 && d.attempts === undefined)
      return `${this.text!.slice(0, at)},${JSON.stringify({ state, attempts, finishedAt, lastError }).slice(1)}`;
    const { request: _, ...rest } = d;
    const record: FinishedRecord = { ...rest, state, attempts, finishedAt, lastError };
    return JSON.stringify(record);
  }

  /**
   * The queued message with more members, `request` still last. On a first
   * attempt the message has none of them, so they are put into its text as
   * it came, before the request (which is not serialized again); later, the
   * message is rebuilt.
   */
  private extended(more: Record<string, unknown>): string {
    const d = this.delivery;
    const at = this.requestStart();
    const text = this.text!;
    if (at > 0 && d.attempts === undefined)
      return `${text.slice(0, at)},${JSON.stringify(more).slice(1, -1)}${text.slice(at)}`;
    const { request, ...rest } = d;
    return JSON.stringify({ ...rest, ...more, request });
  }

  /**
   * Where the top-level `request` member starts in the text (at its comma)
   * when it is the last member, as hookd writes it (records.ts,
   * `queuedText`); -1 otherwise (a message written another way is rebuilt).
   * The first `,"request":` in the text is the top-level one: the members
   * before it are scalars and attempt rows, whose strings cannot hold a bare
   * quote.
   */
  private requestStart(): number {
    if (this.requestAt === undefined) {
      const keys = Object.keys(this.delivery);
      this.requestAt = keys[keys.length - 1] === 'request' ? this.text!.indexOf(',"request":') : -1;
    }
    return this.requestAt;
  }

  ack(): void {
    this.answer(ACK);
  }

  /** Hands the message back: to any replica at once, or after `delayMs`. */
  nak(delayMs?: number): void {
    this.answer(delayMs ? `-NAK ${JSON.stringify({ delay: Math.round(delayMs) * 1e6 })}` : NAK);
  }

  /** The attempt is still running: the ack wait starts again. */
  working(now: number): void {
    this.touchedAt = now;
    this.answer(WPI);
  }

  /**
   * A closed connection cannot answer: the server hands the message out
   * again after its ack wait, which is what an answer lost on the way does.
   */
  private answer(payload: Uint8Array | string): void {
    try {
      this.msg.respond(payload);
    } catch {}
  }

  /** Acknowledges and resolves once the server confirmed it (false: not confirmed within `timeoutMs`). */
  async ackConfirmed(nc: NatsConnection, timeoutMs = 5000): Promise<boolean> {
    if (!this.msg.reply) return false;
    try {
      await nc.request(this.msg.reply, ACK, { timeout: timeoutMs });
      return true;
    } catch {
      return false;
    }
  }
}
