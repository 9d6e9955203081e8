/**
 * Every delivery decision in one place (DESIGN.md section 4), pure: the
 * clock and random source are passed in. The dispatcher and the test send
 * (`POST /v1/webhooks/{id}/test`) both go through these; callers never
 * re-decide.
 *
 * - when a new delivery's first attempt is due (`firstAttemptAt`);
 * - when a requeued dead letter is due (`requeueAt`);
 * - what an attempt's result means: final, retry at (the schedule with
 *   jitter, lengthened but never shortened by `Retry-After`), dead letter,
 *   and what it does to the webhook (410 stops it; every other outcome
 *   feeds its breaker) (`decide`);
 * - an exception escaping a transport is a bug in it, retried (`escaped`).
 */
import type { Config } from '../config/index.ts';
import type { Webhook } from '../rules/index.ts';
import type { SendResult } from '../transports/index.ts';

export interface RetryPolicy {
  /** Delay before each attempt, in ms; entry 0 is the first attempt's (usually 0). */
  schedule: readonly number[];
  /** Fraction, e.g. 0.2 for ±20 %. */
  jitter: number;
  /** How far a receiver's `Retry-After` may push a retry out (at least twice the scheduled delay). */
  maxRetryAfterMs: number;
}

/** The retry policy in force for a webhook: its own `retry` over the daemon's. */
export function policyFor(w: Webhook | undefined, settings: Config['delivery']): RetryPolicy {
  return {
    schedule: w?.retry?.schedule ?? settings.retry.schedule,
    jitter: w?.retry?.jitter ?? settings.retry.jitter,
    maxRetryAfterMs: settings.retry.maxRetryAfterMs,
  };
}

/**
 * Attempts in flight to one webhook at once unless the webhook sets its own
 * `concurrency`: `delivery.perWebhookConcurrency`, else 7/8 of the global
 * concurrency, so one busy webhook may use most of the pipe and the rest
 * stays free for the others (a slow receiver holding every slot it gets
 * never holds another webhook up).
 */
export function perWebhookConcurrency(settings: Config['delivery']): number {
  const { concurrency } = settings;
  return (
    settings.perWebhookConcurrency ?? Math.max(1, concurrency - Math.max(1, Math.floor(concurrency / 8)))
  );
}

/** When a new delivery's first attempt is due: the schedule's first entry, without jitter. */
export function firstAttemptAt(policy: RetryPolicy, now: number): number {
  return now + (policy.schedule[0] ?? 0);
}

/** When a dead letter put back in the queue (API, `hookd retry`) is due: now, with a fresh retry budget. */
export function requeueAt(now: number): number {
  return now;
}

export function withJitter(ms: number, jitter: number, random: () => number): number {
  if (ms === 0 || jitter === 0) return ms;
  return Math.max(0, Math.round(ms * (1 + jitter * (2 * random() - 1))));
}

/**
 * The delay before the attempt after `attemptsMade` attempts, or undefined
 * when the schedule is used up. A receiver's `Retry-After` may lengthen the
 * scheduled delay but never shorten it: it is clamped to [scheduled,
 * max(2 × scheduled, maxRetryAfterMs)] (as Svix does), then jittered like
 * any delay, so `Retry-After: 0` or a past date cannot burn the schedule.
 */
export function retryDelay(
  policy: RetryPolicy,
  attemptsMade: number,
  random: () => number,
  retryAfterMs?: number,
): number | undefined {
  if (attemptsMade >= policy.schedule.length) return undefined;
  const scheduled = policy.schedule[attemptsMade]!;
  const delay =
    retryAfterMs === undefined || !Number.isFinite(retryAfterMs)
      ? scheduled
      : Math.min(Math.max(retryAfterMs, scheduled), Math.max(scheduled * 2, policy.maxRetryAfterMs));
  return withJitter(delay, policy.jitter, random);
}

export type NextStep = { state: 'succeeded' } | { state: 'failed' } | { state: 'pending'; at: number };

/** What an attempt does to its webhook: a 410 stops it; every other outcome feeds its breaker. */
export type WebhookEffect = { kind: 'stop'; reason: string } | { kind: 'breaker'; ok: boolean };

export interface Decision {
  next: NextStep;
  webhook: WebhookEffect;
}

/** What an attempt's result does to its webhook (also for a test send, which has no retries). */
export function webhookEffect(result: SendResult): WebhookEffect {
  return result.outcome === 'permanent' && (result.stopWebhook || result.status === 410)
    ? { kind: 'stop', reason: `the receiver answered ${result.status ?? 410}: ${result.error}` }
    : { kind: 'breaker', ok: result.outcome === 'success' };
}

/**
 * What happens after an attempt: success and permanent failures are final;
 * a retryable failure is retried per `retryDelay` until the schedule is used
 * up, then it fails (dead letter).
 */
export function decide(
  policy: RetryPolicy,
  result: SendResult,
  attemptsMade: number,
  now: number,
  random: () => number,
): Decision {
  const webhook = webhookEffect(result);
  if (result.outcome === 'success') return { next: { state: 'succeeded' }, webhook };
  if (result.outcome === 'permanent') return { next: { state: 'failed' }, webhook };
  const delay = retryDelay(policy, attemptsMade, random, result.retryAfterMs);
  return { next: delay === undefined ? { state: 'failed' } : { state: 'pending', at: now + delay }, webhook };
}

/** An exception that escaped a transport: transports classify their own failures, so this is a bug, retried. */
export function escaped(err: unknown): SendResult {
  return { outcome: 'retryable', error: `transport failed: ${(err as Error)?.message ?? String(err)}` };
}
