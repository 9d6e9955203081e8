/**
 * The scheduler on a fake clock: it is pure bookkeeping over a `DueWork`
 * source, so time is a number the test passes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Admission, Gate } from '../../../src/dispatch/scheduler.ts';
import { Scheduler } from '../../../src/dispatch/scheduler.ts';
import { SqliteStore } from '../../../src/outbox/index.ts';
import type { Webhook } from '../../../src/rules/webhook-schema.ts';
import { delivery, webhook } from './fixtures.ts';

function setup(hooks: Webhook[], opts: { concurrency?: number; perWebhook?: number; gate?: Gate } = {}) {
  const outbox = new SqliteStore(':memory:').deliveries;
  let now = 1000;
  const byId = new Map(hooks.map((w) => [w.id, w]));
  const scheduler = new Scheduler({
    work: outbox,
    webhook: (id) => byId.get(id),
    gate: opts.gate,
    concurrency: opts.concurrency ?? 64,
    perWebhookConcurrency: opts.perWebhook ?? 8,
    now: () => now,
  });
  return {
    outbox,
    scheduler,
    byId,
    at: (t: number) => {
      now = t;
    },
  };
}

test('takes only what is due, and says when the next is', () => {
  const { outbox, scheduler, at } = setup([webhook('a')]);
  outbox.insert([delivery('e1', 'a', 1000), delivery('e2', 'a', 5000)]);
  scheduler.rescan();
  assert.deepEqual(
    scheduler.take().map((s) => s.row.event_id),
    ['e1'],
  );
  assert.equal(scheduler.wakeAt(), 5000);
  at(4999);
  assert.deepEqual(scheduler.take(), []);
  at(5000);
  assert.deepEqual(
    scheduler.take().map((s) => s.row.event_id),
    ['e2'],
  );
});

test('global capacity is shared round-robin: the webhook served longest ago goes first', () => {
  const { outbox, scheduler } = setup([webhook('a'), webhook('b'), webhook('c')], {
    concurrency: 2,
    perWebhook: 1,
  });
  for (const w of ['a', 'b', 'c']) outbox.insert([1, 2, 3].map((i) => delivery(`${w}${i}`, w, 1000)));
  scheduler.rescan();
  const served: string[] = [];
  for (let round = 0; round < 3; round++) {
    const starts = scheduler.take();
    assert.equal(starts.length, 2, 'the global limit');
    for (const s of starts) {
      served.push(s.row.webhook_id);
      scheduler.finished(s.row.webhook_id);
      outbox.complete(
        [
          {
            deliveryId: s.row.id,
            attempt: 1,
            startedAt: 0,
            durationMs: 0,
            outcome: 'success',
            next: { state: 'succeeded' },
          },
        ],
        1000,
      );
      scheduler.written(s.row.webhook_id, s.row.id);
    }
  }
  assert.deepEqual(served.sort(), ['a', 'a', 'b', 'b', 'c', 'c'], 'each served twice in three rounds of two');
});

test('per-webhook concurrency (its own override first), and lower priority numbers first', () => {
  const { outbox, scheduler } = setup([webhook('a', { concurrency: 2 }), webhook('b', { priority: -1 })], {
    concurrency: 5,
    perWebhook: 4,
  });
  for (const w of ['a', 'b']) outbox.insert([1, 2, 3, 4, 5].map((i) => delivery(`${w}${i}`, w, 1000)));
  scheduler.rescan();
  const starts = scheduler.take().map((s) => s.row.webhook_id);
  assert.deepEqual(starts, ['b', 'b', 'b', 'b', 'a'], 'b (priority -1) up to its 4, then a');
  assert.equal(scheduler.take().length, 0, 'global limit reached');
  scheduler.finished('b');
  assert.deepEqual(
    scheduler.take().map((s) => s.row.webhook_id),
    ['b'],
    'a freed slot goes to the lower priority number first',
  );
  for (let i = 0; i < 4; i++) scheduler.finished('b');
  assert.deepEqual(
    scheduler.take().map((s) => s.row.webhook_id),
    ['a'],
    'every b is taken; a goes up to its own concurrency of 2',
  );
  assert.deepEqual(scheduler.take(), [], 'a is at its limit though capacity is free');
});

test('a held webhook is not taken; the scheduler wakes when the hold ends', () => {
  const holds = new Map<string, Admission>([['a', { allowed: 0, probe: false, wakeAt: 9000 }]]);
  const started: string[] = [];
  const gate: Gate = {
    admit: (w) => holds.get(w.id) ?? { allowed: Number.POSITIVE_INFINITY, probe: false },
    started: (w, n, probe) => started.push(`${w.id}:${n}:${probe}`),
  };
  const { outbox, scheduler } = setup([webhook('a'), webhook('b')], { gate });
  outbox.insert([delivery('a1', 'a', 1000), delivery('a2', 'a', 50_000), delivery('b1', 'b', 1000)]);
  scheduler.rescan();
  assert.deepEqual(
    scheduler.take().map((s) => s.row.event_id),
    ['b1'],
  );
  assert.equal(scheduler.wakeAt(), 9000, 'back when the hold ends');
  // A half-open probe takes the earliest pending delivery, due or not.
  holds.set('a', { allowed: 1, probe: true });
  assert.deepEqual(
    scheduler.take().map((s) => s.row.event_id),
    ['a1'],
  );
  assert.deepEqual(started, ['b:1:false', 'a:1:true']);
});

test('a delivery is not read again while in flight or until its result is written', () => {
  const { outbox, scheduler } = setup([webhook('a')]);
  outbox.insert([delivery('e1', 'a', 1000)]);
  scheduler.rescan();
  const [s] = scheduler.take();
  assert.ok(s);
  scheduler.notify('a', 1000);
  assert.deepEqual(scheduler.take(), [], 'in flight');
  scheduler.finished('a');
  scheduler.notify('a', 1000);
  assert.deepEqual(scheduler.take(), [], 'finished, result not written');
  assert.equal(scheduler.taken, 1);
  scheduler.written('a', s.row.id);
  scheduler.notify('a', 1000);
  assert.equal(scheduler.take().length, 1, 'still pending in the store: read again');
});
