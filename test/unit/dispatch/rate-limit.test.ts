/**
 * A webhook's `rateLimit: {perSecond, burst}` on a fake clock: the token
 * bucket admits `burst` at once, then one attempt per 1/perSecond, says when
 * the next token comes, and never saves up more than `burst`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateLimits, TokenBucket } from '../../../src/dispatch/rate-limit.ts';
import type { Webhook } from '../../../src/rules/webhook-schema.ts';

test('a full bucket admits the burst at once, then one attempt per 1/perSecond', () => {
  const t0 = 1_000_000;
  const b = new TokenBucket(5, 2, t0);
  assert.equal(b.available(t0), 2, 'starts full: the burst');
  b.take(2, t0);
  assert.equal(b.available(t0), 0);
  assert.equal(b.nextAt(t0), t0 + 200, 'the next token after 1/5 s');
  assert.equal(b.available(t0 + 199), 0, 'not a moment before');
  assert.equal(b.available(t0 + 200), 1);
  b.take(1, t0 + 200);
  assert.equal(b.nextAt(t0 + 250), t0 + 400, 'a partial token counts toward the next');
  assert.equal(b.available(t0 + 400), 1);
});

test('an idle bucket saves up to the burst, no more', () => {
  const b = new TokenBucket(10, 3, 0);
  b.take(3, 0);
  assert.equal(b.available(60_000), 3, 'a minute idle: still only the burst');
  assert.equal(b.nextAt(60_000), 60_000, 'a token is there now');
});

test('without a burst, the bucket holds one second of tokens (at least one)', () => {
  assert.equal(new TokenBucket(4, undefined, 0).available(0), 4);
  const slow = new TokenBucket(0.5, undefined, 0);
  assert.equal(slow.available(0), 1);
  slow.take(1, 0);
  assert.equal(slow.nextAt(0), 2000, 'one every 2 s');
  assert.equal(slow.available(1999), 0);
  assert.equal(slow.available(2000), 1);
});

test('over any stretch of fake time, admitted attempts ≤ burst + elapsed × perSecond', () => {
  const perSecond = 7;
  const burst = 3;
  const b = new TokenBucket(perSecond, burst, 0);
  let admitted = 0;
  // Ask every 13 ms for 10 s, taking everything offered.
  for (let now = 0; now <= 10_000; now += 13) {
    const n = b.available(now);
    b.take(n, now);
    admitted += n;
    assert.ok(admitted <= burst + (now / 1000) * perSecond, `${admitted} admitted by ${now} ms`);
  }
  assert.ok(admitted >= 10 * perSecond, `the rate is used, not undercut (${admitted})`);
});

test('RateLimits: only webhooks with a rateLimit are limited; each has its own bucket; forget drops it', () => {
  const limited = { id: 'a', identifier: 'a', rateLimit: { perSecond: 1, burst: 1 } } as Webhook;
  const other = { id: 'b', identifier: 'b', rateLimit: { perSecond: 1, burst: 1 } } as Webhook;
  const free = { id: 'c', identifier: 'c' } as Webhook;
  const limits = new RateLimits();
  assert.deepEqual(limits.available(free, 0), { allowed: Number.POSITIVE_INFINITY });
  assert.deepEqual(limits.available(limited, 0), { allowed: 1 });
  limits.take(limited, 1, 0);
  assert.deepEqual(limits.available(limited, 500), { allowed: 0, wakeAt: 1000 }, 'says when to come back');
  assert.deepEqual(limits.available(other, 500), { allowed: 1 }, 'another webhook is not slowed');
  limits.forget('a');
  assert.deepEqual(limits.available(limited, 500), { allowed: 1 }, 'a forgotten webhook starts full');
});
