/**
 * Issue 12 bug 4: per-webhook `breaker`, `rateLimit` and `concurrency`
 * changes never applied while hookd ran (objects cached per id at first use),
 * and after a restart an open breaker came back with the global settings.
 * The gates follow the webhook's current spec; breaker state survives a
 * settings change and a restart, with the right settings. Fake clock: times
 * are numbers passed in.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Breaker, type BreakerSettings } from '../../../src/dispatch/breaker.ts';
import { RateLimits } from '../../../src/dispatch/rate-limit.ts';
import { WebhookStates } from '../../../src/dispatch/webhook-states.ts';
import { SqliteStore } from '../../../src/outbox/index.ts';
import { webhook } from './fixtures.ts';

const GLOBAL: BreakerSettings = {
  failures: 10,
  rate: 0.99,
  minAttempts: 1000,
  windowMs: 60_000,
  cooldownMs: 30_000,
  maxCooldownMs: 600_000,
};

const states = (store = new SqliteStore(':memory:').webhookStates) =>
  new WebhookStates({ store, settings: GLOBAL, onChange: () => {}, onBreaker: () => {} });

test('a breaker setting changed while running applies to the next attempt, keeping what was counted', () => {
  const s = states();
  const v1 = webhook('w');
  for (let i = 0; i < 3; i++) s.record(v1, false, 1000 + i);
  assert.equal(s.stateOf(v1), 'Active', 'three failures are under the global ten');
  const v2 = webhook('w', { versionNo: 2, breaker: { failures: 4 } });
  s.record(v2, false, 1010);
  assert.equal(s.stateOf(v2), 'TooManyErrors', 'the fourth failure in a row opens it under failures: 4');
  assert.equal(s.admit(v2, 1010 + 29_999).allowed, 0);
  // A cooldown change while open: the open period follows the new spec from its start.
  const v3 = webhook('w', { versionNo: 3, breaker: { failures: 4, cooldownMs: 5000, maxCooldownMs: 5000 } });
  assert.equal(s.admit(v3, 1010 + 4999).allowed, 0, 'still open: the state survived the change');
  assert.deepEqual(s.admit(v3, 1010 + 5000), { allowed: 1, probe: true });
});

test('after a restart an open breaker comes back with its webhook’s settings, not the global ones', () => {
  const outbox = new SqliteStore(':memory:').webhookStates;
  const w = webhook('w', { breaker: { failures: 2, cooldownMs: 1000, maxCooldownMs: 1500 } });
  const before = states(outbox);
  before.record(w, false, 0);
  before.record(w, false, 0);
  assert.equal(before.stateOf(w), 'TooManyErrors');

  const after = states(outbox);
  assert.equal(after.admit(w, 999).allowed, 0);
  assert.deepEqual(after.admit(w, 1000), { allowed: 1, probe: true });
  after.probeStarted(w);
  const t = after.record(w, false, 1000);
  assert.equal(t?.reopensAt, 1000 + 1500, 'the doubled cooldown is capped by the webhook’s maxCooldownMs');
  assert.deepEqual(after.admit(w, 2500), { allowed: 1, probe: true });
  after.probeStarted(w);
  after.record(w, true, 2500);
  assert.equal(after.stateOf(w), 'Active');
  after.record(w, false, 3000);
  after.record(w, false, 3001);
  assert.equal(after.stateOf(w), 'TooManyErrors', 'closed again, it opens on the webhook’s 2 failures');
});

test('a snapshot saved before doublings were kept restores its cooldown from its length', () => {
  const snap = { mode: 'open' as const, openedAt: 0, cooldownMs: 120_000 };
  assert.equal(Breaker.restore(GLOBAL, snap).cooldownMs, 120_000, 'two doublings of 30 s');
  assert.equal(
    Breaker.restore({ ...GLOBAL, cooldownMs: 1000, maxCooldownMs: 5000 }, snap).cooldownMs,
    5000,
    'capped by the settings in force',
  );
});

test('a rate limit changed while running applies at once', () => {
  const limits = new RateLimits();
  const v1 = webhook('w', { rateLimit: { perSecond: 1, burst: 1 } });
  assert.equal(limits.available(v1, 0).allowed, 1);
  limits.take(v1, 1, 0);
  assert.equal(limits.available(v1, 10).allowed, 0, 'one per second');
  const v2 = webhook('w', { versionNo: 2, rateLimit: { perSecond: 1000, burst: 5 } });
  assert.equal(limits.available(v2, 10).allowed, 0, 'changed at 10 ms: nothing earned yet');
  assert.equal(limits.available(v2, 20).allowed, 5, '10 ms at 1000/s refills its new burst of 5');
  const v3 = webhook('w', { versionNo: 3 });
  assert.equal(limits.available(v3, 20).allowed, Number.POSITIVE_INFINITY, 'limit removed');
});
