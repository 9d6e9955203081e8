/**
 * The dispatcher: claims due deliveries from the outbox, sends them through
 * their transport with bounded global and per-webhook concurrency, records
 * every attempt, and decides what happens next (DESIGN.md section 4). The
 * transports only classify outcomes; retries and dead letters are decided here.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { AttemptResult, DueRow, Outbox } from '../outbox/store.ts';
import type { Webhook } from '../rules/webhook-schema.ts';
import type { RenderedRequest, SendResult, TransportInstance } from '../transports/contract.ts';
import { TokenBucket } from './rate-limit.ts';
import { ResultWriter } from './result-writer.ts';
import { nextStep, type RetryPolicy } from './retry-policy.ts';
import type { Admission } from './webhook-states.ts';

export interface DispatcherDeps {
  outbox: Outbox;
  /** The webhook as currently configured (undefined when it was removed). */
  webhook: (id: string) => Webhook | undefined;
  transport: (type: string) => TransportInstance | undefined;
  settings: Config['delivery'];
  metrics: Metrics;
  logger: Logger;
  /** Whether a webhook may get new attempts now (state, breaker); absent: always. */
  admission?: {
    admit(webhook: Webhook, now: number): Admission;
    probeStarted(webhook: Webhook): void;
  };
  /** Told of every finished attempt (breaker bookkeeping, state changes). */
  onAttempt?: (webhook: Webhook, result: SendResult, attempt: AttemptResult) => void;
  now?: () => number;
  random?: () => number;
}

/** How often the whole outbox is re-read for due work (cheap index scan; also on reload). */
const RESCAN_MS = 60_000;
/** Wake at least this often even when nothing is known to be due. */
const IDLE_POLL_MS = 1000;

export class Dispatcher {
  /** Attempts in flight, by delivery id. */
  private readonly inflight = new Map<string, { controller: AbortController; webhookId: string }>();
  /** Per webhook: attempts in flight now. */
  private readonly busy = new Map<string, number>();
  /**
   * Per webhook: deliveries that must not be read again yet: in flight, or
   * finished with their result not yet written.
   */
  private readonly excluded = new Map<string, Set<string>>();
  /** Per webhook with pending deliveries: the earliest time one may be due (never later than the truth). */
  private readonly dueAt = new Map<string, number>();
  /** Per webhook: when it was last served, for round-robin among equals. */
  private readonly served = new Map<string, number>();
  private serveTick = 0;
  /** Rate limits of webhooks that have one. */
  private readonly buckets = new Map<string, TokenBucket>();
  /** The earliest time a held webhook (breaker cooldown, rate limit) may go again. */
  private heldUntil = Number.POSITIVE_INFINITY;
  private readonly results: ResultWriter;
  private wakeTimer: NodeJS.Timeout | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private pumping = false;
  private again = false;
  private stopped = true;
  private readonly idle = new Set<() => void>();
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly shutdown = new AbortController();

  constructor(private readonly deps: DispatcherDeps) {
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.results = new ResultWriter({
      outbox: deps.outbox,
      logger: deps.logger,
      now: this.now,
      // Written: these deliveries may be read again, and retries are due when scheduled.
      onWritten: (batch) => {
        for (const { result, webhookId } of batch) {
          this.excluded.get(webhookId)?.delete(result.deliveryId);
          if (result.next.state === 'pending') this.notify(webhookId, result.next.at);
        }
      },
    });
  }

  /** Reads which webhooks have pending deliveries from the store, then starts sending. */
  start(): void {
    this.stopped = false;
    this.rescan();
    // Deliveries requeued by another process (`hookd retry`) are found within a minute.
    this.rescanTimer = setInterval(() => this.rescan(), RESCAN_MS);
    this.rescanTimer.unref();
  }

  /** Re-reads every webhook's earliest due delivery (at start, after bulk requeues). */
  rescan(): void {
    for (const { webhookId, at } of this.deps.outbox.dueByWebhook()) this.dueAt.set(webhookId, at);
    this.wake();
  }

  /** Re-reads one webhook's earliest pending delivery (it was resumed, or its deliveries requeued). */
  rescanWebhook(webhookId: string): void {
    const next = this.deps.outbox.nextDueOf(webhookId, [...(this.excluded.get(webhookId) ?? [])]);
    if (next !== undefined) this.notify(webhookId, next);
  }

  /** New or requeued deliveries of `webhookId` are due at `at`. */
  notify(webhookId: string, at: number): void {
    const cur = this.dueAt.get(webhookId);
    if (cur === undefined || at < cur) this.dueAt.set(webhookId, at);
    if (at <= this.now()) this.wake();
    else this.scheduleWake();
  }

  /** Something may be due now (deliveries stored, a webhook resumed). */
  wake(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    // setImmediate, not a microtask: completions that land together share one pump.
    setImmediate(() => this.pump());
  }

