/**
 * `POST /v1/webhooks/{id}/test` (and seed 002's test route): renders a dummy
 * event with the webhook's own templates and sends it once through its real
 * transport, outside the outbox (no retries, no breaker), returning the
 * attempt. The attempt is run and judged as the dispatcher's are
 * (`dispatch/`): same timeout, same outcome for a throwing transport, and a
 * 410 stops the webhook here too.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Catalog } from '../catalog/index.ts';
import { type AttemptRun, runAttempt, webhookEffect } from '../dispatch/index.ts';
import type { Webhook } from '../rules/index.ts';
import type { HookEvent } from '../source/index.ts';
import { RenderError } from '../templates/index.ts';
import type { RenderedRequest, SendResult, TransportInstance } from '../transports/index.ts';

export interface TestDeps {
  catalog: () => Catalog;
  transport: (type: string) => TransportInstance | undefined;
  /** Per-attempt timeout (the webhook's `timeoutMs` overrides it). */
  timeoutMs: number;
  logger: Logger;
  now?: () => number;
  /** Applies a state change the delivery policy decided (410: Stopped). */
  setState: (id: string, state: 'Stopped', reason: string) => unknown;
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
  const event = dummyEvent(w, now());
  const deliveryId = `test_${randomUUID()}`;
  const templates = deps.catalog().templates.get(w.id);
  let run: AttemptRun;
  if (!templates) {
    run = {
      result: { outcome: 'permanent', error: 'the webhook is not in the catalog' },
      startedAt: now(),
      durationMs: 0,
    };
  } else {
    let request: RenderedRequest | undefined;
    let renderError: string | undefined;
    try {
      request = await templates.render(event);
    } catch (err) {
      if (!(err instanceof RenderError)) throw err;
      renderError = `render failed: ${err.message}`;
    }
    run = request
      ? // The dispatcher's own attempt: same timeout, same outcome when the transport is missing or throws.
        await runAttempt({
          transport: deps.transport(w.type),
          delivery: {
            id: deliveryId,
            eventId: event.id,
            eventType: event.type,
            attempt: 1,
            request,
            webhook: w,
          },
          timeoutMs: w.timeoutMs ?? deps.timeoutMs,
          now,
        })
      : { result: { outcome: 'permanent', error: renderError! }, startedAt: now(), durationMs: 0 };
  }
  const { result, startedAt } = run;
  const effect = webhookEffect(result);
  if (effect.kind === 'stop') deps.setState(w.id, 'Stopped', effect.reason);
  const attempt: TestAttempt = {
    deliveryId,
    eventId: event.id,
    eventType: event.type,
    attempt: 1,
    startedAt: new Date(startedAt).toISOString(),
    durationMs: Math.round(run.durationMs * 10) / 10,
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
