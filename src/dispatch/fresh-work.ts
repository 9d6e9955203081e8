/**
 * Fresh deliveries dispatched from memory (issue 14): once intake has stored
 * a batch, its deliveries are handed here and sent from memory, not read
 * back from the store. The store is read for what memory does not hold:
 * retries, held webhooks, deliveries requeued by the API or another process,
 * and everything pending after a restart.
 *
 * Per webhook one of two modes:
 * - memory: every pending delivery not taken (in flight, or its result
 *   unwritten) is in this queue; the store is not read;
 * - store (`fromStore`): the store may hold pending deliveries memory does
 *   not; they are read from the store, fresh ones are left there, until the
 *   store has none left but those taken, and memory takes over again.
 *
 * A delivery is added only after its commit returned and only if no read of
 * the store took it meanwhile (the caller's `taken`), so nothing is sent twice.
 *
 * In store mode the store is read ahead (`READ_AHEAD` rows of a webhook, at
 * most `AHEAD_LIMIT` over all): one read serves many takes, instead of
 * each take reading the webhook's taken deliveries again to pass over them.
 *
 * Memory is bounded: intake waits (`room`) while `limits.room` deliveries
 * wait here; when memory is still full after `limits.waitMs` and was not
 * draining fast (a drain keeps intake waiting), the webhook with the most
 * goes to the store (a held webhook, a rate-limited one, a slow receiver),
 * so intake never waits long on a webhook that drains slowly.
 */
import { dueRowOf, type NewDelivery } from '../outbox/index.ts';
import type { DueRow, DueWork } from './due-work.ts';

export interface FreshLimits {
  /** Deliveries held in memory before intake waits. */
  room: number;
  /** How long intake waits for one of them to be taken before the largest queue goes to the store. */
  waitMs: number;
}

const DEFAULT_LIMITS: FreshLimits = { room: 4096, waitMs: 200 };

/** Rows of one webhook read from the store at once beyond what is asked for. */
const READ_AHEAD = 256;
/** Rows read ahead over all webhooks; past it, the least recently read webhook's go first. */
const AHEAD_LIMIT = 4096;

/** A delivery waiting in memory and when it is due. */
export interface Waiting {
  row: DueRow;
  at: number;
}

/** Deliveries just stored as the dispatcher reads them, by webhook (render failures are stored as failed: none). */
export function waitingByWebhook(deliveries: readonly NewDelivery[]): Map<string, Waiting[]> {
  const by = new Map<string, Waiting[]>();
  for (const d of deliveries) {
    if (d.renderError !== undefined) continue;
    let rows = by.get(d.webhookId);
    if (!rows) {
      rows = [];
      by.set(d.webhookId, rows);
    }
    rows.push({ at: d.nextAttemptAt, row: dueRowOf(d) });
  }
  return by;
}

/** A FIFO that drops its consumed head in chunks (no O(n) shift per delivery). */
class Queue {
  items: Waiting[] = [];
  head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  peek(): Waiting | undefined {
    return this.items[this.head];
  }

  shift(): Waiting | undefined {
    const w = this.items[this.head];
    if (w === undefined) return undefined;
    this.items[this.head++] = undefined as never;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return w;
  }
}

export class FreshWork implements DueWork {
  private readonly queues = new Map<string, Queue>();
  private readonly fromStore = new Set<string>();
  /** Deliveries that ever left memory (taken, passed over, or sent to the store): how fast it drains. */
  private left = 0;
  private held = 0;
  private readonly waiters = new Set<() => void>();
  /**
   * Store mode: rows read ahead, per webhook, least recently read first.
   * Each is pending in the store and not taken; it was due when read
   * (`at` is the read's `upTo`), and nothing but this queue reads it again
   * before it is handed out: the store is read only when it is empty.
   */
  private readonly ahead = new Map<string, Queue>();
  private aheadCount = 0;

  constructor(
    private readonly store: DueWork,
    private readonly limits: FreshLimits = DEFAULT_LIMITS,
  ) {}

  /** Deliveries waiting in memory. */
  get size(): number {
    return this.held;
  }

  /**
   * Deliveries of one webhook just stored, each new: queued here in memory
   * mode, left in the store in store mode. `taken`: the delivery was read
   * from the store meanwhile (it is on its way already).
   */
  add(webhookId: string, rows: readonly Waiting[], taken: (id: string) => boolean): void {
    if (this.fromStore.has(webhookId)) return;
    let q = this.queues.get(webhookId);
    if (!q) {
      q = new Queue();
      this.queues.set(webhookId, q);
    }
    for (const r of rows) {
      if (taken(r.row.id)) continue;
      q.items.push(r);
      this.held++;
    }
  }

  /** The store holds pending deliveries of `webhookId` that memory does not (a retry, a requeue, a hold). */
  toStore(webhookId: string): void {
    this.fromStore.add(webhookId);
    const q = this.queues.get(webhookId);
    if (!q) return;
    this.queues.delete(webhookId);
    this.held -= q.length;
    this.left += q.length;
    this.freed();
  }

