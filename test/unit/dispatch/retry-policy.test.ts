import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextRetryDelay, nextStep, withJitter } from '../../../src/dispatch/retry-policy.ts';

const policy = { schedule: [0, 5000, 300_000, 1_800_000], jitter: 0.2, maxRetryAfterMs: 60_000 };

test('one attempt per schedule entry, then the schedule is used up', () => {
  const mid = () => 0.5; // no jitter at the midpoint
  assert.equal(nextRetryDelay(policy, 1, mid), 5000);
  assert.equal(nextRetryDelay(policy, 2, mid), 300_000);
  assert.equal(nextRetryDelay(policy, 3, mid), 1_800_000);
  assert.equal(nextRetryDelay(policy, 4, mid), undefined, 'four entries, four attempts');
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
    const d = nextRetryDelay(policy, 1, Math.random)!;
    assert.ok(d >= 4000 && d <= 6000, String(d));
  }
  assert.equal(
    withJitter(0, 0.2, () => 1),
    0,
    'an immediate attempt stays immediate',
  );
});

test('Retry-After replaces the scheduled delay, capped, while attempts remain', () => {
  assert.equal(nextRetryDelay(policy, 1, Math.random, 1000), 1000);
  assert.equal(nextRetryDelay(policy, 1, Math.random, 10 * 3_600_000), 60_000, 'capped at maxRetryAfterMs');
  assert.equal(nextRetryDelay(policy, 4, Math.random, 1000), undefined, 'Retry-After does not add attempts');
});

test('after an attempt: success and permanent are final, retryable follows the schedule, then fails', () => {
  const mid = () => 0.5;
  assert.deepEqual(nextStep(policy, { outcome: 'success' }, 1, 100, mid), { state: 'succeeded' });
  assert.deepEqual(nextStep(policy, { outcome: 'permanent' }, 1, 100, mid), { state: 'failed' });
  assert.deepEqual(nextStep(policy, { outcome: 'retryable' }, 1, 100, mid), { state: 'pending', at: 5100 });
  assert.deepEqual(nextStep(policy, { outcome: 'retryable', retryAfterMs: 1000 }, 1, 100, mid), {
    state: 'pending',
    at: 1100,
  });
  assert.deepEqual(
    nextStep(policy, { outcome: 'retryable' }, 4, 100, mid),
    { state: 'failed' },
    'dead letter',
  );
});
