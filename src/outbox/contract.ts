/**
 * What the rest of hookd may ask of a store (DESIGN.md sections 4 and 8),
 * split by concern and free of any SQLite type, so that the `sqlite`
 * backend and the `jetstream` backend (streams for deliveries, attempts and
 * rejected events; KV buckets for API webhooks and webhook states) implement
 * the same surface.
 *
 * Writes that a backend must make durable before hookd acknowledges or
 * answers return promises: intake, attempt results, requeues. The small
 * sets that every replica keeps in memory (API webhooks, webhook states) are
 * read synchronously; the queue index the dispatcher polls (`due`,
 * `nextDueOf`, `dueByWebhook`) is read synchronously from the backend's
 * local view (SQLite's read connection; a consumer-fed index in JetStream).
 */
import type { Rejection } from '../source/index.ts';

export type DeliveryState = 'pending' | 'inflight' | 'succeeded' | 'failed';

/**
 * A rendered request as a store keeps it: the body as sent, the other
 * members as rendered (the transport's `RenderedRequest`; the store never
 * looks inside, so it does not depend on the transports).
 */
export interface StoredRequest {
  body: string;
}
export const DELIVERY_STATES: readonly DeliveryState[] = ['pending', 'inflight', 'succeeded', 'failed'];

export interface NewDelivery {
  id: string;
  eventId: string;
  eventType: string;
  webhookId: string;
  identifier: string;
  transport: string;
  priority: number;
  receivedAt: number;
  /** When the first attempt is due. */
  nextAttemptAt: number;
  /** The rendered request, stored once, unchanged for every attempt. */
  request: StoredRequest;
  /** The request but its body as JSON, when the caller has it already (intake measured it): not made twice. */
  requestHead?: string;
  /** Set when rendering failed: the delivery is stored as failed with this reason. */
  renderError?: string;
}

/** What the dispatcher needs to send a delivery (every due row read is sent, so it comes with its request). */
export interface DueRow {
  id: string;
  event_id: string;
  event_type: string;
  webhook_id: string;
  identifier: string;
  transport: string;
  priority: number;
  attempts: number;
  received_at: number;
  /** The rendered request. */
  request: StoredRequest;
}

/** A whole delivery. */
export interface DeliveryRow extends DueRow {
  state: DeliveryState;
  next_attempt_at: number;
  updated_at: number;
  last_error: string | null;
}

export interface AttemptRow {
  attempt: number;
  started_at: number;
  duration_ms: number;
  outcome: 'success' | 'retryable' | 'permanent';
  status: number | null;
  error: string | null;
  response: string | null;
}

/** The result of one attempt and what happens next. */
export interface AttemptResult {
  deliveryId: string;
  attempt: number;
  startedAt: number;
  durationMs: number;
  outcome: 'success' | 'retryable' | 'permanent';
  status?: number;
  error?: string;
  response?: string;
  /** The delivery's new state: pending (retry at nextAttemptAt), succeeded or failed. */
  next: { state: 'pending'; at: number } | { state: 'succeeded' } | { state: 'failed' };
}

/** An event that could not be accepted, kept with the reason (defined by the source). */
export type { Rejection };

export interface RejectedEvent {
  id: number;
  received_at: number;
  source: string;
  subject: string | null;
  reason: string;
  detail: string | null;
  payload: Uint8Array | null;
}

/** A page of one webhook's deliveries, newest first; `next` is an opaque cursor for the page after it. */
export interface DeliveryPage {
  items: DeliveryRow[];
  next: string | null;
}

export interface RequeueFilter {
  /** A webhook's id or identifier; undefined: every webhook. */
  webhookId?: string;
  /** Only deliveries that failed at or after this time. */
  since?: number;
  /** Only these deliveries. */
  ids?: readonly string[];
  /** When they are due (default now). */
  dueAt?: number;
}