  /**
   * Resolves when intake may store more (see the header): at once, when
   * memory is under its bound again, or after `waitMs` when it is not
   * draining fast enough. Intake may overshoot the bound by the batches
   * stored at once; in a drain, memory is then taken faster than intake
   * can fill it, and intake waits (the backlog stays in JetStream, as the
   * bare pipe's does) instead of sending the webhook to the store, whose
   * reads cost the drain a tenth of its time. A webhook that moves slower
   * than that (held, rate-limited, a slow receiver) goes to the store.
   */
  async room(): Promise<void> {
    while (this.held >= this.limits.room) {
      const leftBefore = this.left;
      const freed = await new Promise<boolean>((resolve) => {
        const done = (ok: boolean) => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve(ok);
        };
        const wake = () => done(true);
        const timer = setTimeout(() => done(false), this.limits.waitMs);
        this.waiters.add(wake);
      });
      if (freed || this.held < this.limits.room) continue;
      // At the rate just seen, memory is under its bound within two more waits: a drain, keep waiting.
      if (2 * (this.left - leftBefore) >= this.held - this.limits.room + 1) continue;
      // Still full: the largest queue drains too slowly (held, rate-limited, slow).
      this.toStore(this.largest());
    }
  }

  private largest(): string {
    let id = '';
    let n = -1;
    for (const [w, q] of this.queues)
      if (q.length > n) {
        n = q.length;
        id = w;
      }
    return id;
  }

  private freed(): void {
    if (this.held < this.limits.room) for (const w of [...this.waiters]) w();
  }

  /** Every webhook with pending deliveries in the store: all read from the store until it has no more. */
  dueByWebhook(): { webhookId: string; at: number }[] {
    const due = this.store.dueByWebhook();
    for (const { webhookId } of due) this.toStore(webhookId);
    return due;
  }

  due(webhookId: string, upTo: number, limit: number, skip: readonly string[]): DueRow[] {
    if (this.fromStore.has(webhookId)) return this.dueFromStore(webhookId, upTo, limit, skip);
    const q = this.queues.get(webhookId);
    const out: DueRow[] = [];
    if (!q) return out;
    const exclude = skip.length > 0 ? new Set(skip) : undefined;
    for (let w = q.peek(); w !== undefined && out.length < limit && w.at <= upTo; w = q.peek()) {
      q.shift();
      this.held--;
      this.left++;
      if (!exclude?.has(w.row.id)) out.push(w.row);
    }
    if (q.length === 0) this.queues.delete(webhookId);
    if (out.length) this.freed();
    return out;
  }

  nextDueOf(webhookId: string, skip: readonly string[]): number | undefined {
    if (this.fromStore.has(webhookId)) {
      const first = this.ahead.get(webhookId)?.peek();
      if (first) return first.at;
      const next = this.store.nextDueOf(webhookId, skip);
      // The store has nothing pending but what is taken: memory holds the rest from now on.
      if (next === undefined) this.fromStore.delete(webhookId);
      return next;
    }
    const q = this.queues.get(webhookId);
    if (!q) return undefined;
    const exclude = new Set(skip);
    while (q.length > 0 && exclude.has(q.peek()!.row.id)) {
      q.shift();
      this.held--;
      this.left++;
    }
    if (q.length === 0) this.queues.delete(webhookId);
    return q.peek()?.at;
  }

  /**
   * Store mode: what was read ahead first, then one read of the store for
   * the rest and up to `READ_AHEAD` more (none for a probe, which may take a
   * delivery that is not due: only due rows are kept).
   */
  private dueFromStore(webhookId: string, upTo: number, limit: number, skip: readonly string[]): DueRow[] {
    const out: DueRow[] = [];
    const q = this.ahead.get(webhookId);
    if (q) {
      const exclude = skip.length > 0 ? new Set(skip) : undefined;
      for (let w = q.peek(); w !== undefined && out.length < limit && w.at <= upTo; w = q.peek()) {
        q.shift();
        this.aheadCount--;
        if (!exclude?.has(w.row.id)) out.push(w.row);
      }
      if (q.length > 0) return out;
      this.ahead.delete(webhookId);
    }
    if (out.length === limit) return out;
    const extra = upTo === Number.MAX_SAFE_INTEGER ? 0 : this.roomAhead();
    // What this call hands out is not taken yet: the store must not hand it out again.
    const passOver = out.length > 0 ? [...skip, ...out.map((r) => r.id)] : skip;
    const rows = this.store.due(webhookId, upTo, limit - out.length + extra, passOver);
    let i = 0;
    while (out.length < limit && i < rows.length) out.push(rows[i++]!);
    if (i < rows.length) {
      const rest = new Queue();
      for (; i < rows.length; i++) rest.items.push({ row: rows[i]!, at: upTo });
      this.ahead.set(webhookId, rest);
      this.aheadCount += rest.length;
    }
    return out;
  }

  /** How many rows may be read ahead now: the least recently read webhooks' make room (they stay in the store). */
  private roomAhead(): number {
    for (const [w, q] of this.ahead) {
      if (AHEAD_LIMIT - this.aheadCount >= READ_AHEAD) break;
      this.ahead.delete(w);
      this.aheadCount -= q.length;
    }
    return Math.min(READ_AHEAD, AHEAD_LIMIT - this.aheadCount);
  }
}
