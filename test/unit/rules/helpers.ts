/** Shared helpers for the rule engine tests: webhooks as the loader makes them, events as the decoder does. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  normalizeWebhook,
  type Webhook,
  type WebhookInput,
  WebhookInputSchema,
} from '../../../src/rules/webhook-schema.ts';
import { decodeEvent } from '../../../src/source/decode.ts';
import type { HookEvent } from '../../../src/source/event.ts';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/rules/', import.meta.url));

const TYPES: Record<string, string> = {
  http: 'http',
  webhook: 'http',
  sftp: 'sftp',
  'sftp-document': 'sftp',
  'sftp-email': 'sftp',
  email: 'email',
  nats: 'nats',
};

let seq = 0;

/** A webhook as the loader would produce it from one rule-file entry (`id` defaults to a fresh one). */
export function webhook(input: WebhookInput & { id?: string }): Webhook {
  return normalizeWebhook(WebhookInputSchema.parse(input), {
    id: input.id ?? `w-${++seq}`,
    source: 'api',
    resolveType: (t) => TYPES[t],
  });
}

/** An event decoded by the real decoder, as the source stage hands it on. */
export function event(body: Record<string, unknown>, subject = 'events.test'): HookEvent {
  const d = decodeEvent({
    payload: JSON.stringify(body),
    subject,
    maxBytes: 1 << 20,
    receivedAt: 0,
    fallbackId: 'evt-test',
  });
  if (!d.ok) throw new Error(`test event rejected: ${d.detail}`);
  return d.event;
}

export function fixtureEvent(rel: string, subject?: string): HookEvent {
  return event(JSON.parse(readFileSync(`${FIXTURES}${rel}`, 'utf8')) as Record<string, unknown>, subject);
}

export const ids = (ws: readonly Webhook[]) => ws.map((w) => w.id);
