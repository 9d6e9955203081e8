/**
 * Intake: source → rules → templates → outbox. For a batch of decoded
 * events it selects the webhooks, renders each request once, and stores all
 * deliveries (and any rejected events) in one transaction. The caller
 * acknowledges upstream only after `accept` resolves.
 */
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/index.ts';
import { type DeliveryStore, deliveryId, type NewDelivery, type Rejection } from '../outbox/index.ts';
import type { Webhook } from '../rules/index.ts';
import type { HookEvent } from '../source/index.ts';
import { RenderError } from '../templates/index.ts';
import type { RenderedRequest } from '../transports/index.ts';
import type { Catalog } from './catalog.ts';

export interface IntakeDeps {
  catalog: () => Catalog;
  deliveries: DeliveryStore;
  metrics: Metrics;
  logger: Logger;
  /** When a new delivery of `webhook` received at `receivedAt` is first due (the delivery policy decides). */
  firstAttemptAt: (webhook: Webhook, receivedAt: number) => number;
  /**
   * Called once a batch's deliveries are stored (render failures included);
   * `allNew`: every one was new (none a redelivered event's).
   */
  onStored: (deliveries: readonly NewDelivery[], allNew: boolean) => void;
  /** Resolves when the next batch may be stored (the dispatcher bounds what waits in memory); absent: at once. */
  room?: () => Promise<void>;
  /** `delivery.maxRequestBytes`: a larger rendered request is a permanent render failure. */
  maxRequestBytes: number;
}

export interface IntakeResult {
  events: number;
  deliveries: number;
  /** Per event: the ids of its deliveries, in dispatch order (none for an event rejected here). */
  perEvent: string[][];
}

const EMPTY_REQUEST: RenderedRequest = { headers: {}, body: '', contentType: 'application/json', fields: {} };

/** Longest run of synchronous work on a batch before the event loop gets a turn. */
const SLICE_MS = 10;

export class Intake {
  constructor(private readonly deps: IntakeDeps) {}

  /**
   * Stores the deliveries of `events` and the `rejections`; resolves once
   * they are on disk. Whatever goes wrong for one event stays with it: an
   * event that cannot be selected is rejected (kept, counted); a request
   * that cannot be rendered, or renders too large, is a failed delivery.
   */
  async accept(events: readonly HookEvent[], rejections: readonly Rejection[] = []): Promise<IntakeResult> {
    const { metrics } = this.deps;
    await this.deps.room?.();
    // One catalog for the whole batch: a reload never splits a batch.
    const catalog = this.deps.catalog();
    const rows: NewDelivery[] = [];
    const pending: Promise<void>[] = [];
    const perEvent: string[][] = [];
    const rejected = [...rejections];
    const t0 = performance.now();
    const batch = catalog.rules.selectBatch(events);
    const selected = batch instanceof Promise ? await batch : batch;
    const perEventSeconds = (performance.now() - t0) / 1000 / Math.max(1, events.length);
    let slice = performance.now();
    for (let e = 0; e < events.length; e++) {
      // A large batch gives the event loop a turn now and then: /healthz answers throughout.
      if ((e & 31) === 31 && performance.now() - slice > SLICE_MS) {
        await new Promise((r) => setImmediate(r));
        slice = performance.now();
      }
      const event = events[e]!;
      const winners = selected[e]!;
      if (winners instanceof Error) {
        rejected.push(this.reject(event, 'could not select webhooks', winners));
        perEvent.push([]);
        continue;
      }
      metrics.ruleEvaluation.observe(perEventSeconds);
      const ids: string[] = [];
      for (const webhook of winners) {
        const id = deliveryId(event, webhook.id);
        ids.push(id);
        const row: NewDelivery = {
          id,
          eventId: event.id,
          eventType: event.type,
          webhookId: webhook.id,
          identifier: webhook.identifier,
          transport: webhook.type,
          priority: webhook.priority,
          receivedAt: event.receivedAt,
          nextAttemptAt: this.deps.firstAttemptAt(webhook, event.receivedAt),
          request: EMPTY_REQUEST,
        };
        rows.push(row);
        const fail = (err: unknown) => this.renderFailed(row, webhook, event, err);
        const store = (r: RenderedRequest) => {
          row.requestHead = this.checkedHead(r);
          row.request = r;
        };
        try {
          const out = catalog.templates.get(webhook.id)!.render(event);
          if (out instanceof Promise) pending.push(out.then(store).catch(fail));
          else store(out);
        } catch (err) {
          fail(err);
        }
      }
      perEvent.push(ids);
    }
    if (pending.length) await Promise.all(pending);
    const added = await this.deps.deliveries.insert(rows, rejected);
    for (let i = rejections.length; i < rejected.length; i++)
      metrics.eventsRejected.inc({ reason: rejected[i]!.reason });
    if (added > 0) this.deps.onStored(rows, added === rows.length);
    return { events: events.length, deliveries: added, perEvent };
  }

  /**
   * The rendered request's head (all but the body) as the store keeps it:
   * made once here, where it is measured, and stored as it is (the store
   * keeps the body once, not as JSON inside JSON); throws `RenderError`
   * over `delivery.maxRequestBytes`.
   */
  private checkedHead(r: RenderedRequest): string {
    const max = this.deps.maxRequestBytes;
    // UTF-8 takes at most 3 bytes per UTF-16 unit: count bytes only when it could matter.
    const size = (s: string) => (s.length * 3 <= max ? s.length : Buffer.byteLength(s));
    const { body, ...rest } = r;
    const head = JSON.stringify(rest);
    const bytes = size(body) + size(head);
    if (bytes > max) {
      throw new RenderError(`the rendered request is ${bytes} bytes; delivery.maxRequestBytes is ${max}`);
    }
    return head;
  }

  /** A request that cannot be rendered is a permanent failure of that delivery: a dead letter like any other. */
  private renderFailed(row: NewDelivery, webhook: Webhook, event: HookEvent, err: unknown): void {
    const { metrics, logger } = this.deps;
    const message =
      err instanceof RenderError
        ? err.message
        : `unexpected error: ${(err as Error)?.message ?? String(err)}`;
    row.renderError = `render failed: ${message}`;
    row.request = EMPTY_REQUEST;
    row.requestHead = undefined;
    const label = metrics.webhookLabel(webhook.identifier);
    metrics.renderErrors.inc({ webhook: label });
    metrics.deliveries.inc({ webhook: label, type: webhook.type, outcome: 'failed' });
    logger.warn(
      { webhook: webhook.identifier, event: event.id, error: message },
      'could not render the request; delivery failed',
    );
  }

  /** An event this stage cannot handle, kept with the reason instead of failing its batch. */
  private reject(event: HookEvent, what: string, err: unknown): Rejection {
    const detail = `${what}: ${(err as Error)?.message ?? String(err)}`;
    this.deps.logger.error({ event: event.id, detail }, 'rejected an event; kept it with the reason');
    let payload: Buffer | undefined;
    try {
      payload = Buffer.from(JSON.stringify(event.body));
    } catch {
      payload = undefined;
    }
    return {
      receivedAt: event.receivedAt,
      source: event.subject === 'http' ? 'http' : 'nats',
      subject: event.subject,
      reason: 'unprocessable',
      detail,
      payload,
    };
  }
}
