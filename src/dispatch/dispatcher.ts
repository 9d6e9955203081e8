/**
 * The dispatcher: claims due deliveries from the outbox, sends them through
 * their transport with bounded global and per-webhook concurrency, records
 * every attempt, and decides what happens next (DESIGN.md section 4). The
 * transports only classify outcomes; retries and dead letters are decided here.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { AttemptResult, DeliveryRow, Outbox } from '../outbox/store.ts';
import type { Webhook } from '../rules/webhook-schema.ts';
import type { RenderedRequest, SendResult, TransportInstance } from '../transports/contract.ts';
import { nextRetryDelay, type RetryPolicy } from './retry-policy.ts';

export interface DispatcherDeps {
  outbox: Outbox;
  /** The webhook as currently configured (undefined when it was removed). */
  webhook: (id: string) => Webhook | undefined;
  transport: (type: string) => TransportInstance | undefined;
  settings: Config['delivery'];
  metrics: Metrics;
  logger: Logger;
  /** True while a webhook's deliveries must be held (Stopped, TooManyErrors). */
  isHeld?: (webhook: Webhook) => boolean;
  /** Told of every finished attempt (breaker bookkeeping, state changes). */
  onAttempt?: (webhook: Webhook, result: SendResult, attempt: AttemptResult) => void;
  now?: () => number;
  random?: () => number;
}

/** How long results may wait before they are written in one transaction. */
const FLUSH_MS = 5;
const FLUSH_MAX = 512;
/** Poll at least this often, so deliveries released by other means are picked up. */
const IDLE_POLL_MS = 1000;

export class Dispatcher {
  private readonly inflight = new Map<string, { controller: AbortController; webhookId: string }>();
  private readonly perWebhook = new Map<string, number>();
  private results: AttemptResult[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
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
  }

  start(): void {
    this.stopped = false;
    this.wake();
  }

  /** Something may be due now (new deliveries stored, a webhook resumed). */
  wake(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    queueMicrotask(() => this.pump());
  }

  get inFlight(): number {
    return this.inflight.size;
  }

  private limitFor(w: Webhook): number {
    return w.concurrency ?? this.deps.settings.perWebhookConcurrency;
  }

  private pump(): void {
    const { outbox, settings } = this.deps;
    try {
      do {
        this.again = false;
        if (this.stopped) break;
        const capacity = settings.concurrency - this.inflight.size;
        if (capacity <= 0) break;
        const now = this.now();
        const rows = outbox.due(now, capacity * 4);
        const picked: { row: DeliveryRow; webhook: Webhook | undefined }[] = [];
        const taken = new Map<string, number>();
        for (const row of rows) {
          if (picked.length >= capacity) break;
          const webhook = this.deps.webhook(row.webhook_id);
          if (webhook) {
            if (this.deps.isHeld?.(webhook)) continue;
            const busy = (this.perWebhook.get(row.webhook_id) ?? 0) + (taken.get(row.webhook_id) ?? 0);
            if (busy >= this.limitFor(webhook)) continue;
          }
          taken.set(row.webhook_id, (taken.get(row.webhook_id) ?? 0) + 1);
          picked.push({ row, webhook });
        }
        if (picked.length === 0) break;
        outbox.claim(
          picked.map((p) => p.row.id),
          now,
        );
        for (const p of picked) this.run(p.row, p.webhook);
        // A full page may have more behind it.
        if (rows.length === capacity * 4) this.again = true;
      } while (this.again);
    } catch (err) {
      this.deps.logger.error({ err }, 'dispatcher could not read the outbox; retrying');
    } finally {
      this.pumping = false;
      this.scheduleWake();
    }
  }

  private scheduleWake(): void {
    if (this.stopped) return;
    clearTimeout(this.wakeTimer);
    let delay = IDLE_POLL_MS;
    try {
      const at = this.deps.outbox.nextDueAt();
      if (at !== undefined) delay = Math.min(delay, Math.max(0, at - this.now()));
    } catch {}
    // When every due row is blocked by limits, completions wake us; do not spin.
    if (delay === 0) delay = this.inflight.size > 0 ? IDLE_POLL_MS : 10;
    this.wakeTimer = setTimeout(() => this.wake(), delay);
    this.wakeTimer.unref?.();
  }

