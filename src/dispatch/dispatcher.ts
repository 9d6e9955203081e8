/**
 * The dispatcher: the pump that starts what the scheduler picks, runs each
 * attempt through its transport, records it, and applies what the delivery
 * policy decides (DESIGN.md section 4). The transports only classify
 * outcomes; retries, dead letters and state changes are decided by
 * `delivery-policy.ts`, which pieces start when by `scheduler.ts`.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import type { Metrics } from '../metrics/index.ts';
import type { AttemptResult, DeliveryStore, NewDelivery } from '../outbox/index.ts';
import type { Webhook } from '../rules/index.ts';
import type { RenderedRequest, SendResult, TransportInstance } from '../transports/index.ts';
import { reportAttempt } from './attempt-report.ts';
import { runAttempt } from './attempt-runner.ts';
import { Deadlines } from './deadlines.ts';
import { type Decision, decide, perWebhookConcurrency, policyFor } from './delivery-policy.ts';
import type { DueRow, DueWork } from './due-work.ts';
import { FreshWork, waitingByWebhook } from './fresh-work.ts';
import { Gates, type StateGate } from './gates.ts';
import { RateLimits } from './rate-limit.ts';
import { ResultWriter } from './result-writer.ts';
import { Scheduler } from './scheduler.ts';

export interface DispatcherDeps {
  /** Where due work comes from (the outbox); deliveries just stored come from memory (`stored`). */
  work: DueWork;
  /** Where attempt results are written; `recount` re-reads its delivery counts on each rescan. */
  outbox: Pick<DeliveryStore, 'complete' | 'claimed' | 'released'> & {
    recount?(): void;
    /** How long attempt results may wait to be written together (absent: the result writer's default). */
    readonly resultDelayMs?: number;
  };
  /** The webhook as currently configured (undefined when it was removed). */
  webhook: (id: string) => Webhook | undefined;
  transport: (type: string) => TransportInstance | undefined;
  settings: Config['delivery'];
  metrics: Metrics;
  logger: Logger;
  /** Whether a webhook may get new attempts now (state, breaker); absent: always. */
  admission?: StateGate;
  /** Told of every finished attempt and what it does to its webhook (breaker, 410). */
  onAttempt?: (webhook: Webhook, decision: Decision, result: SendResult, deliveryId: string) => void;
  /** How many replicas share each webhook's rate limit (cluster mode); absent: this process alone. */
  rateLimitReplicas?: () => number;
  now?: () => number;
  random?: () => number;
}

/** How often the whole outbox is re-read for due work (cheap index scan; also on reload). */
const RESCAN_MS = 60_000;
/** Wake at least this often even when nothing is known to be due. */
const IDLE_POLL_MS = 1000;

