/**
 * Attempt timeouts without a controller and timer per attempt (issue 14):
 * attempts that start in the same slot share one signal; it is aborted
 * with a TimeoutError after the timeout (at most one slot late, never
 * early); shutdown aborts every open slot.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { Deadlines } from '../../../src/dispatch/deadlines.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 }));
afterEach(() => mock.timers.reset());

test('an attempt is aborted with a TimeoutError once its timeout is over, not before', () => {
  const d = new Deadlines(Date.now, 50);
  const signal = d.signal(1000);
  mock.timers.tick(999);
  assert.equal(signal.aborted, false, 'not before its timeout');
  mock.timers.tick(51);
  assert.equal(signal.aborted, true, 'at most one slot after it');
  assert.equal((signal.reason as DOMException).name, 'TimeoutError');
  assert.match((signal.reason as DOMException).message, /no response within 1000 ms/);
});

test('attempts starting in the same slot with the same timeout share one signal; others get their own', () => {
  const d = new Deadlines(Date.now, 50);
  const a = d.signal(1000);
  mock.timers.tick(10);
  assert.equal(d.signal(1000), a, 'same slot, same timeout: shared');
  assert.notEqual(d.signal(2000), a, 'another timeout');
  mock.timers.tick(50);
  const later = d.signal(1000);
  assert.notEqual(later, a, 'a later slot');
  mock.timers.tick(1000);
  assert.equal(a.aborted, true);
  assert.equal(later.aborted, false, 'the later slot is not over yet');
  mock.timers.tick(50);
  assert.equal(later.aborted, true);
});

test('shutdown aborts every open slot with its reason', () => {
  const d = new Deadlines(Date.now, 50);
  const a = d.signal(1000);
  const b = d.signal(5000);
  d.abortAll(new Error('hookd is shutting down'));
  assert.ok(a.aborted && b.aborted);
  assert.equal((a.reason as Error).message, 'hookd is shutting down');
  // A new attempt after that gets a fresh slot.
  assert.equal(d.signal(1000).aborted, false);
});
