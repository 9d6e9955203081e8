/**
 * A webhook's gates, asked before each new attempt: its state and breaker
 * (`WebhookStates`), then its rate limit. Both follow the webhook's current
 * spec.
 */
import type { Webhook } from '../rules/index.ts';
import type { RateLimits } from './rate-limit.ts';
import type { Admission, Gate } from './scheduler.ts';

/** State and breaker: what `WebhookStates` offers the scheduler. */
export interface StateGate {
  admit(webhook: Webhook, now: number): Admission;
  /** The half-open probe went out (`deliveryId`: which delivery it is). */
  probeStarted(webhook: Webhook, deliveryId?: string): void;
}

export class Gates implements Gate {
  constructor(private readonly deps: { states?: StateGate; rateLimits: RateLimits }) {}

  admit(w: Webhook, now: number): Admission {
    const a = this.deps.states?.admit(w, now) ?? { allowed: Number.POSITIVE_INFINITY, probe: false };
    if (a.allowed <= 0) return a;
    const r = this.deps.rateLimits.available(w, now);
    if (r.allowed <= 0) return { allowed: 0, probe: false, wakeAt: r.wakeAt };
    return { ...a, allowed: Math.min(a.allowed, r.allowed) };
  }

  started(w: Webhook, n: number, probe: boolean, now: number, probeId?: string): void {
    if (probe) this.deps.states?.probeStarted(w, probeId);
    this.deps.rateLimits.take(w, n, now);
  }
}
