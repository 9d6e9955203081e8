/**
 * Fresh deliveries dispatched from memory (issue 14): deliveries just
 * stored are served from memory without reading the store; a webhook whose
 * store holds more (a retry, a requeue, a restart) is read from the store
 * until it has none but those taken; memory is bounded, and a webhook that
 * does not move is sent to the store instead of holding intake up.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import type { DueRow, DueWork } from '../../../src/dispatch/due-work.ts';
import { FreshWork } from '../../../src/dispatch/fresh-work.ts';

const row = (id: string, webhookId = 'w'): DueRow => ({
  id,
  event_id: id,
  event_type: 'x.y',
  webhook_id: webhookId,
  identifier: webhookId,
  transport: 'http',
  priority: 0,
  attempts: 0,
  received_at: 0,
  request: { body: '{}' },
});

/** A store that records what it was asked and answers from a fixed list. */
class FakeStore implements DueWork {
  calls: string[] = [];
  pending: { row: DueRow; at: number }[] = [];
  dueByWebhook() {
    this.calls.push('dueByWebhook');
    const by = new Map<string, number>();
    for (const p of this.pending) by.set(p.row.webhook_id, Math.min(by.get(p.row.webhook_id) ?? p.at, p.at));
    return [...by].map(([webhookId, at]) => ({ webhookId, at }));
  }
  due(webhookId: string, upTo: number, limit: number, skip: readonly string[]) {
    this.calls.push(`due ${webhookId}`);
    return this.pending
      .filter((p) => p.row.webhook_id === webhookId && p.at <= upTo && !skip.includes(p.row.id))
      .slice(0, limit)
      .map((p) => p.row);
  }
  nextDueOf(webhookId: string, skip: readonly string[]) {
    this.calls.push(`nextDueOf ${webhookId}`);
    return this.pending.find((p) => p.row.webhook_id === webhookId && !skip.includes(p.row.id))?.at;
  }
}

const never = () => false;

beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
afterEach(() => mock.timers.reset());

test('deliveries just stored are served from memory, oldest first, without reading the store', () => {
  const store = new FakeStore();
  const fresh = new FreshWork(store);
  fresh.add(
    'w',
    [
      { row: row('a'), at: 10 },
      { row: row('b'), at: 20 },
      { row: row('c'), at: 30 },
    ],
    never,
  );
  assert.equal(fresh.size, 3);
  assert.deepEqual(
    fresh.due('w', 20, 10, []).map((r) => r.id),
    ['a', 'b'],
    'only what is due',
  );
  assert.equal(fresh.nextDueOf('w', []), 30);
  assert.deepEqual(
    fresh.due('w', 100, 10, []).map((r) => r.id),
    ['c'],
  );
  assert.equal(fresh.nextDueOf('w', []), undefined);
  assert.equal(fresh.size, 0);
  assert.deepEqual(store.calls, [], 'the store was never read');
});

test('a delivery the store handed out meanwhile is not served again from memory', () => {
  const fresh = new FreshWork(new FakeStore());
  fresh.add(
    'w',
    [
      { row: row('a'), at: 0 },
      { row: row('b'), at: 0 },
    ],
    (id) => id === 'a',
  );
  assert.deepEqual(
    fresh.due('w', 0, 10, []).map((r) => r.id),
    ['b'],
  );
  // One taken after it was added is dropped when read (the scheduler passes what it has taken).
  fresh.add(
    'w',
    [
      { row: row('c'), at: 0 },
      { row: row('d'), at: 0 },
    ],
    never,
  );
  assert.deepEqual(
    fresh.due('w', 0, 10, ['c']).map((r) => r.id),
    ['d'],
  );
});

