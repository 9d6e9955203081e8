/**
 * Every Prometheus instrument hookd exports (DESIGN.md section 6), in one
 * place. Stages get this object and record; they never create metrics.
 *
 * Series that panels and alerts rely on exist from the start at zero
 * (see `initWebhooks` and the constructor): Prometheus cannot see the first
 * increase of a series that appears already at 1, so without this the first
 * dead letter of a webhook would never show in `increase()` or fire an alert.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { type MetricsFormat, openMetricsText } from './openmetrics.ts';

/** One attempt: 1 ms to 30 s (the longest sensible transport timeout). */
export const ATTEMPT_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30,
] as const;

/**
 * Event received to final outcome: the attempt range, then the retry schedule's
 * reach (the default schedule gives up after about 28 h, 33 h with jitter).
 */
export const DELIVERY_BUCKETS = [
  ...ATTEMPT_BUCKETS,
  60,
  300,
  1800,
  7200,
  21600,
  43200,
  86400,
  172800,
] as const;

/** Selecting webhooks for one event: microseconds normally, milliseconds with huge catalogs. */
export const RULE_BUCKETS = [
  0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1,
] as const;

// Known label values, created at zero. Metrics is a base lane (every stage
// uses it, it uses none), so it lists them itself; test/unit/metrics/labels.test.ts
// makes the type checker fail when a value is added upstream and not here.
export const EVENT_SOURCES = ['nats', 'http'] as const;
export const REJECT_REASONS = [
  'invalid_json',
  'not_object',
  'too_large',
  'too_deep',
  'unprocessable',
  'missing_id',
  'invalid_id',
  'invalid_batch',
  'redelivered',
] as const;
export const ATTEMPT_OUTCOMES = ['success', 'retryable', 'permanent'] as const;
export const DELIVERY_OUTCOMES = ['succeeded', 'failed'] as const;
export const RELOAD_RESULTS = ['success', 'error'] as const;
/** Breaker modes a transition can go to (`hookd_breaker_transitions_total{to}`). */
export const BREAKER_TARGETS = ['open', 'half-open', 'closed'] as const;

/** Prom-client's default `*_total` gauges break the naming convention (`promtool check metrics` flags them). */
const NON_CONFORMING_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