  private run(row: DeliveryRow, webhook: Webhook | undefined): void {
    const controller = new AbortController();
    this.inflight.set(row.id, { controller, webhookId: row.webhook_id });
    this.perWebhook.set(row.webhook_id, (this.perWebhook.get(row.webhook_id) ?? 0) + 1);
    void this.attempt(row, webhook, controller).finally(() => {
      this.inflight.delete(row.id);
      const n = (this.perWebhook.get(row.webhook_id) ?? 1) - 1;
      if (n <= 0) this.perWebhook.delete(row.webhook_id);
      else this.perWebhook.set(row.webhook_id, n);
      if (this.inflight.size === 0) for (const fn of this.idle) fn();
      this.wake();
    });
  }

  private async attempt(row: DeliveryRow, webhook: Webhook | undefined, controller: AbortController): Promise<void> {
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
        const timeout = AbortSignal.timeout(webhook.timeoutMs ?? settings.timeoutMs);
        const signal = AbortSignal.any([timeout, controller.signal, this.shutdown.signal]);
        try {
          result = await transport.send(
            {
              id: row.id,
              eventId: row.event_id,
              eventType: row.event_type,
              attempt: attemptNo,
              request: JSON.parse(row.request) as RenderedRequest,
              webhook,
            },
            signal,
          );
        } catch (err) {
          // A transport must classify its own failures; an escaped exception is a bug, retried.
          result = { outcome: 'retryable', error: `transport failed: ${(err as Error).message}` };
        }
      }
    }
    const durationMs = performance.now() - t0;
    // Attempts cut short by shutdown are released, not counted against the retries.
    if (this.shutdown.signal.aborted && result.outcome === 'retryable') {
      this.deps.outbox.release([row.id], this.now());
      return;
    }
    const policy: RetryPolicy = {
      schedule: webhook?.retry?.schedule ?? settings.retry.schedule,
      jitter: webhook?.retry?.jitter ?? settings.retry.jitter,
      maxRetryAfterMs: settings.retry.maxRetryAfterMs,
    };
    let next: AttemptResult['next'];
    if (result.outcome === 'success') next = { state: 'succeeded' };
    else if (result.outcome === 'permanent') next = { state: 'failed' };
    else {
      const delay = nextRetryDelay(policy, attemptNo, this.random, result.retryAfterMs);
      next = delay === undefined ? { state: 'failed' } : { state: 'pending', at: this.now() + delay };
    }
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
    this.record(attempt);

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

  private record(r: AttemptResult): void {
    this.results.push(r);
    if (this.results.length >= FLUSH_MAX) this.flush();
    else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => this.flush(), FLUSH_MS);
    }
  }

  /** Writes pending attempt results in one transaction. */
  flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.results.length === 0) return;
    const batch = this.results;
    this.results = [];
    try {
      this.deps.outbox.complete(batch, this.now());
    } catch (err) {
      // Keep them and try again: an unrecorded result would resend, never lose, the delivery.
      this.deps.logger.error({ err, results: batch.length }, 'could not record attempt results; retrying');
      this.results = batch.concat(this.results);
      this.flushTimer = setTimeout(() => this.flush(), 1000);
    }
  }

  /**
   * Stops claiming, lets in-flight attempts finish for up to `timeoutMs`,
   * then aborts the rest (they go back to the queue) and writes all results.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    clearTimeout(this.wakeTimer);
    if (this.inflight.size > 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.idle.delete(done);
          resolve();
        };
        const timer = setTimeout(() => {
          this.shutdown.abort(new Error('shutting down'));
          // Aborted attempts settle promptly; give them a moment to release.
          setTimeout(done, 1000).unref?.();
        }, timeoutMs);
        this.idle.add(done);
      });
    }
    this.flush();
  }
}