test('a webhook sent to the store is read from it until it has none left but those taken; then memory again', () => {
  const store = new FakeStore();
  const fresh = new FreshWork(store);
  fresh.add('w', [{ row: row('a'), at: 0 }], never);
  // A retry of 'r' waits in the store: memory no longer holds everything pending.
  store.pending = [
    { row: row('r'), at: 5 },
    { row: row('a'), at: 0 },
  ];
  fresh.toStore('w');
  assert.equal(fresh.size, 0, 'memory let go of its copy');
  fresh.add('w', [{ row: row('b'), at: 0 }], never);
  assert.equal(fresh.size, 0, 'fresh ones stay in the store meanwhile');
  assert.deepEqual(
    fresh.due('w', 10, 10, []).map((r) => r.id),
    ['r', 'a'],
  );
  store.pending = [
    { row: row('r'), at: 5 },
    { row: row('a'), at: 0 },
  ];
  assert.equal(fresh.nextDueOf('w', ['r', 'a']), undefined, 'nothing but what is taken');
  fresh.add('w', [{ row: row('c'), at: 0 }], never);
  store.calls = [];
  assert.deepEqual(
    fresh.due('w', 10, 10, []).map((r) => r.id),
    ['c'],
    'memory again',
  );
  assert.deepEqual(store.calls, []);
});

test('a rescan sends every webhook the store has pending deliveries of to the store', () => {
  const store = new FakeStore();
  const fresh = new FreshWork(store);
  fresh.add('w', [{ row: row('a'), at: 0 }], never);
  fresh.add('v', [{ row: row('x', 'v'), at: 0 }], never);
  store.pending = [
    { row: row('a'), at: 0 },
    { row: row('z'), at: 0 },
  ];
  assert.deepEqual(fresh.dueByWebhook(), [{ webhookId: 'w', at: 0 }]);
  assert.deepEqual(
    fresh.due('w', 0, 10, []).map((r) => r.id),
    ['a', 'z'],
    'w from the store',
  );
  assert.deepEqual(
    fresh.due('v', 0, 10, []).map((r) => r.id),
    ['x'],
    'v still from memory',
  );
});

test('memory is bounded: intake waits for room, and a webhook that does not move goes to the store', async () => {
  const fresh = new FreshWork(new FakeStore(), { room: 4, waitMs: 200 });
  fresh.add(
    'w',
    [0, 1, 2].map((i) => ({ row: row(`w${i}`), at: 0 })),
    never,
  );
  fresh.add(
    'held',
    [0, 1].map((i) => ({ row: row(`h${i}`, 'held'), at: 0 })),
    never,
  );
  let roomy = false;
  const waiting = fresh.room().then(() => {
    roomy = true;
  });
  await Promise.resolve();
  assert.equal(roomy, false, 'full: intake waits');
  // One is taken: room again, at once.
  fresh.due('w', 0, 2, []);
  await waiting;
  assert.equal(roomy, true);

  // Full again and nothing moves: after waitMs the largest queue goes to the store.
  fresh.add(
    'held',
    [2, 3, 4].map((i) => ({ row: row(`h${i}`, 'held'), at: 0 })),
    never,
  );
  assert.equal(fresh.size, 6);
  let done = false;
  const stuck = fresh.room().then(() => {
    done = true;
  });
  mock.timers.tick(199);
  await Promise.resolve();
  assert.equal(done, false);
  mock.timers.tick(1);
  await stuck;
  assert.equal(fresh.size, 1, 'the held webhook left memory; w keeps its one');
  fresh.add('held', [{ row: row('h9', 'held'), at: 0 }], never);
  assert.equal(fresh.size, 1, 'its new deliveries stay in the store');
});

test('a webhook that drains too slowly (rate-limited) does not hold intake: it goes to the store', async () => {
  const fresh = new FreshWork(new FakeStore(), { room: 4, waitMs: 200 });
  fresh.add(
    'slow',
    [0, 1, 2, 3, 4, 5].map((i) => ({ row: row(`s${i}`, 'slow'), at: 0 })),
    never,
  );
  fresh.add('w', [{ row: row('w0'), at: 0 }], never);
  let done = false;
  const waiting = fresh.room().then(() => {
    done = true;
  });
  // One is taken now and then, but memory stays full.
  mock.timers.tick(100);
  fresh.due('slow', 0, 1, []);
  await Promise.resolve();
  assert.equal(done, false);
  mock.timers.tick(100);
  await waiting;
  assert.equal(fresh.size, 1, 'the slow webhook left memory; w keeps its one');
  assert.deepEqual(
    fresh.due('w', 0, 10, []).map((r) => r.id),
    ['w0'],
  );
});