  get inFlight(): number {
    return this.inflight.size;
  }

  private limitFor(w: Webhook | undefined): number {
    return w?.concurrency ?? this.deps.settings.perWebhookConcurrency;
  }

  private excludedOf(webhookId: string): Set<string> {
    let s = this.excluded.get(webhookId);
    if (!s) {
      s = new Set();
      this.excluded.set(webhookId, s);
    }
    return s;
  }

  /**
   * Serves webhooks with due deliveries: lower priority numbers first, then
   * the one served longest ago, each up to its own concurrency limit, so a
   * slow or huge backlog never holds the global capacity.
   */
  private pump(): void {
    const { outbox, settings } = this.deps;
    this.heldUntil = Number.POSITIVE_INFINITY;
    try {
      do {
        this.again = false;
        if (this.stopped) break;
        let capacity = settings.concurrency - this.inflight.size;
        if (capacity <= 0) break;
        const now = this.now();
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
          let free = this.limitFor(webhook) - (this.busy.get(id) ?? 0);
          if (free <= 0) continue;
          let probe = false;
          if (webhook) {
            const gate = this.deps.admission?.admit(webhook, now);
            if (gate) {
              if (gate.allowed <= 0) {
                if (gate.wakeAt !== undefined) this.heldUntil = Math.min(this.heldUntil, gate.wakeAt);
                continue;
              }
              free = Math.min(free, gate.allowed);
              probe = gate.probe;
            }
            const bucket = this.bucketFor(webhook, now);
            if (bucket) {
              const tokens = bucket.available(now);
              if (tokens <= 0) {
                this.heldUntil = Math.min(this.heldUntil, bucket.nextAt(now));
                continue;
              }
              free = Math.min(free, tokens);
            }
          }
          ready.push({ id, webhook, priority: webhook?.priority ?? 0, free, probe });
        }
        ready.sort(
          (a, b) => a.priority - b.priority || (this.served.get(a.id) ?? 0) - (this.served.get(b.id) ?? 0),
        );
        let started = 0;
        for (const r of ready) {
          if (capacity <= 0) break;
          const want = Math.min(r.free, capacity);
          const skip = this.excludedOf(r.id);
          // A half-open probe takes the earliest pending delivery, due or not.
          const rows = outbox.due(r.id, r.probe ? Number.MAX_SAFE_INTEGER : now, want, [...skip]);
          if (r.webhook) {
            if (r.probe && rows.length) this.deps.admission?.probeStarted(r.webhook);
            if (rows.length) this.buckets.get(r.id)?.take(rows.length, now);
          }
          for (const row of rows) this.run(row, r.webhook);
          started += rows.length;
          capacity -= rows.length;
          this.served.set(r.id, ++this.serveTick);
          if (rows.length < want && !r.probe) {
            // Nothing more due now: remember when this webhook's next delivery is.
            const next = outbox.nextDueOf(r.id, [...skip]);
            if (next === undefined) this.dueAt.delete(r.id);
            else this.dueAt.set(r.id, next);
          } else if (r.probe && rows.length === 0) this.dueAt.delete(r.id);
        }
        outbox.claimed(started);
      } while (this.again);
    } catch (err) {
      this.deps.logger.error({ err }, 'dispatcher could not read the outbox; retrying');
    } finally {
      this.pumping = false;
      this.scheduleWake();
    }
  }

  private bucketFor(w: Webhook, now: number): TokenBucket | undefined {
    if (!w.rateLimit) return undefined;
    let b = this.buckets.get(w.id);
    if (!b) {
      b = new TokenBucket(w.rateLimit.perSecond, w.rateLimit.burst, now);
      this.buckets.set(w.id, b);
    }
    return b;
  }

  /** Sleeps until the earliest future due time (completions and notifications wake it sooner). */
  private scheduleWake(): void {
    if (this.stopped) return;
    clearTimeout(this.wakeTimer);
    const now = this.now();
    let next = Number.POSITIVE_INFINITY;
    for (const at of this.dueAt.values()) if (at > now && at < next) next = at;
    if (this.heldUntil > now) next = Math.min(next, this.heldUntil);
    const delay = Math.min(IDLE_POLL_MS, Number.isFinite(next) ? next - now : IDLE_POLL_MS);
    this.wakeTimer = setTimeout(() => this.wake(), Math.max(1, delay));
    this.wakeTimer.unref?.();
  }

  private run(row: DueRow, webhook: Webhook | undefined): void {
    const controller = new AbortController();
    this.inflight.set(row.id, { controller, webhookId: row.webhook_id });
    this.busy.set(row.webhook_id, (this.busy.get(row.webhook_id) ?? 0) + 1);
    this.excludedOf(row.webhook_id).add(row.id);
    void this.attempt(row, webhook, controller).finally(() => {
      this.inflight.delete(row.id);
      const n = (this.busy.get(row.webhook_id) ?? 1) - 1;
      if (n <= 0) this.busy.delete(row.webhook_id);
      else this.busy.set(row.webhook_id, n);
      if (this.inflight.size === 0) for (const fn of this.idle) fn();
      this.wake();
    });
  }

  private async attempt(
    row: DueRow,
    webhook: Webhook | undefined,
    controller: AbortController,
  ): Promise<void> {
    const { metrics, logger, settings } = this.deps;
    const attemptNo = row.attempts + 1;
    const startedAt = this.now();
    const t0 = performance.now();
    let result: SendResult;
    if (!webhook) {
      result = { outcome: 'permanent', error: 'the webhook was removed' };
    } else {
      const transport = this.deps.transport(webhook.type);
      if (!transport) {
        result = { outcome: 'permanent', error: `no transport for type "${webhook.type}"` };
      } else {
        // One controller per attempt, aborted by its timer or by shutdown (AbortSignal.any is slow on Node 20).
        const timeoutMs = webhook.timeoutMs ?? settings.timeoutMs;
        const timer = setTimeout(
          () => controller.abort(new DOMException(`no response within ${timeoutMs} ms`, 'TimeoutError')),
          timeoutMs,
        );
        const signal = controller.signal;
        try {
          const request = JSON.parse(row.request) as RenderedRequest;
          result = await transport.send(
            {
              id: row.id,
              eventId: row.event_id,
              eventType: row.event_type,
              attempt: attemptNo,
              request,
              webhook,
            },
            signal,
          );
        } catch (err) {
          // A transport must classify its own failures; an escaped exception is a bug, retried.
          result = { outcome: 'retryable', error: `transport failed: ${(err as Error).message}` };
        } finally {
          clearTimeout(timer);
        }
      }
    }
    const durationMs = performance.now() - t0;
    // Attempts cut short by shutdown are released, not counted against the retries.
    if (this.shutdown.signal.aborted && result.outcome === 'retryable') {
      this.deps.outbox.released(1);
      this.excluded.get(row.webhook_id)?.delete(row.id);
      return;
    }
    const policy: RetryPolicy = {
      schedule: webhook?.retry?.schedule ?? settings.retry.schedule,
      jitter: webhook?.retry?.jitter ?? settings.retry.jitter,
      maxRetryAfterMs: settings.retry.maxRetryAfterMs,
    };
    const next = nextStep(policy, result, attemptNo, this.now(), this.random);
    const attempt: AttemptResult = {
      deliveryId: row.id,
      attempt: attemptNo,
      startedAt,
      durationMs,
      outcome: result.outcome,
      status: result.status,
      error: result.outcome === 'success' ? undefined : result.error,
      response: result.response,
      next,
    };
    this.results.add(attempt, row.webhook_id);

    const type = webhook?.type ?? row.transport;
    const label = metrics.webhookLabel(row.identifier);
    metrics.attempts.inc({ webhook: label, type, outcome: result.outcome });
    metrics.attemptDuration.observe({ type }, durationMs / 1000);
    if (next.state !== 'pending') {
      const outcome = next.state;
      metrics.deliveries.inc({ webhook: label, type, outcome });
      metrics.deliveryDuration.observe({ type }, (this.now() - row.received_at) / 1000);
    }
    const log = {
      delivery: row.id,
      event: row.event_id,
      webhook: row.identifier,
      webhookId: row.webhook_id,
      attempt: attemptNo,
      outcome: result.outcome,
      status: result.status,
      latencyMs: Math.round(durationMs * 10) / 10,
      next: next.state,
      ...(result.outcome === 'success' ? {} : { error: result.error }),
    };
    if (result.outcome === 'success') logger.info(log, 'delivered');
    else if (next.state === 'failed') logger.warn(log, 'delivery failed');
    else logger.info(log, 'delivery attempt failed; will retry');
    if (webhook) this.deps.onAttempt?.(webhook, result, attempt);
  }

  /** Writes pending attempt results now (shutdown, tests). */
  flush(): void {
    this.results.flush();
  }

  /**
   * Stops claiming, lets in-flight attempts finish for up to `timeoutMs`,
   * then aborts the rest (they go back to the queue) and writes all results.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    clearTimeout(this.wakeTimer);
    clearInterval(this.rescanTimer);
    if (this.inflight.size > 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.idle.delete(done);
          resolve();
        };
        const timer = setTimeout(() => {
          this.shutdown.abort(new Error('shutting down'));
          for (const { controller } of this.inflight.values())
            controller.abort(new Error('hookd is shutting down'));
          // Aborted attempts settle promptly; give them a moment to release.
          setTimeout(done, 1000).unref?.();
        }, timeoutMs);
        this.idle.add(done);
      });
    }
    this.flush();
  }
}
