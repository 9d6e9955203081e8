import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decide,
  escaped,
  firstAttemptAt,
  requeueAt,
  retryDelay,
  withJitter,
} from '../../../src/dispatch/delivery-policy.ts';
import type { SendResult } from '../../../src/transports/contract.ts';
import { parseRetryAfter } from '../../../src/transports/http/classify.ts';

const policy = { schedule: [0, 5000, 300_000, 1_800_000], jitter: 0.2, maxRetryAfterMs: 60_000 };
const mid = () => 0.5; // no jitter at the midpoint
const retry503 = (retryAfterMs?: number): SendResult => ({
  outcome: 'retryable',
  error: 'HTTP 503',
  status: 503,
  retryAfterMs,
});

test('one attempt per schedule entry, then the schedule is used up', () => {
  assert.equal(retryDelay(policy, 1, mid), 5000);
  assert.equal(retryDelay(policy, 2, mid), 300_000);
  assert.equal(retryDelay(policy, 3, mid), 1_800_000);
  assert.equal(retryDelay(policy, 4, mid), undefined, 'four entries, four attempts');
});

test('jitter stays within ±20 %', () => {
  assert.equal(
    withJitter(5000, 0.2, () => 0),
    4000,
  );
  assert.equal(
    withJitter(5000, 0.2, () => 1),
    6000,
  );
  for (let i = 0; i < 1000; i++) {
    const d = retryDelay(policy, 1, Math.random)!;
    assert.ok(d >= 4000 && d <= 6000, String(d));
  }
  assert.equal(
    withJitter(0, 0.2, () => 1),
    0,
    'an immediate attempt stays immediate',
  );
});

test('Retry-After lengthens the scheduled delay up to max(2 × scheduled, maxRetryAfterMs), then jitter', () => {
  assert.equal(retryDelay(policy, 1, mid, 20_000), 20_000, 'longer than scheduled: honoured');
  assert.equal(retryDelay(policy, 1, mid, 10 * 3_600_000), 60_000, 'capped at maxRetryAfterMs');
  assert.equal(
    retryDelay(policy, 3, mid, 10 * 3_600_000),
    3_600_000,
    'a scheduled delay over maxRetryAfterMs may still double',
  );
  assert.equal(
    retryDelay(policy, 1, () => 1, 20_000),
    24_000,
    'jittered like any delay',
  );
  assert.equal(retryDelay(policy, 4, mid, 1000), undefined, 'Retry-After does not add attempts');
});

// Issue 12 bug 3: `503` with `Retry-After: 0` dead-lettered a delivery in about 150 ms.
test('Retry-After never shortens the schedule: 0, a past date, a shorter value', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  const past = parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', now);
  assert.equal(past, 0, 'a past date is "now"');
  for (const retryAfterMs of [0, past, 1000]) {
    assert.equal(retryDelay(policy, 1, mid, retryAfterMs), 5000, `Retry-After ${retryAfterMs} ms`);
    assert.equal(retryDelay(policy, 2, mid, retryAfterMs), 300_000, `Retry-After ${retryAfterMs} ms`);
  }
  // Eight 503s with Retry-After: 0 on the default schedule: the last retry is hours out, not milliseconds.
  const schedule = [0, 5000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];
  const full = { schedule, jitter: 0.2, maxRetryAfterMs: 3_600_000 };
  let at = now;
  for (let made = 1; made < schedule.length; made++) {
    const d = decide(full, retry503(0), made, at, () => 0);
    assert.equal(d.next.state, 'pending', `attempt ${made} is retried`);
    if (d.next.state === 'pending') at = d.next.at;
  }
  assert.ok(at - now >= 0.8 * 98_105_000, `the schedule still spans about 27 h (${at - now} ms)`);
  assert.deepEqual(decide(full, retry503(0), schedule.length, at, mid).next, { state: 'failed' });
});

test('a far-future Retry-After date is capped', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  const far = parseRetryAfter('Fri, 01 Jan 2100 00:00:00 GMT', now)!;
  assert.ok(far > 365 * 86_400_000);
  assert.equal(retryDelay(policy, 1, mid, far), 60_000);
  assert.equal(retryDelay(policy, 1, mid, Number.POSITIVE_INFINITY), 5000, 'nonsense is ignored');
});

test('after an attempt: success and permanent are final, retryable follows the schedule, then fails', () => {
  assert.deepEqual(decide(policy, { outcome: 'success', status: 200 }, 1, 100, mid), {
    next: { state: 'succeeded' },
    webhook: { kind: 'breaker', ok: true },
  });
  assert.deepEqual(decide(policy, { outcome: 'permanent', error: 'HTTP 400', status: 400 }, 1, 100, mid), {
    next: { state: 'failed' },
    webhook: { kind: 'breaker', ok: false },
  });
  assert.deepEqual(decide(policy, retry503(), 1, 100, mid).next, { state: 'pending', at: 5100 });
  assert.deepEqual(decide(policy, retry503(8000), 1, 100, mid).next, { state: 'pending', at: 8100 });
  assert.deepEqual(decide(policy, retry503(), 4, 100, mid).next, { state: 'failed' }, 'dead letter');
});

test('410 stops the webhook; it does not count against its breaker', () => {
  const gone: SendResult = { outcome: 'permanent', error: 'HTTP 410', status: 410, stopWebhook: true };
  const d = decide(policy, gone, 1, 100, mid);
  assert.deepEqual(d.next, { state: 'failed' });
  assert.equal(d.webhook.kind, 'stop');
  assert.match(d.webhook.kind === 'stop' ? d.webhook.reason : '', /answered 410/);
});

test('first attempt, requeue, and an exception escaping a transport', () => {
  assert.equal(firstAttemptAt(policy, 1000), 1000);
  assert.equal(firstAttemptAt({ ...policy, schedule: [2000, 5000] }, 1000), 3000, 'no jitter on the first');
  assert.equal(requeueAt(1000), 1000);
  assert.deepEqual(escaped(new Error('boom')), { outcome: 'retryable', error: 'transport failed: boom' });
});
