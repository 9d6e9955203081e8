/**
 * Issue 2, acceptance 4: a 503 with Retry-After: 9 then 200 is delivered on
 * the retry, which waited for Retry-After (longer than the scheduled 5 s;
 * Retry-After never shortens the schedule, issue 12 bug 3); a 400 is permanent and not retried; attempts are in the store.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type RunningHookd, startHookd } from '../helpers/hookd.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

let flaky: Receiver;
let rejecting: Receiver;
let hookd: RunningHookd;

before(async () => {
  [flaky, rejecting] = await Promise.all([startReceiver(), startReceiver()]);
  flaky.respond((_r, n) =>
    n === 1
      ? { status: 503, headers: { 'retry-after': '9' }, body: 'busy, come back' }
      : { status: 200, body: 'ok' },
  );
  rejecting.respond(() => ({ status: 400, body: '{"error":"bad payload"}' }));
  hookd = await startHookd({
    rules: {
      'r.yaml': `
webhooks:
  - identifier: flaky
    url: ${flaky.url}/in
    events: [order.created]
  - identifier: rejecting
    url: ${rejecting.url}/in
    events: [order.created]
`,
    },
    // The default schedule retries after 5 s ± 20 %; Retry-After: 9 lengthens that to 9 s ± 20 %.
    config: {},
  });
});

after(async () => {
  await hookd?.stop();
  await Promise.all([flaky?.close(), rejecting?.close()]);
});

async function post(body: unknown) {
  const r = await fetch(`${hookd.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as { events: { id: string; deliveries: string[] }[] } };
}

async function until<T>(fn: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('503 with Retry-After: 9 is retried after the longer Retry-After and then delivered; 400 is permanent', async () => {
  const res = await post({ id: 'ord-1', type: 'order.created', data: { total: 10 } });
  assert.equal(res.status, 202);
  const [flakyId, rejectId] = res.body.events[0]!.deliveries;
  const outbox = hookd.app.outbox;
  const byWebhook = (id: string) => outbox.get(id)!;
  const flakyRow = byWebhook(flakyId!).identifier === 'flaky' ? flakyId! : rejectId!;
  const rejectRow = flakyRow === flakyId ? rejectId! : flakyId!;

  const scheduled = await until(() => {
    const row = outbox.get(flakyRow);
    return row?.attempts === 1 ? row.next_attempt_at - outbox.attempts(flakyRow)[0]!.started_at : undefined;
  });
  assert.ok(
    scheduled >= 7200 && scheduled <= 10_800 + 1000,
    `the retry was stored for Retry-After: 9 s ± 20 % (${scheduled} ms after the attempt; the schedule alone says at most 6 s)`,
  );
  await flaky.waitFor(2, 20_000);
  const gap = flaky.requests[1]!.at - flaky.requests[0]!.at;
  assert.ok(gap >= 7000, `the retry waited for Retry-After (gap ${gap} ms)`);
  assert.equal(
    flaky.requests[0]!.headers['webhook-id'],
    flaky.requests[1]!.headers['webhook-id'],
    'same webhook-id on the retry',
  );
  assert.equal(flaky.requests[0]!.body, flaky.requests[1]!.body, 'same bytes on the retry');

  const delivered = await until(() =>
    outbox.get(flakyRow)?.state === 'succeeded' ? outbox.get(flakyRow) : undefined,
  );
  assert.equal(delivered.attempts, 2);
  const attempts = outbox.attempts(flakyRow);
  assert.deepEqual(
    attempts.map((a) => [a.attempt, a.outcome, a.status]),
    [
      [1, 'retryable', 503],
      [2, 'success', 200],
    ],
  );
  assert.equal(attempts[0]!.response, 'busy, come back', 'the response snippet is recorded');

  const failed = await until(() =>
    outbox.get(rejectRow)?.state === 'failed' ? outbox.get(rejectRow) : undefined,
  );
  assert.equal(failed.attempts, 1);
  assert.deepEqual(
    outbox.attempts(rejectRow).map((a) => [a.outcome, a.status, a.response]),
    [['permanent', 400, '{"error":"bad payload"}']],
  );
  // Give a wrong retry every chance to happen.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(rejecting.requests.length, 1, 'a 400 is not retried');
});

test('a 503 without Retry-After follows the schedule with jitter', async () => {
  // Fresh receiver state: always 503. With the default schedule, attempt 2 is due after 5 s ± 20 %.
  flaky.requests.length = 0;
  flaky.respond(() => ({ status: 503 }));
  await post({ id: 'ord-2', type: 'order.created' });
  await flaky.waitFor(1, 5000);
  await new Promise((r) => setTimeout(r, 3500));
  assert.equal(flaky.requests.length, 1, 'no retry before 4 s (5 s - 20 %)');
});