export class Dispatcher {
  /** Attempts in flight. */
  private running = 0;
  /** Attempt timeouts, shared by attempts that start together; shutdown aborts them all. */
  private readonly deadlines: Deadlines;
  private readonly scheduler: Scheduler;
  /** Fresh deliveries from memory; undefined when the work source hands out every delivery itself (`ownQueue`). */
  private readonly fresh: FreshWork | undefined;
  private readonly rateLimits: RateLimits;
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
    this.rateLimits = new RateLimits(deps.rateLimitReplicas);
    this.deadlines = new Deadlines(this.now);
    this.fresh = deps.work.ownQueue ? undefined : new FreshWork(deps.work);
    this.scheduler = new Scheduler({
      work: this.fresh ?? deps.work,
      webhook: deps.webhook,
      gate: new Gates({ states: deps.admission, rateLimits: this.rateLimits }),
      concurrency: deps.settings.concurrency,
      perWebhookConcurrency: perWebhookConcurrency(deps.settings),
      now: this.now,
    });
    this.results = new ResultWriter({
      outbox: deps.outbox,
      delayMs: deps.outbox.resultDelayMs,
      logger: deps.logger,
      now: this.now,
      // Written: these deliveries may be read again, and retries are due when scheduled.
      onWritten: (batch) => {
        for (const { result, webhookId } of batch) {
          this.scheduler.written(webhookId, result.deliveryId);
          if (result.next.state === 'pending') {
            // A retry waits in the store, not in memory.
            this.fresh?.toStore(webhookId);
            this.notify(webhookId, result.next.at);
          }
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
    this.rescanTimer.unref?.();
  }

  /** Re-reads every webhook's earliest due delivery (at start, after bulk requeues). */
  rescan(): void {
    this.scheduler.rescan();
    // Another process (`hookd retry`) may have moved deliveries: the counts follow the store.
    this.deps.outbox.recount?.();
    this.wake();
  }

  /** Re-reads one webhook's earliest pending delivery (it was resumed, or its deliveries requeued). */
  rescanWebhook(webhookId: string): void {
    this.fresh?.toStore(webhookId);
    const next = this.scheduler.rescanWebhook(webhookId);
    if (next !== undefined) this.notify(webhookId, next);
  }

  /**
   * Deliveries just stored (their commit returned): sent from memory.
   * `allNew`: the store added every one of them (none was a redelivered
   * event's); false, or for a store whose own queue hands deliveries out,
   * their webhooks are read from the store.
   */
  stored(deliveries: readonly NewDelivery[], allNew: boolean): void {
    for (const [webhookId, rows] of waitingByWebhook(deliveries)) {
      if (allNew) this.fresh?.add(webhookId, rows, (id) => this.scheduler.isTaken(webhookId, id));
      else this.fresh?.toStore(webhookId);
      this.notify(webhookId, Math.min(...rows.map((r) => r.at)));
    }
  }

  /** Resolves when intake may store more: deliveries waiting in memory are bounded. */
  room(): Promise<void> {
    return this.fresh?.room() ?? Promise.resolve();
  }

  /** New or requeued deliveries of `webhookId` are due at `at`. */
  notify(webhookId: string, at: number): void {
    this.scheduler.notify(webhookId, at);
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
    return this.running;
  }

  private pump(): void {
    try {
      do {
        this.again = false;
        if (this.stopped) break;
        const starts = this.scheduler.take();
        for (const { row, webhook } of starts) this.run(row, webhook);
        this.deps.outbox.claimed(starts.length);
      } while (this.again);
    } catch (err) {
      this.deps.logger.error({ err }, 'dispatcher could not read the outbox; retrying');
    } finally {
      this.pumping = false;
      this.scheduleWake();
    }
  }

  /** Sleeps until the earliest future due time (completions and notifications wake it sooner). */
  private scheduleWake(): void {
    if (this.stopped) return;
    clearTimeout(this.wakeTimer);
    const next = this.scheduler.wakeAt();
    const delay = Math.min(IDLE_POLL_MS, Number.isFinite(next) ? next - this.now() : IDLE_POLL_MS);
    this.wakeTimer = setTimeout(() => this.wake(), Math.max(1, delay));
    this.wakeTimer.unref?.();
  }

  private run(row: DueRow, webhook: Webhook | undefined): void {
    this.running++;
    void this.attempt(row, webhook).finally(() => {
      this.running--;
      this.scheduler.finished(row.webhook_id);
      if (this.running === 0) for (const fn of this.idle) fn();
      this.wake();
    });
  }

  private async attempt(row: DueRow, webhook: Webhook | undefined): Promise<void> {
    const { settings } = this.deps;
    const attemptNo = row.attempts + 1;
    let run: { result: SendResult; startedAt: number; durationMs: number };
    if (!webhook) {
      run = {
        result: { outcome: 'permanent', error: 'the webhook was removed' },
        startedAt: this.now(),
        durationMs: 0,
      };
    } else {
      run = await runAttempt({
        transport: this.deps.transport(webhook.type),
        delivery: {
          id: row.id,
          eventId: row.event_id,
          eventType: row.event_type,
          attempt: attemptNo,
          request: () => row.request as RenderedRequest,
          webhook,
        },
        timeoutMs: webhook.timeoutMs ?? settings.timeoutMs,
        signal: this.deadlines.signal(webhook.timeoutMs ?? settings.timeoutMs),
        now: this.now,
      });
    }
    const { result, startedAt, durationMs } = run;
    // Attempts cut short by shutdown are released, not counted against the retries.
    if (this.shutdown.signal.aborted && result.outcome === 'retryable') {
      this.deps.outbox.released(1);
      this.fresh?.toStore(row.webhook_id);
      this.scheduler.written(row.webhook_id, row.id);
      return;
    }
    const decision = decide(policyFor(webhook, settings), result, attemptNo, this.now(), this.random);
    const { next } = decision;
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

    reportAttempt(this.deps, row, webhook?.type ?? row.transport, attemptNo, run, next, this.now());
    if (webhook) this.deps.onAttempt?.(webhook, decision, result, row.id);
  }

  /** Writes pending attempt results now (shutdown, tests). */
  flush(): Promise<void> {
    return this.results.flush();
  }

  /**
   * Stops claiming, lets in-flight attempts finish for up to `timeoutMs`,
   * then aborts the rest (they go back to the queue) and writes all results.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    clearTimeout(this.wakeTimer);
    clearInterval(this.rescanTimer);
    if (this.running > 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.idle.delete(done);
          resolve();
        };
        const timer = setTimeout(() => {
          this.shutdown.abort(new Error('shutting down'));
          this.deadlines.abortAll(new Error('hookd is shutting down'));
          // Aborted attempts settle promptly; give them a moment to release.
          setTimeout(done, 1000).unref?.();
        }, timeoutMs);
        this.idle.add(done);
      });
    }
    await this.flush();
  }
}
