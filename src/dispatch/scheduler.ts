/**
 * Which deliveries start now (DESIGN.md section 4, limits): webhooks with due
 * work are served lower priority numbers first, then the one served longest
 * ago (round-robin), each up to its own concurrency and what its gates (state,
 * breaker, rate limit) allow, all within the global concurrency, so a slow or
 * huge backlog never holds the global capacity. Pure bookkeeping over a clock:
 * it pulls due work from a `DueWork` source and never sends or sleeps.
 */
import type { Webhook } from '../rules/index.ts';
import type { DueRow, DueWork } from './due-work.ts';

export interface Admission {
  /** How many new attempts may start now. */
  allowed: number;
  /** True when the one allowed attempt is a half-open probe: take the earliest pending delivery, due or not. */
  probe: boolean;
  /** When to look again, if held for a known time. */
  wakeAt?: number;
}

/** Whether a webhook may get new attempts now (state, breaker, rate limit). */
export interface Gate {
  admit(webhook: Webhook, now: number): Admission;
  /** `n` attempts started now (`probe`: the half-open probe, delivery `probeId`). */
  started(webhook: Webhook, n: number, probe: boolean, now: number, probeId?: string): void;
}

export interface SchedulerDeps {
  work: DueWork;
  /** The webhook as currently configured (undefined when it was removed). */
  webhook: (id: string) => Webhook | undefined;
  gate?: Gate;
  /** Attempts in flight at once, over all webhooks. */
  concurrency: number;
  /** Attempts in flight to one webhook at once (the webhook's `concurrency` overrides it). */
  perWebhookConcurrency: number;
  now: () => number;
}

export interface Start {
  row: DueRow;
  webhook: Webhook | undefined;
}

export class Scheduler {
  /** Per webhook with pending deliveries: the earliest time one may be due (never later than the truth). */
  private readonly dueAt = new Map<string, number>();
  /** Per webhook: when it was last served, for round-robin among equals. */
  private readonly served = new Map<string, number>();
  private serveTick = 0;
  /** Per webhook: attempts in flight now. */
  private readonly busy = new Map<string, number>();
  /** Per webhook: deliveries not to be read again yet: in flight, or finished with their result unwritten. */
  private readonly excluded = new Map<string, Set<string>>();
  private running = 0;
  /** The earliest time a held webhook (breaker cooldown, rate limit) may go again. */
  private heldUntil = Number.POSITIVE_INFINITY;

  constructor(private readonly deps: SchedulerDeps) {}

  /** Attempts started and not finished. */
  get inFlight(): number {
    return this.running;
  }

  /** Deliveries still pending in the store but taken (in flight, or their result not yet written). */
  get taken(): number {
    let n = 0;
    for (const s of this.excluded.values()) n += s.size;
    return n;
  }

  /** Re-reads every webhook's earliest due delivery (at start, after bulk requeues). */
  rescan(): void {
    for (const { webhookId, at } of this.deps.work.dueByWebhook()) this.dueAt.set(webhookId, at);
  }

  /** Re-reads one webhook's earliest pending delivery (it was resumed, or its deliveries requeued). */
  rescanWebhook(webhookId: string): number | undefined {
    const next = this.deps.work.nextDueOf(webhookId, this.skip(webhookId));
    if (next !== undefined) this.notify(webhookId, next);
    return next;
  }

  /** Deliveries of `webhookId` are due at `at`. */
  notify(webhookId: string, at: number): void {
    const cur = this.dueAt.get(webhookId);
    if (cur === undefined || at < cur) this.dueAt.set(webhookId, at);
  }

  /** An attempt is over; its delivery stays out of reach until its result is written. */
  finished(webhookId: string): void {
    this.running--;
    const n = (this.busy.get(webhookId) ?? 1) - 1;
    if (n <= 0) this.busy.delete(webhookId);
    else this.busy.set(webhookId, n);
  }

  /** Whether a delivery is taken (in flight, or its result unwritten). */
  isTaken(webhookId: string, deliveryId: string): boolean {
    return this.excluded.get(webhookId)?.has(deliveryId) ?? false;
  }

  /** A delivery's result is written (or it was released): it may be read again. */
  written(webhookId: string, deliveryId: string): void {
    const s = this.excluded.get(webhookId);
    s?.delete(deliveryId);
    if (s?.size === 0) this.excluded.delete(webhookId);
  }

  /** When to look again: the earliest future due time or end of a hold (Infinity: nothing known). */
  wakeAt(): number {
    const now = this.deps.now();
    let next = this.heldUntil > now ? this.heldUntil : Number.POSITIVE_INFINITY;
    for (const at of this.dueAt.values()) if (at > now && at < next) next = at;
    return next;
  }

  private skip(webhookId: string): string[] {
    return [...(this.excluded.get(webhookId) ?? [])];
  }

  private limitOf(w: Webhook | undefined): number {
    return w?.concurrency ?? this.deps.perWebhookConcurrency;
  }

  /** The deliveries to start now, taken out of the due set; the caller sends each and calls `finished`. */
  take(): Start[] {
    const { work, gate } = this.deps;
    this.heldUntil = Number.POSITIVE_INFINITY;
    let capacity = this.deps.concurrency - this.running;
    if (capacity <= 0) return [];
    const now = this.deps.now();
    const ready: {
      id: string;
      webhook: Webhook | undefined;
      priority: number;
      free: number;
      probe: boolean;
    }[] = [];
    for (const [id, at] of this.dueAt) {
      if (at > now) continue;
      const webhook = this.deps.webhook(id);
      let free = this.limitOf(webhook) - (this.busy.get(id) ?? 0);
      if (free <= 0) continue;
      let probe = false;
      if (webhook && gate) {
        const a = gate.admit(webhook, now);
        if (a.allowed <= 0) {
          if (a.wakeAt !== undefined) this.heldUntil = Math.min(this.heldUntil, a.wakeAt);
          continue;
        }
        free = Math.min(free, a.allowed);
        probe = a.probe;
      }
      ready.push({ id, webhook, priority: webhook?.priority ?? 0, free, probe });
    }
    ready.sort(
      (a, b) => a.priority - b.priority || (this.served.get(a.id) ?? 0) - (this.served.get(b.id) ?? 0),
    );
    const starts: Start[] = [];
    for (const r of ready) {
      if (capacity <= 0) break;
      const want = Math.min(r.free, capacity);
      const skip = this.skip(r.id);
      // A half-open probe takes the earliest pending delivery, due or not.
      const rows = work.due(r.id, r.probe ? Number.MAX_SAFE_INTEGER : now, want, skip);
      if (r.webhook && rows.length)
        gate?.started(r.webhook, rows.length, r.probe, now, r.probe ? rows[0]!.id : undefined);
      if (rows.length) {
        const taken = this.excluded.get(r.id) ?? new Set<string>();
        this.excluded.set(r.id, taken);
        for (const row of rows) {
          starts.push({ row, webhook: r.webhook });
          taken.add(row.id);
        }
      }
      if (rows.length) this.busy.set(r.id, (this.busy.get(r.id) ?? 0) + rows.length);
      this.running += rows.length;
      capacity -= rows.length;
      this.served.set(r.id, ++this.serveTick);
      if (rows.length < want && !r.probe) {
        // Nothing more due now: remember when this webhook's next delivery is.
        const next = work.nextDueOf(r.id, this.skip(r.id));
        if (next === undefined) this.dueAt.delete(r.id);
        else this.dueAt.set(r.id, next);
      } else if (r.probe && rows.length === 0) this.dueAt.delete(r.id);
    }
    return starts;
  }
}
