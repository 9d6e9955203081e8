/**
 * How the native API shows webhooks and deliveries: the one model,
 * normalized, with write-only secrets replaced (redact.ts).
 */
import type { AttemptRow, DeliveryRow } from '../outbox/index.ts';
import type { Webhook, WebhookState } from '../rules/index.ts';
import { publicKeyOf } from '../rules/index.ts';
import type { TransportRegistry } from '../transports/index.ts';
import { redactSecrets } from './redact.ts';
import type { WebhookView } from './schemas.ts';

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** Drops undefined members so responses carry only what is set. */
function compact<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

export function webhookView(w: Webhook, state: WebhookState, registry: TransportRegistry): WebhookView {
  const headers: Record<string, unknown> = {};
  for (const [name, h] of Object.entries(w.headers)) {
    headers[name] = h.secret ? { value: h.value, secret: true } : { value: h.value };
  }
  const view = compact({
    id: w.id,
    source: w.source,
    file: w.file,
    identifier: w.identifier,
    name: w.name,
    description: w.description,
    organizationId: w.organizationId,
    type: w.typeName,
    transport: w.type,
    priority: w.priority,
    active: w.active,
    activeFrom: iso(w.activeFrom),
    activeUntil: iso(w.activeUntil),
    state,
    events: w.events,
    topics: w.topics,
    groupIdentifier: w.groupIdentifier,
    groupCondition: w.groupCondition,
    data: w.data,
    url: w.url,
    method: w.method,
    hooks: w.hooks,
    headers,
    secret: w.secret,
    publicKey: publicKeyOf(w.secret),
    previousSecrets: w.previousSecrets?.map((p) => ({ secret: p.secret, until: iso(p.until) })),
    authentication: w.authentication,
    properties: w.properties,
    templates: w.templates,
    body: w.body,
    retry: w.retry,
    breaker: w.breaker,
    timeoutMs: w.timeoutMs,
    concurrency: w.concurrency,
    rateLimit: w.rateLimit,
    createdBy: w.createdBy,
    createdAt: w.createdAt,
    updatedBy: w.updatedBy,
    updatedAt: w.updatedAt,
    version: { versionNo: w.versionNo },
  });
  // Non-secret headers without a value (never sent) are not shown either.
  for (const [name, h] of Object.entries(headers)) {
    if (
      (h as { value?: unknown; secret?: boolean }).value === undefined &&
      !(h as { secret?: boolean }).secret
    )
      delete headers[name];
  }
  return redactSecrets(view, registry, w.type) as WebhookView;
}

export function attemptView(a: AttemptRow) {
  return {
    attempt: a.attempt,
    startedAt: new Date(a.started_at).toISOString(),
    durationMs: Math.round(a.duration_ms * 10) / 10,
    outcome: a.outcome,
    status: a.status,
    error: a.error,
    response: a.response,
  };
}

export function deliveryView(d: DeliveryRow, attempts: readonly AttemptRow[]) {
  return {
    id: d.id,
    eventId: d.event_id,
    eventType: d.event_type,
    webhookId: d.webhook_id,
    identifier: d.identifier,
    state: d.state === 'inflight' ? 'pending' : d.state,
    attemptCount: d.attempts,
    nextAttemptAt: d.state === 'pending' ? new Date(d.next_attempt_at).toISOString() : null,
    receivedAt: new Date(d.received_at).toISOString(),
    updatedAt: new Date(d.updated_at).toISOString(),
    lastError: d.last_error,
    attempts: attempts.map(attemptView),
  };
}