export interface MetricsOptions {
  /**
   * Label per-webhook series with the identifier (else every series says
   * `all`). Per-webhook series cost about a dozen series per identifier.
   * @default true
   */
  perWebhookLabels: boolean;
  /** Collect process metrics (CPU, memory, event loop lag). Off in unit tests that make many instances. */
  processMetrics?: boolean;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly perWebhook: boolean;
  /** `webhook\0type` pairs whose series exist. */
  private readonly initialised = new Set<string>();
  private readonly scrapeHooks: (() => void)[] = [];

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
    help: 'Deliveries that reached a final outcome (succeeded; failed: dead-lettered).',
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
    help: 'Time from receiving the event to the final outcome of the delivery, retries included.',
    labelNames: ['type'] as const,
    buckets: [...DELIVERY_BUCKETS],
    registers: [this.registry],
  });
  readonly attemptDuration = new Histogram({
    name: 'hookd_delivery_attempt_duration_seconds',
    help: 'Duration of one delivery attempt.',
    labelNames: ['type'] as const,
    buckets: [...ATTEMPT_BUCKETS],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'hookd_queue_depth',
    help: 'Deliveries in the outbox by state (pending includes held and scheduled retries).',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly storeBytes = new Gauge({
    name: 'hookd_store_bytes',
    help: 'Bytes the store takes on disk (SQLite: the database file, its WAL and shared memory).',
    registers: [this.registry],
  });
  readonly webhookState = new Gauge({
    name: 'hookd_webhook_state',
    help: 'Webhooks in each state (Active, Stopped, TooManyErrors), by identifier.',
    labelNames: ['webhook', 'state'] as const,
    registers: [this.registry],
  });
  readonly breakerTransitions = new Counter({
    name: 'hookd_breaker_transitions_total',
    help: 'Circuit breaker transitions, by target mode.',
    labelNames: ['webhook', 'to'] as const,
    registers: [this.registry],
  });
  readonly ruleEvaluation = new Histogram({
    name: 'hookd_rule_evaluation_seconds',
    help: 'Time to select the webhooks for one event.',
    buckets: [...RULE_BUCKETS],
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
  readonly configLastReloadSuccessful = new Gauge({
    name: 'hookd_config_last_reload_successful',
    help: '1 when the last rule reload succeeded (or none was tried since start), 0 while the last one failed.',
    registers: [this.registry],
  });
  readonly configLastReloadSuccess = new Gauge({
    name: 'hookd_config_last_reload_success_timestamp_seconds',
    help: 'When the rules in force were loaded (start or last successful reload), Unix seconds.',
    registers: [this.registry],
  });
  readonly natsPending = new Gauge({
    name: 'hookd_nats_consumer_pending',
    help: 'Messages in the stream not yet delivered to the hookd consumer (polled every 5 s).',
    registers: [this.registry],
  });

  readonly replicaInfo = new Gauge({
    name: 'hookd_replica_info',
    help: 'Always 1: which replica this process is (HOOKD_REPLICA_ID, else host-pid) and its store backend; join on instance for per-replica views.',
    labelNames: ['replica', 'backend'],
    registers: [this.registry],
  });
  readonly consumerLeaseHeld = new Gauge({
    name: 'hookd_consumer_lease_held',
    help: 'sqlite store: 1 while this process holds the NATS consumer lease (the one process consuming), else 0; jetstream: always 0 (no lease).',
    registers: [this.registry],
  });

  constructor(opts: MetricsOptions) {
    this.perWebhook = opts.perWebhookLabels;
    if (opts.processMetrics ?? true) {
      // The stock names (process_*, nodejs_*), so stock Node.js dashboards and alerts match.
      collectDefaultMetrics({ register: this.registry });
      for (const name of NON_CONFORMING_DEFAULTS) this.registry.removeSingleMetric(name);
    }
    for (const source of EVENT_SOURCES) this.eventsReceived.inc({ source }, 0);
    for (const reason of REJECT_REASONS) this.eventsRejected.inc({ reason }, 0);
    for (const result of RELOAD_RESULTS) this.configReloads.inc({ result }, 0);
    // A running hookd has loaded its rules: an invalid set at start stops it.
    this.configLastReloadSuccessful.set(1);
    this.configLastReloadSuccess.set(Date.now() / 1000);
  }

  /** The `webhook` label value: the identifier, or `all` when per-webhook labels are off. */
  webhookLabel(identifier: string): string {
    return this.perWebhook ? identifier : 'all';
  }

  /**
   * Creates the delivery, attempt and breaker series of these webhooks at
   * zero (call it with every catalog put in force). Idempotent and cheap for
   * webhooks already seen; series of removed webhooks stay, as counters should.
   */
  initWebhooks(webhooks: Iterable<{ identifier: string; type: string }>): void {
    for (const w of webhooks) {
      const webhook = this.webhookLabel(w.identifier);
      const key = `${webhook}\0${w.type}`;
      if (this.initialised.has(key)) continue;
      this.initialised.add(key);
      const type = w.type;
      for (const outcome of DELIVERY_OUTCOMES) this.deliveries.inc({ webhook, type, outcome }, 0);
      for (const outcome of ATTEMPT_OUTCOMES) this.attempts.inc({ webhook, type, outcome }, 0);
      for (const to of BREAKER_TARGETS) this.breakerTransitions.inc({ webhook, to }, 0);
      this.deliveryDuration.zero({ type });
      this.attemptDuration.zero({ type });
    }
  }

  /** Records a rule reload: the counter, and whether the rules in force are the latest. */
  configReloaded(ok: boolean, now = Date.now()): void {
    this.configReloads.inc({ result: ok ? 'success' : 'error' });
    this.configLastReloadSuccessful.set(ok ? 1 : 0);
    if (ok) this.configLastReloadSuccess.set(now / 1000);
  }

  /** Reads a gauge's value from a callback at scrape time (cheap sources only). */
  onScrape(fn: () => void): void {
    this.scrapeHooks.push(fn);
  }

  /** The exposition in the Prometheus text format, or OpenMetrics when asked for. */
  async text(format: MetricsFormat = 'prometheus'): Promise<string> {
    for (const fn of this.scrapeHooks) fn();
    return format === 'openmetrics' ? openMetricsText(this.registry) : this.registry.metrics();
  }
}