test('a webhook read from the store is read ahead: one read serves many takes, and nothing is handed out twice', () => {
  const store = new FakeStore();
  const fresh = new FreshWork(store);
  store.pending = Array.from({ length: 1000 }, (_, i) => ({ row: row(`d${i}`), at: i }));
  fresh.toStore('w');
  // The scheduler's way: one or two at a time as slots free, passing what it has taken; results are
  // written (the delivery leaves the store's pending rows) a few takes later.
  const taken: string[] = [];
  const seen = new Set<string>();
  while (seen.size < 1000) {
    const rows = fresh.due('w', 5000, 1 + (seen.size % 2), taken);
    assert.ok(rows.length > 0, `${seen.size} handed out, then nothing`);
    for (const r of rows) {
      assert.ok(!seen.has(r.id), `${r.id} handed out twice`);
      seen.add(r.id);
      taken.push(r.id);
    }
    while (taken.length > 50) {
      const done = taken.shift()!;
      store.pending = store.pending.filter((p) => p.row.id !== done);
    }
  }
  const reads = store.calls.filter((c) => c === 'due w').length;
  assert.ok(reads <= 6, `1,000 deliveries took ${reads} reads of the store`);
  // The last of them written: the store has none left but those taken; memory again.
  assert.equal(fresh.nextDueOf('w', taken), undefined);
  fresh.add('w', [{ row: row('fresh'), at: 0 }], never);
  assert.deepEqual(
    fresh.due('w', 5000, 10, taken).map((r) => r.id),
    ['fresh'],
  );
});

test('a probe reads no further than the one delivery it takes', () => {
  const store = new FakeStore();
  const fresh = new FreshWork(store);
  store.pending = [
    { row: row('later'), at: 100 },
    { row: row('later2'), at: 200 },
  ];
  fresh.toStore('w');
  assert.deepEqual(
    fresh.due('w', Number.MAX_SAFE_INTEGER, 1, []).map((r) => r.id),
    ['later'],
  );
  assert.equal(fresh.nextDueOf('w', ['later']), 200, 'the next is read from the store, when it is due');
});

test('a drain keeps intake waiting, not the store: memory over its bound but taken fast stays in memory', async () => {
  const store = new FakeStore();
  const fresh = new FreshWork(store, { room: 4, waitMs: 200 });
  // Intake stored several batches at once: 12 wait, 8 over the bound.
  fresh.add(
    'w',
    Array.from({ length: 12 }, (_, i) => ({ row: row(`w${i}`), at: 0 })),
    never,
  );
  let done = false;
  const waiting = fresh.room().then(() => {
    done = true;
  });
  // The dispatcher takes 5 in the first wait: at that rate memory is under the bound within two more.
  for (let i = 0; i < 5; i++) {
    mock.timers.tick(40);
    fresh.due('w', 0, 1, []);
  }
  await Promise.resolve();
  assert.equal(done, false, 'still over the bound: intake waits');
  assert.equal(fresh.size, 7, 'nothing went to the store');
  for (let i = 0; i < 4; i++) {
    mock.timers.tick(40);
    fresh.due('w', 0, 1, []);
  }
  await waiting;
  assert.equal(fresh.size, 3);
  assert.deepEqual(
    store.calls.filter((c) => c.startsWith('due')),
    [],
    'the store was never read',
  );
  fresh.add('w', [{ row: row('w12'), at: 0 }], never);
  assert.equal(fresh.size, 4, 'new deliveries of the webhook still wait in memory');
});