/** Deliveries: intake, the dispatcher's queue, attempt results, requeues and the API's reads. */
export interface DeliveryStore {
  /**
   * Stores one intake batch: new deliveries and rejected events, durably
   * (the caller acknowledges upstream once this resolves). Resolves to how
   * many deliveries were new (a redelivered event adds none).
   */
  insert(deliveries: readonly NewDelivery[], rejections?: readonly Rejection[]): Promise<number>;
  /** Records attempt results and moves their deliveries on. */
  complete(results: readonly AttemptResult[], now: number): Promise<void>;
  /** Puts failed (dead-lettered) deliveries back in the queue with a fresh retry budget. */
  retryFailed(filter: RequeueFilter, now: number): Promise<number>;
  get(id: string): Promise<DeliveryRow | undefined>;
  /** One webhook's deliveries, newest first; `before` is a page's `next`; throws `InvalidCursorError`. */
  byWebhook(
    webhookId: string,
    opts: { state?: DeliveryState; limit: number; before?: string },
  ): Promise<DeliveryPage>;
  /** Due deliveries of one webhook, oldest first, leaving out those in `exclude` (in flight). */
  due(webhookId: string, now: number, limit: number, exclude: readonly string[]): DueRow[];
  /** When the next pending delivery of a webhook is due (undefined: none pending). */
  nextDueOf(webhookId: string, exclude: readonly string[]): number | undefined;
  /** Every webhook with pending deliveries and when its earliest is due (at start and after bulk changes). */
  dueByWebhook(): { webhookId: string; at: number }[];
  /** Deliveries by state, never negative (pending counted in the store, less this process's in flight). */
  depth(): Record<DeliveryState, number>;
  /** Re-reads the succeeded and failed counts from the store (at start and on each rescan). */
  recount(): void;
  /** `n` deliveries went in flight (in flight is tracked in memory, never on disk). */
  claimed(n: number): void;
  /** `n` in-flight deliveries went back to the queue untouched (shutdown). */
  released(n: number): void;
}

/**
 * Every attempt of a delivery, oldest first. A success needs no row of its
 * own unless `store.attemptLog` is `all`: it is read from the delivery.
 */
export interface AttemptLog {
  of(deliveryId: string): Promise<AttemptRow[]>;
}

/** How long finished records are kept (`store.retention`), in milliseconds. */
export interface Retention {
  succeeded: number;
  failed: number;
  rejected: number;
}

/** What one pass of pruning removed. */
export interface Pruned {
  deliveries: number;
  attempts: number;
  rejected: number;
}

export interface RejectedEvents {
  /** The newest rejected events first. */
  list(limit?: number): Promise<RejectedEvent[]>;
}

/** Run-time webhook states (breaker, operator, 410), kept across restarts. */
export interface WebhookStateStore {
  /** `updatedAt`: when the state was saved, where the store keeps it. */
  loadWebhookStates(): {
    webhookId: string;
    state: string;
    reason: string | null;
    data: string | null;
    updatedAt?: number;
  }[];
  saveWebhookState(
    webhookId: string,
    state: string,
    reason: string | null,
    data: string | null,
    now: number,
  ): void;
  deleteWebhookState(webhookId: string): void;
}

export interface StoredWebhook {
  id: string;
  /** Integer alias for the seed dialects; unique and never reused. */
  number: number;
  /** The webhook as written, with the audit fields set by hookd. */
  spec: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
  /** Why the spec's secrets could not be opened (a wrong or missing key); the spec then holds them sealed. */
  unreadable?: string;
}

/**
 * Seals a spec's secrets for storage and opens them again (encryption at
 * rest, `security.secretsKey`); every backend applies it, none looks inside a spec.
 */
export interface SpecSeal {
  seal(id: string, spec: Record<string, unknown>): Record<string, unknown>;
  open(id: string, spec: Record<string, unknown>): Record<string, unknown>;
}

/** Webhooks created through the API (a small set every process keeps in memory). */
export interface ApiWebhookStore {
  all(): StoredWebhook[];
  get(id: string): StoredWebhook | undefined;
  byNumber(n: number): StoredWebhook | undefined;
  /** Stores a new webhook; throws `DuplicateWebhookError` when the id is taken. */
  insert(id: string, spec: Record<string, unknown>, now: number): StoredWebhook;
  /** Replaces a stored webhook's spec; false when there is none. */
  update(id: string, spec: Record<string, unknown>, now: number): boolean;
  /** Removes a webhook (its number is never handed out again); false when there is none. */
  delete(id: string): boolean;
}

/** One store, by concern. */
export interface Store {
  readonly deliveries: DeliveryStore;
  readonly attempts: AttemptLog;
  readonly rejected: RejectedEvents;
  readonly webhookStates: WebhookStateStore;
  readonly webhooks: ApiWebhookStore;
  /** Readiness: can new events be stored? */
  probe(): boolean;
  /** How many bytes the store takes on disk (`hookd_store_bytes`). */
  bytes(): number;
  /**
   * Deletes up to `budget` records past their retention at `now` (never a
   * pending delivery; attempts go with their delivery). Small batches: call
   * it again while it returns a full budget.
   */
  prune(retention: Retention, now: number, budget: number): Promise<Pruned>;
  close(): Promise<void>;
}
