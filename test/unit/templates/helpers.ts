/** Shared test helpers for the template tests: events, fixtures, an observable JSONata engine. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  normalizeWebhook,
  type Webhook,
  type WebhookInput,
  WebhookInputSchema,
} from '../../../src/rules/webhook-schema.ts';
import type { HookEvent } from '../../../src/source/event.ts';
import { defaultJsonataEngine, type JsonataEngine } from '../../../src/templates/index.ts';
import type { RenderedRequest } from '../../../src/transports/contract.ts';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/templates/', import.meta.url));

export function fixture<T = unknown>(rel: string): T {
  return JSON.parse(readFileSync(`${FIXTURES}${rel}`, 'utf8')) as T;
}

/** A decoded event as the source stage would hand it on. */
export function hookEvent(body: Record<string, unknown>, extensions: Record<string, string> = {}): HookEvent {
  return {
    id: String(body.id ?? 'evt'),
    type: typeof body.type === 'string' ? body.type : '',
    subject: 'events.test',
    source: typeof body.source === 'string' ? body.source : undefined,
    body,
    data: body.data ?? body,
    extensions,
    receivedAt: 0,
  };
}

/** A webhook as the loader would produce it from one rule-file entry. */
export function webhook(input: WebhookInput): Webhook {
  return normalizeWebhook(WebhookInputSchema.parse(input), {
    id: 'w-1',
    source: 'api',
    resolveType: (t) => (t === 'http' || t === 'webhook' ? 'http' : t),
  });
}

/** The request with its body parsed back, for comparison with hand-written expected JSON. */
export function readable(req: RenderedRequest): Omit<RenderedRequest, 'body'> & { body: unknown } {
  return { ...req, body: JSON.parse(req.body) };
}

/** Wraps the real engine and counts what reaches it. */
export function countingEngine(): JsonataEngine & { compiles: number; evaluations: number } {
  const engine = {
    compiles: 0,
    evaluations: 0,
    compile(expression: string) {
      engine.compiles++;
      const compiled = defaultJsonataEngine.compile(expression);
      return {
        evaluate(input: unknown) {
          engine.evaluations++;
          return compiled.evaluate(input);
        },
      };
    },
  };
  return engine;
}
