/**
 * Issue 11 (missing coverage) and issue 12 bug 3: what a real receiver's
 * `Retry-After` does to the retry hookd stores. It may lengthen the
 * scheduled delay up to max(2 × scheduled, maxRetryAfterMs), never shorten
 * it: `Retry-After: 0` and a past date keep the schedule (before the fix, 503
 * with `Retry-After: 0` used up all retries in about 150 ms), a far-future
 * date is capped. Asserted on the stored `next_attempt_at`, not on sleeps.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { RunningHookd } from '../helpers/hookd.ts';
import { usePeers } from '../helpers/peers.ts';
import { waitFor } from '../helpers/wait.ts';

/** The delay before the second attempt, its jitter, and the cap on Retry-After. */
const STEP_MS = 10_000;
const JITTER = 0.2;
const MAX_RETRY_AFTER_MS = 60_000;

const CASES = {
  zero: { header: '0', delayMs: STEP_MS },
  past: { header: 'Wed, 21 Oct 2015 07:28:00 GMT', delayMs: STEP_MS },
  longer: { header: '15', delayMs: 15_000 },
  'far-future': { header: 'Fri, 01 Jan 2100 00:00:00 GMT', delayMs: MAX_RETRY_AFTER_MS },
} as const;

let hookd: RunningHookd;
const peers = usePeers();

before(async () => {
  const receiver = await peers.receiver();
  receiver.respond((r) => {
    const name = r.url.slice(1) as keyof typeof CASES;
    return { status: 503, headers: { 'retry-after': CASES[name].header }, body: 'busy' };
  });
  hookd = await peers.hookd({
    rules: {
      'r.yaml': `webhooks:\n${Object.keys(CASES)
        .map((name) => `  - identifier: ${name}\n    url: ${receiver.url}/${name}\n`)
        .join('')}`,
    },
    config: {
      delivery: {
        retry: {
          schedule: ['0s', `${STEP_MS}ms`, `${STEP_MS}ms`],
          jitter: JITTER,
          maxRetryAfterMs: MAX_RETRY_AFTER_MS,
        },
      },
    },
  });
});

test('Retry-After: 0, a past date, a longer value and a far-future date, as stored retry times', async () => {
  const r = await fetch(`${hookd.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'evt-1', type: 'order.created' }),
  });
  assert.equal(r.status, 202);
  const { events } = (await r.json()) as { events: { deliveries: string[] }[] };
  const { deliveries, attempts } = hookd.app.store;
  let seen: unknown;
  const rows = await waitFor(
    'every delivery to have its first attempt recorded and a retry stored',
    async () => {
      const all = await Promise.all(events[0]!.deliveries.map(async (id) => (await deliveries.get(id))!));
      seen = all;
      return all.every((d) => d.attempts === 1 && d.state === 'pending') ? all : undefined;
    },
    { saw: () => seen },
  );
  assert.equal(rows.length, Object.keys(CASES).length);
  for (const row of rows) {
    const { delayMs } = CASES[row.identifier as keyof typeof CASES];
    const attempt = (await attempts.of(row.id))[0]!;
    assert.equal(attempt.status, 503);
    const scheduled = row.next_attempt_at - attempt.started_at;
    // The retry is decided after the answer: allow the attempt's own duration on top.
    const slack = attempt.duration_ms + 1000;
    assert.ok(
      scheduled >= delayMs * (1 - JITTER) && scheduled <= delayMs * (1 + JITTER) + slack,
      `${row.identifier}: Retry-After ${CASES[row.identifier as keyof typeof CASES].header} → retry stored ${scheduled} ms after the attempt (expected ${delayMs} ms ± ${JITTER * 100} %)`,
    );
  }
});
