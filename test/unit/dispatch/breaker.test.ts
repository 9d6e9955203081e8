/**
 * Issue 6, acceptance 1: the breaker walked through closed → open →
 * half-open → closed and → open again with a fake clock, with its cooldowns
 * and the held-delivery rule (nothing but the probe is admitted while open).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Breaker, type BreakerSettings } from '../../../src/dispatch/breaker.ts';
import { WebhookStates } from '../../../src/dispatch/webhook-states.ts';
import { SqliteStore } from '../../../src/outbox/index.ts';
import type { Webhook } from '../../../src/rules/webhook-schema.ts';
import { webhook as hook } from './fixtures.ts';

const S: BreakerSettings = {
  failures: 3,
  rate: 0.5,
  minAttempts: 10,
  windowMs: 60_000,
  cooldownMs: 30_000,
  maxCooldownMs: 100_000,
};

test('closed → open after N consecutive failures; a success resets the count', () => {
  const b = new Breaker(S);
  assert.equal(b.record(false, 1), undefined);
  assert.equal(b.record(false, 2), undefined);
  assert.equal(b.record(true, 3), undefined, 'a success in between resets');
  assert.equal(b.record(false, 4), undefined);
  assert.equal(b.record(false, 5), undefined);
  const t = b.record(false, 6);
  assert.deepEqual([t?.from, t?.to], ['closed', 'open']);
  assert.equal(t?.reopensAt, 6 + 30_000);
  assert.match(t!.reason, /3 consecutive failed attempts/);
});

test('open → half-open after the cooldown: exactly one probe; success closes, failure doubles the cooldown up to the cap', () => {
  const b = new Breaker(S);
  for (let i = 0; i < 3; i++) b.record(false, 0);
  assert.equal(b.mode, 'open');
  assert.equal(b.admit(29_999).allowed, 0, 'held during the cooldown');
  const half = b.admit(30_000);
  assert.equal(half.allowed, 1);
  assert.deepEqual([half.transition?.from, half.transition?.to], ['open', 'half-open']);
  b.probeStarted();
  assert.equal(b.admit(30_001).allowed, 0, 'one probe at a time');
  // Probe fails: open again with 60 s.
  const again = b.record(false, 31_000);
  assert.deepEqual([again?.from, again?.to], ['half-open', 'open']);
  assert.equal(b.cooldownMs, 60_000);
  assert.equal(b.admit(31_000 + 59_999).allowed, 0);
  assert.equal(b.admit(31_000 + 60_000).allowed, 1);
  b.probeStarted();
  b.record(false, 100_000);
  assert.equal(b.cooldownMs, 100_000, '120 s capped at maxCooldownMs');
  assert.equal(b.admit(200_000).allowed, 1);
  b.probeStarted();
  const closed = b.record(true, 200_500);
  assert.deepEqual([closed?.from, closed?.to], ['half-open', 'closed']);
  assert.equal(b.cooldownMs, 30_000, 'back to the base cooldown');
  assert.equal(b.admit(200_501).allowed, Number.POSITIVE_INFINITY);
});

test('opens on the failure rate over the window with a minimum volume', () => {
  const b = new Breaker({ ...S, failures: 100 });
  // Alternate: 50 % failures, never 100 in a row.
  let t: ReturnType<Breaker['record']>;
  for (let i = 0; i < 9; i++) t = b.record(i % 2 === 0, i);
  assert.equal(t, undefined, 'below minAttempts nothing happens');
  t = b.record(false, 10);
  assert.equal(t?.to, 'open');
  assert.match(t!.reason, /of 10 attempts failed/);
  // Outcomes older than the window do not count.
  const c = new Breaker({ ...S, failures: 100 });
  for (let i = 0; i < 9; i++) c.record(false, i);
  for (let i = 0; i < 20; i++) c.record(true, 70_000 + i);
  assert.equal(c.record(false, 70_100), undefined, 'old failures fell out of the window');
});

const webhook = (over: Partial<Webhook> = {}): Webhook => hook('w1', { identifier: 'crm', ...over });

test('WebhookStates: TooManyErrors is persisted and survives a restart; Stopped holds everything; Active resumes', () => {
  const store = new SqliteStore(':memory:');
  const changes: string[] = [];
  const make = () =>
    new WebhookStates({
      store: store.webhookStates,
      settings: S,
      onChange: (c) => changes.push(`${c.from}->${c.to}`),
      onBreaker: () => {},
    });
  const states = make();
  const w = webhook();
  for (let i = 0; i < 3; i++) states.record(w, false, 1000);
  assert.equal(states.stateOf(w), 'TooManyErrors');
  assert.deepEqual(changes, ['Active->TooManyErrors']);
  assert.equal(states.admit(w, 2000).allowed, 0);

  const restarted = make();
  assert.equal(restarted.stateOf(w), 'TooManyErrors', 'state survives a restart');
  assert.equal(restarted.admit(w, 1000 + 29_000).allowed, 0, 'with its cooldown');
  const probe = restarted.admit(w, 1000 + 30_000);
  assert.deepEqual([probe.allowed, probe.probe], [1, true]);
  restarted.probeStarted(w);
  restarted.record(w, true, 31_500);
  assert.equal(restarted.stateOf(w), 'Active');

  restarted.setState(w, 'Stopped', 'maintenance', 40_000);
  assert.equal(restarted.admit(w, 1e12).allowed, 0, 'Stopped holds until set Active');
  assert.equal(restarted.record(w, false, 40_001), undefined, 'no breaker bookkeeping while stopped');
  restarted.setState(w, 'Active', 'back', 50_000);
  assert.equal(restarted.admit(w, 50_001).allowed, Number.POSITIVE_INFINITY);
  assert.deepEqual(changes.slice(-3), ['TooManyErrors->Active', 'Active->Stopped', 'Stopped->Active']);
});

test('WebhookStates: a deleted webhook is forgotten, so a new one with its id starts Active', () => {
  const store = new SqliteStore(':memory:');
  const make = () =>
    new WebhookStates({ store: store.webhookStates, settings: S, onChange: () => {}, onBreaker: () => {} });
  const states = make();
  const w = webhook();
  states.setState(w, 'TooManyErrors', 'by hand', 1);
  states.forget(w.id);
  assert.equal(states.stateOf(w), 'Active');
  assert.equal(make().stateOf(w), 'Active', 'gone from the store too');
});
