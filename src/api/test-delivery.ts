/**
 * `POST /v1/webhooks/{id}/test` (and seed 002's test route): renders a dummy
 * event with the webhook's own templates and sends it once through its real
 * transport, outside the outbox (no retries, no breaker), returning the
 * attempt.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Catalog } from '../pipeline/catalog.ts';
import type { Webhook } from '../rules/webhook-schema.ts';
import type { HookEvent } from '../source/event.ts';
import { RenderError } from '../templates/render.ts';
import type { SendResult, TransportInstance } from '../transports/contract.ts';

export interface TestDeps {
  catalog: () => Catalog;
  transport: (type: string) => TransportInstance | undefined;
  /** Per-attempt timeout (the webhook's `timeoutMs` overrides it). */
  timeoutMs: number;
  logger: Logger;
  now?: () => number;
}

export interface TestAttempt {
  deliveryId: string;
  eventId: string;
  eventType: string;
  attempt: 1;
  startedAt: string;
  durationMs: number;
  outcome: SendResult['outcome'];
  status: number | null;
  error: string | null;
  response: string | null;
}

/** The event type a test sends: the webhook's first exact `events` entry or hook type, else `hookd.test`. */
export function testEventType(w: Webhook): string {
  const exact = (w.events ?? []).find((e) => !e.includes('*'));
  return exact ?? w.hooks?.[0]?.type ?? 'hookd.test';
}

export function dummyEvent(w: Webhook, now: number): HookEvent {
  const id = `test_${randomUUID()}`;
  const type = testEventType(w);
  const body = {
    specversion: '1.0',
    id,
    type,
    source: 'hookd/test',
    time: new Date(now).toISOString(),
    datacontenttype: 'application/json',
    data: { test: true, webhook: w.identifier },
  };
  return {
    id,
    type,
    subject: 'hookd.test',
    source: body.source,
    body,
    data: body.data,
    extensions: {},
    receivedAt: now,
  };
}

export async function sendTest(w: Webhook, deps: TestDeps): Promise<TestAttempt> {
  const now = deps.now ?? Date.now;
  const startedAt = now();
  const event = dummyEvent(w, startedAt);
  const deliveryId = `test_${randomUUID()}`;
  const t0 = performance.now();
  let result: SendResult;
  const transport = deps.transport(w.type);
  const templates = deps.catalog().templates.get(w.id);
  if (!transport) result = { outcome: 'permanent', error: `no transport for type "${w.type}"` };
  else if (!templates) result = { outcome: 'permanent', error: 'the webhook is not in the catalog' };
  else {
    try {
      const request = await templates.render(event);
      result = await transport.send(
        { id: deliveryId, eventId: event.id, eventType: event.type, attempt: 1, request, webhook: w },
        AbortSignal.timeout(w.timeoutMs ?? deps.timeoutMs),
      );
    } catch (err) {
      result =
        err instanceof RenderError
          ? { outcome: 'permanent', error: `render failed: ${err.message}` }
          : { outcome: 'retryable', error: `transport failed: ${(err as Error).message}` };
    }
  }
  const attempt: TestAttempt = {
    deliveryId,
    eventId: event.id,
    eventType: event.type,
    attempt: 1,
    startedAt: new Date(startedAt).toISOString(),
    durationMs: Math.round((performance.now() - t0) * 10) / 10,
    outcome: result.outcome,
    status: result.status ?? null,
    error: result.outcome === 'success' ? null : result.error,
    response: result.response ?? null,
  };
  deps.logger.info(
    {
      delivery: deliveryId,
      event: event.id,
      webhook: w.identifier,
      webhookId: w.id,
      outcome: attempt.outcome,
      status: attempt.status,
      latencyMs: attempt.durationMs,
      ...(attempt.error ? { error: attempt.error } : {}),
    },
    'test delivery',
  );
  return attempt;
}
