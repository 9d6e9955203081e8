/**
 * Confirmed JetStream publishes at the rate of a drain (thousands a
 * second): each is one core publish with a reply subject on one inbox
 * subscription, its answer (the stream's `PubAck`, or an error) matched by
 * a counter, and one timer for every timeout. The client's `js.publish`
 * costs a request object, a timer and two captured stack traces per
 * publish, which was a fifth of a replica's CPU in a drain.
 *
 * A publish that times out, finds no stream (no responders, as during a
 * leader election) or is refused rejects; callers retry with the same
 * `Nats-Msg-Id`, so a publish whose answer was lost is stored once.
 */
import {
  createInbox,
  headers,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { StoreError } from '../errors.ts';

export interface PubAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

interface Waiting {
  resolve: (ack: PubAck) => void;
  reject: (err: Error) => void;
  until: number;
  subject: string;
}

const SWEEP_MS = 250;

export class Publisher {
  private readonly inbox = createInbox();
  private readonly waiting = new Map<number, Waiting>();
  private next = 0;
  private sub: Subscription | undefined;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 5000,
  ) {}

  /** Publishes `data` to `subject` and resolves with the stream's acknowledgement. */
  publish(
    subject: string,
    data: string | Uint8Array,
    opts: { msgID?: string; set?: Record<string, string> } = {},
  ): Promise<PubAck> {
    if (this.nc.isClosed())
      return Promise.reject(new StoreError(`publishing to ${subject}: the NATS connection is closed`));
    this.listen();
    const id = ++this.next;
    let h: MsgHdrs | undefined;
    if (opts.msgID !== undefined || opts.set) {
      h = headers();
      if (opts.msgID !== undefined) h.set('Nats-Msg-Id', opts.msgID);
      for (const k in opts.set) h.set(k, opts.set[k]!);
    }
    return new Promise<PubAck>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, until: Date.now() + this.timeoutMs, subject });
      try {
        this.nc.publish(subject, data, { reply: `${this.inbox}.${id}`, headers: h });
      } catch (err) {
        this.waiting.delete(id);
        reject(err as Error);
      }
    });
  }

  private listen(): void {
    if (this.sub) return;
    this.sub = this.nc.subscribe(`${this.inbox}.*`, {
      callback: (err, msg) => {
        if (!err) this.answered(msg);
      },
    });
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref?.();
  }

  private answered(msg: Msg): void {
    const id = Number(msg.subject.slice(this.inbox.length + 1));
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    const code = msg.headers?.code ?? 0;
    if (code >= 300) {
      const why =
        code === 503 ? 'no responders (no stream, or its leader is being elected)' : msg.headers?.description;
      w.reject(new StoreError(`publishing to ${w.subject}: ${code} ${why}`));
      return;
    }
    let ack: {
      stream?: string;
      seq?: number;
      duplicate?: boolean;
      error?: { code: number; description: string };
    };
    try {
      ack = msg.json();
    } catch {
      w.reject(new StoreError(`publishing to ${w.subject}: the answer is not a PubAck`));
      return;
    }
    if (ack.error || !ack.stream)
      w.reject(new StoreError(`publishing to ${w.subject}: ${ack.error?.description ?? 'not stored'}`));
    else w.resolve({ stream: ack.stream, seq: ack.seq ?? 0, duplicate: ack.duplicate === true });
  }

  private sweep(): void {
    const now = Date.now();
    const closed = this.nc.isClosed();
    for (const [id, w] of this.waiting) {
      // In the order sent, all with the same timeout: the first not yet due ends the sweep.
      if (w.until > now && !closed) break;
      this.waiting.delete(id);
      w.reject(new StoreError(`publishing to ${w.subject}: no answer within ${this.timeoutMs} ms`));
    }
  }

  /** Stops listening; publishes still waiting reject. */
  close(): void {
    clearInterval(this.sweeper);
    if (!this.nc.isClosed()) this.sub?.unsubscribe();
    for (const w of this.waiting.values()) w.reject(new StoreError(`publishing to ${w.subject}: closed`));
    this.waiting.clear();
  }
}
