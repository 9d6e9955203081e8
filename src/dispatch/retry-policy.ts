/**
 * The retry schedule (DESIGN.md section 4): one attempt per entry, the entry
 * being the delay before that attempt, each with ±jitter; after the last
 * entry the delivery is failed (dead letter). Pure: the clock and random
 * source are passed in.
 */
export interface RetryPolicy {
  /** Delay before each attempt, in ms; entry 0 is the first attempt's (usually 0). */
  schedule: readonly number[];
  /** Fraction, e.g. 0.2 for ±20 %. */
  jitter: number;
  /** Cap on a receiver's Retry-After. */
  maxRetryAfterMs: number;
}

export function withJitter(ms: number, jitter: number, random: () => number): number {
  if (ms === 0 || jitter === 0) return ms;
  return Math.max(0, Math.round(ms * (1 + jitter * (2 * random() - 1))));
}

/**
 * When the attempt after `attemptsMade` failed attempts should run, or
 * undefined when the schedule is used up. A receiver's Retry-After (capped)
 * replaces the scheduled delay.
 */
export function nextRetryDelay(
  policy: RetryPolicy,
  attemptsMade: number,
  random: () => number,
  retryAfterMs?: number,
): number | undefined {
  if (attemptsMade >= policy.schedule.length) return undefined;
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxRetryAfterMs);
  return withJitter(policy.schedule[attemptsMade]!, policy.jitter, random);
}

export type NextStep = { state: 'succeeded' } | { state: 'failed' } | { state: 'pending'; at: number };

/**
 * What happens to a delivery after an attempt: success and permanent
 * failures are final; a retryable failure is retried on the schedule (or
 * after the receiver's Retry-After) until the schedule is used up, then it
 * fails (dead letter).
 */
export function nextStep(
  policy: RetryPolicy,
  result: { outcome: 'success' | 'retryable' | 'permanent'; retryAfterMs?: number },
  attemptsMade: number,
  now: number,
  random: () => number,
): NextStep {
  if (result.outcome === 'success') return { state: 'succeeded' };
  if (result.outcome === 'permanent') return { state: 'failed' };
  const delay = nextRetryDelay(policy, attemptsMade, random, result.retryAfterMs);
  return delay === undefined ? { state: 'failed' } : { state: 'pending', at: now + delay };
}
