/**
 * Intake: source → rules → templates → outbox. For a batch of decoded
 * events it selects the webhooks, renders each request once, and stores all
 * deliveries (and any rejected events) in one transaction. The caller
 * acknowledges upstream only after `accept` resolves.
 */
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/metrics.ts';
import { deliveryId } from '../outbox/delivery-id.ts';
import type { NewDelivery, Outbox, Rejection } from '../outbox/store.ts';
import type { Webhook } from '../rules/webhook-schema.ts';
import type { HookEvent } from '../source/event.ts';
import { RenderError } from '../templates/render.ts';
import type { RenderedRequest } from '../transports/contract.ts';
import type { Catalog } from './catalog.ts';

export interface IntakeDeps {
  catalog: () => Catalog;
  outbox: Outbox;
  metrics: Metrics;
  logger: Logger;
  /** When a new delivery of `webhook` received at `receivedAt` is first due (the delivery policy decides). */
  firstAttemptAt: (webhook: Webhook, receivedAt: number) => number;
  /** Called after deliveries were stored: the earliest due time per webhook. */
  onStored: (due: ReadonlyMap<string, number>) => void;
}

export interface IntakeResult {
  events: number;
  deliveries: number;
  /** Per event: the ids of its deliveries, in dispatch order. */
  perEvent: string[][];
}

export class Intake {
  constructor(private readonly deps: IntakeDeps) {}

  /** Stores the deliveries of `events` and the `rejections`; resolves once they are on disk. */
  async accept(events: readonly HookEvent[], rejections: readonly Rejection[] = []): Promise<IntakeResult> {
    const { metrics, logger } = this.deps;
    // One catalog for the whole batch: a reload never splits a batch.
    const catalog = this.deps.catalog();
    const rows: NewDelivery[] = [];
    const pending: Promise<void>[] = [];
    const perEvent: string[][] = [];
    for (const event of events) {
      const t0 = performance.now();
      const winners = catalog.rules.select(event);
      metrics.ruleEvaluation.observe((performance.now() - t0) / 1000);
      const ids: string[] = [];
      for (const webhook of winners) {
        const id = deliveryId(event.id, webhook.id);
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
          request: '',
        };
        rows.push(row);
        const fail = (err: unknown) => {
          if (!(err instanceof RenderError)) throw err;
          row.renderError = `render failed: ${err.message}`;
          row.request = JSON.stringify({
            headers: {},
            body: '',
            contentType: 'application/json',
            fields: {},
          });
          const label = metrics.webhookLabel(webhook.identifier);
          metrics.renderErrors.inc({ webhook: label });
          // A delivery that cannot be rendered is a dead letter like any other.
          metrics.deliveries.inc({ webhook: label, type: webhook.type, outcome: 'failed' });
          logger.warn(
            { webhook: webhook.identifier, event: event.id, error: err.message },
            'could not render the request; delivery failed',
          );
        };
        try {
          const out = catalog.templates.get(webhook.id)!.render(event);
          if (out instanceof Promise) {
            pending.push(
              out.then((r: RenderedRequest) => {
                row.request = JSON.stringify(r);
              }, fail),
            );
          } else row.request = JSON.stringify(out);
        } catch (err) {
          fail(err);
        }
      }
      perEvent.push(ids);
    }
    if (pending.length) await Promise.all(pending);
    const added = this.deps.outbox.insert(rows, rejections);
    if (added > 0) {
      const due = new Map<string, number>();
      for (const r of rows) {
        if (r.renderError !== undefined) continue;
        const cur = due.get(r.webhookId);
        if (cur === undefined || r.nextAttemptAt < cur) due.set(r.webhookId, r.nextAttemptAt);
      }
      this.deps.onStored(due);
    }
    return { events: events.length, deliveries: added, perEvent };
  }
}
