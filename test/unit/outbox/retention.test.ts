/**
 * Retention (DESIGN.md section 8, issue 14 acceptance 3), on explicit
 * times: finished deliveries go with their attempts once past their
 * retention counted from when they finished; pending (held) ones never go;
 * each call deletes at most its budget.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import {
  type AttemptResult,
  deliveryId,
  type NewDelivery,
  type Pruned,
  RetentionLoop,
  SqliteStore,
} from '../../../src/outbox/index.ts';
import { delivery } from '../dispatch/fixtures.ts';

const RETENTION = { succeeded: 3000, failed: 10_000, rejected: 5000 };

const row = (eventId: string): NewDelivery => delivery(eventId, 'w1', 0);

const result = (eventId: string, outcome: AttemptResult['outcome'], attempt = 1): AttemptResult => ({
  deliveryId: deliveryId(eventId, 'w1'),
  attempt,
  startedAt: 900,
  durationMs: 4,
  outcome,
  status: outcome === 'success' ? 200 : outcome === 'permanent' ? 400 : 503,
  error: outcome === 'success' ? undefined : 'HTTP error',
  response: 'answer',
  next:
    outcome === 'success'
      ? { state: 'succeeded' }
      : outcome === 'permanent'
        ? { state: 'failed' }
        : { state: 'pending', at: 1e15 },
});

async function filled() {
  const store = new SqliteStore(':memory:');
  const d = store.deliveries;
  await d.insert(
    [row('ok'), row('ok2'), row('dead'), row('held'), row('retrying')],
    [{ receivedAt: 1000, source: 'http', reason: 'invalid_json' }],
  );
  d.claimed(3);
  // `retrying` failed once and waits; `dead` failed twice; both successes needed one retry.
  await d.complete(
    [result('ok', 'retryable'), result('dead', 'retryable'), result('retrying', 'retryable')],
    1000,
  );
  d.claimed(3);
  await d.complete(
    [result('ok', 'success', 2), result('ok2', 'success'), result('dead', 'permanent', 2)],
    1000,
  );
  return store;
}

const ids = async (store: SqliteStore) =>
  (await store.deliveries.byWebhook('w1', { limit: 100 })).items.map((r) => r.event_id).sort();

test('prune: nothing before its time; then succeeded with their attempts, then failed; pending never', async () => {
  const store = await filled();
  const none: Pruned = { deliveries: 0, attempts: 0, rejected: 0 };
  assert.deepEqual(await store.prune(RETENTION, 1000 + 3000, 100), none, 'exactly at the limit: kept');
  assert.deepEqual(await ids(store), ['dead', 'held', 'ok', 'ok2', 'retrying']);

  assert.deepEqual(await store.prune(RETENTION, 1000 + 3001, 100), {
    deliveries: 2,
    attempts: 1,
    rejected: 0,
  });
  assert.deepEqual(await ids(store), ['dead', 'held', 'retrying'], 'the delivered ones are gone');
  assert.deepEqual(await store.attempts.of(deliveryId('ok', 'w1')), [], 'their attempts went with them');
  assert.equal(await store.deliveries.get(deliveryId('ok', 'w1')), undefined);
  assert.deepEqual(store.deliveries.depth(), { pending: 3 - 1, inflight: 0, succeeded: 0, failed: 1 });

  assert.equal((await store.prune(RETENTION, 1000 + 5001, 100)).rejected, 1, 'rejected events after theirs');
  assert.deepEqual(await store.rejected.list(), []);

  assert.deepEqual(await store.prune(RETENTION, 1000 + 10_001, 100), {
    deliveries: 1,
    attempts: 2,
    rejected: 0,
  });
  assert.deepEqual(await ids(store), ['held', 'retrying'], 'the dead letter is gone');

  assert.deepEqual(await store.prune(RETENTION, 1e14, 100), none, 'pending deliveries are never pruned');
  assert.equal((await store.attempts.of(deliveryId('retrying', 'w1'))).length, 1, 'nor their attempts');
});

test('prune deletes at most its budget per call; the loop goes on until a call is not full', async () => {
  const store = new SqliteStore(':memory:');
  const rows = Array.from({ length: 7 }, (_, i) => row(`e${i}`));
  await store.deliveries.insert(rows);
  store.deliveries.claimed(7);
  await store.deliveries.complete(
    rows.map((r) => result(r.eventId, 'success')),
    1000,
  );
  assert.equal((await store.prune(RETENTION, 10_000, 3)).deliveries, 3);
  assert.equal((await ids(store)).length, 4);

  const calls: number[] = [];
  const loop = new RetentionLoop({
    store: {
      prune: async (r, now, budget) => {
        const p = await store.prune(r, now, budget);
        calls.push(p.deliveries);
        return p;
      },
    },
    retention: RETENTION,
    logger: pino({ level: 'silent' }),
    now: () => 10_000,
    batch: 3,
  });
  assert.deepEqual(await loop.pass(), { deliveries: 4, attempts: 0, rejected: 0 });
  assert.deepEqual(calls, [3, 1], 'two batches: a full one, then the rest');
  assert.deepEqual(await ids(store), []);
});

test('a success needs no attempts row: the log reads it from the delivery (store.attemptLog: failures)', async () => {
  const store = await filled();
  const log = await store.attempts.of(deliveryId('ok', 'w1'));
  assert.deepEqual(
    log.map((a) => [a.attempt, a.outcome, a.status, a.response]),
    [
      [1, 'retryable', 503, 'answer'],
      [2, 'success', 200, 'answer'],
    ],
  );
  const rows = store.sqlite.db.prepare(`SELECT outcome FROM attempts`).pluck().all();
  assert.ok(!rows.includes('success'), `no success rows: ${rows.join(',')}`);

  const all = new SqliteStore(':memory:', { attemptLog: 'all' });
  await all.deliveries.insert([row('ok')]);
  all.deliveries.claimed(1);
  await all.deliveries.complete([result('ok', 'success')], 1000);
  assert.deepEqual(
    (await all.attempts.of(deliveryId('ok', 'w1'))).map((a) => a.outcome),
    ['success'],
    'attemptLog all: one row, not two',
  );
  assert.equal(all.sqlite.db.prepare(`SELECT COUNT(*) FROM attempts`).pluck().get(), 1);
});
