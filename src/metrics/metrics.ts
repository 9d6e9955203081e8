/**
 * Every Prometheus instrument hookd exports (DESIGN.md section 6), in one
 * place. Stages get this object and record; they never create metrics.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Buckets for a delivery: 1 ms to 30 s and beyond (retries make end-to-end times long). */
const DELIVERY_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200,
];

export interface MetricsOptions {
  /** Label per-webhook series with the identifier (else every series says `all`). */
  perWebhookLabels: boolean;
  /** Collect process metrics (CPU, memory, event loop lag). Off in unit tests that make many instances. */
  processMetrics?: boolean;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly perWebhook: boolean;

  readonly eventsReceived = new Counter({
    name: 'hookd_events_received_total',
    help: 'Events received, by source (nats, http).',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly eventsRejected = new Counter({
    name: 'hookd_events_rejected_total',
    help: 'Events rejected and kept in the rejected table, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly deliveries = new Counter({
    name: 'hookd_deliveries_total',
    help: 'Deliveries that reached a final outcome (succeeded, failed).',
    labelNames: ['webhook', 'type', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly attempts = new Counter({
    name: 'hookd_delivery_attempts_total',
    help: 'Delivery attempts, by outcome (success, retryable, permanent).',
    labelNames: ['webhook', 'type', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly deliveryDuration = new Histogram({
    name: 'hookd_delivery_duration_seconds',
    help: 'Time from receiving the event to the final outcome of the delivery.',
    labelNames: ['type'] as const,
    buckets: DELIVERY_BUCKETS,
    registers: [this.registry],
  });
  readonly attemptDuration = new Histogram({
    name: 'hookd_delivery_attempt_duration_seconds',
    help: 'Duration of one delivery attempt.',
    labelNames: ['type'] as const,
    buckets: DELIVERY_BUCKETS,
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'hookd_queue_depth',
    help: 'Deliveries in the outbox by state.',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly webhookState = new Gauge({
    name: 'hookd_webhook_state',
    help: '1 for the state each webhook is in (Active, Stopped, TooManyErrors).',
    labelNames: ['webhook', 'state'] as const,
    registers: [this.registry],
  });
  readonly breakerTransitions = new Counter({
    name: 'hookd_breaker_transitions_total',
    help: 'Circuit breaker transitions, by target state.',
    labelNames: ['webhook', 'to'] as const,
    registers: [this.registry],
  });
  readonly ruleEvaluation = new Histogram({
    name: 'hookd_rule_evaluation_seconds',
    help: 'Time to select the webhooks for one event.',
    buckets: [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01],
    registers: [this.registry],
  });
  readonly conditionErrors = new Counter({
    name: 'hookd_condition_errors_total',
    help: 'groupCondition evaluations that failed (counted as false).',
    labelNames: ['webhook'] as const,
    registers: [this.registry],
  });
  readonly renderErrors = new Counter({
    name: 'hookd_render_errors_total',
    help: 'Requests that could not be rendered (stored as failed deliveries).',
    labelNames: ['webhook'] as const,
    registers: [this.registry],
  });
  readonly configReloads = new Counter({
    name: 'hookd_config_reloads_total',
    help: 'Rule reloads, by result (success, error).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly natsPending = new Gauge({
    name: 'hookd_nats_consumer_pending',
    help: 'Messages in the stream not yet delivered to the hookd consumer.',
    registers: [this.registry],
  });

  constructor(opts: MetricsOptions) {
    this.perWebhook = opts.perWebhookLabels;
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'hookd_' });
  }

  /** The `webhook` label value: the identifier, or `all` when per-webhook labels are off. */
  webhookLabel(identifier: string): string {
    return this.perWebhook ? identifier : 'all';
  }

  /** Reads a gauge's value from a callback at scrape time (cheap sources only). */
  onScrape(fn: () => void): void {
    this.scrapeHooks.push(fn);
  }
  private readonly scrapeHooks: (() => void)[] = [];

  async text(): Promise<string> {
    for (const fn of this.scrapeHooks) fn();
    return this.registry.metrics();
  }
}
