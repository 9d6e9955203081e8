import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deliveryId, type NewDelivery, SqliteStore } from '../../../src/outbox/index.ts';
import { delivery } from '../dispatch/fixtures.ts';

/** The dispatch tests' delivery, on webhook w1 at time 0 unless told. */
const row = (eventId: string, webhookId = 'w1', at = 0): NewDelivery => delivery(eventId, webhookId, at);

test('the same (event, webhook) is stored once: redelivery adds nothing', async () => {
  const store = new SqliteStore(':memory:');
  const o = store.deliveries;
  assert.equal(await o.insert([row('e1'), row('e1', 'w2')]), 2);
  assert.equal(await o.insert([row('e1'), row('e1', 'w2'), row('e2')]), 1);
  assert.equal(o.depth().pending, 3);
  assert.equal(deliveryId('e1', 'w1'), deliveryId('e1', 'w1'), 'ids are stable');
  assert.notEqual(deliveryId('e1', 'w1'), deliveryId('e1', 'w2'));
});

test('due rows come per webhook, oldest first, leaving out those in flight', async () => {
  const store = new SqliteStore(':memory:');
  const o = store.deliveries;
  await o.insert([
    row('a', 'w1', 30),
    row('b', 'w1', 10),
    row('c', 'w1', 20),
    row('d', 'w2', 5),
    row('e', 'w1', 100),
  ]);
  assert.deepEqual(
    o.due('w1', 50, 10, []).map((r) => r.event_id),
    ['b', 'c', 'a'],
  );
  assert.deepEqual(
    o.due('w1', 50, 10, [deliveryId('b', 'w1')]).map((r) => r.event_id),
    ['c', 'a'],
  );
  assert.equal(o.nextDueOf('w1', [deliveryId('b', 'w1'), deliveryId('c', 'w1'), deliveryId('a', 'w1')]), 100);
  assert.deepEqual(
    o.dueByWebhook().sort((x, y) => x.webhookId.localeCompare(y.webhookId)),
    [
      { webhookId: 'w1', at: 10 },
      { webhookId: 'w2', at: 5 },
    ],
  );
});

test('completing attempts records them and moves deliveries on; failed ones can be retried', async () => {
  const store = new SqliteStore(':memory:');
  const o = store.deliveries;
  await o.insert([row('a'), row('b')]);
  const [a, b] = [deliveryId('a', 'w1'), deliveryId('b', 'w1')];
  o.claimed(2);
  await o.complete(
    [
      {
        deliveryId: a,
        attempt: 1,
        startedAt: 1,
        durationMs: 3,
        outcome: 'success',
        status: 200,
        next: { state: 'succeeded' },
      },
      {
        deliveryId: b,
        attempt: 1,
        startedAt: 1,
        durationMs: 3,
        outcome: 'permanent',
        status: 400,
        error: 'HTTP 400',
        next: { state: 'failed' },
      },
    ],
    2,
  );
  assert.deepEqual(o.depth(), { pending: 0, inflight: 0, succeeded: 1, failed: 1 });
  assert.equal((await o.get(b))!.last_error, 'HTTP 400');
  assert.equal((await store.attempts.of(b))[0]!.status, 400);
  assert.equal(await o.retryFailed({ webhookId: 'w1' }, 5), 1);
  assert.equal((await o.get(b))!.state, 'pending');
  assert.equal((await o.get(b))!.attempts, 0, 'a fresh retry budget');
  assert.deepEqual(o.depth(), { pending: 1, inflight: 0, succeeded: 1, failed: 0 });
});

test('a delivery whose request could not be rendered is stored as failed with the reason on its attempt', async () => {
  const store = new SqliteStore(':memory:');
  const o = store.deliveries;
  await o.insert([{ ...row('a'), renderError: 'render failed: url needs /data/id' }]);
  const id = deliveryId('a', 'w1');
  assert.equal((await o.get(id))!.state, 'failed');
  assert.equal((await store.attempts.of(id))[0]!.error, 'render failed: url needs /data/id');
  assert.equal(o.depth().failed, 1);
});

test('failed deliveries can be requeued by webhook id or identifier, and since a time', async () => {
  const store = new SqliteStore(':memory:');
  const o = store.deliveries;
  await o.insert([row('a', 'w1'), row('b', 'w1'), row('c', 'w2')]);
  o.claimed(3);
  const fail = (eventId: string, webhookId: string, at: number) => ({
    deliveryId: deliveryId(eventId, webhookId),
    attempt: 1,
    startedAt: at,
    durationMs: 1,
    outcome: 'permanent' as const,
    next: { state: 'failed' as const },
  });
  await o.complete([fail('a', 'w1', 1)], 100);
  await o.complete([fail('b', 'w1', 1), fail('c', 'w2', 1)], 200);
  assert.equal(await o.retryFailed({ webhookId: 'w1', since: 150 }, 300), 1, 'only the newer one');
  assert.equal((await o.get(deliveryId('b', 'w1')))!.state, 'pending');
  // row() uses the webhook id as its identifier too; give w2 a distinct identifier to look it up by.
  store.sqlite.db.prepare(`UPDATE deliveries SET identifier = 'crm' WHERE webhook_id = 'w2'`).run();
  assert.equal(await o.retryFailed({ webhookId: 'crm' }, 300), 1, 'by identifier');
  assert.equal((await o.get(deliveryId('a', 'w1')))!.state, 'failed', 'the older one of w1 stays failed');
});
