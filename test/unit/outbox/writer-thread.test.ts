/**
 * The store off the event loop (issue 14): a file store writes in its
 * writer thread; writes handed over together are committed as one group in
 * which one failing operation leaves the others, a failure that rolls the
 * whole transaction back fails every operation of the group, and a write is
 * answered only once committed (it is there for this thread's connection and
 * after a reopen).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { deliveryId, type NewDelivery, SqliteStore, StoreError } from '../../../src/outbox/index.ts';
import { Database } from '../../../src/outbox/sqlite/driver.ts';
import { migrate, SCHEMA } from '../../../src/outbox/sqlite/schema.ts';
import { type InsertRow, WriteOps } from '../../../src/outbox/sqlite/write-ops.ts';
import { delivery } from '../dispatch/fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'hookd-writer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const rows = (prefix: string, n: number): NewDelivery[] =>
  Array.from({ length: n }, (_, i) => delivery(`${prefix}-${i}`, 'w1', 0));

test('writes handed to the writer thread together are all committed and visible once answered', async () => {
  const path = join(dir, 'a.db');
  const store = new SqliteStore(path);
  const o = store.deliveries;
  const added = await Promise.all([
    o.insert(rows('a', 100)),
    o.insert(rows('b', 100)),
    o.insert(rows('c', 1)),
  ]);
  assert.deepEqual(added, [100, 100, 1]);
  assert.equal(o.depth().pending, 201, 'this thread reads what the writer committed');
  o.claimed(1);
  await o.complete(
    [
      {
        deliveryId: deliveryId('c-0', 'w1'),
        attempt: 1,
        startedAt: 1,
        durationMs: 2,
        outcome: 'success',
        status: 200,
        next: { state: 'succeeded' },
      },
    ],
    5,
  );
  await store.close();
  const again = new SqliteStore(path);
  assert.deepEqual(again.deliveries.depth(), { pending: 200, inflight: 0, succeeded: 1, failed: 0 });
  assert.equal((await again.deliveries.get(deliveryId('c-0', 'w1')))?.state, 'succeeded');
  await again.close();
});

test('a write the disk refuses is rejected with StoreError; writes work again once it has room', async () => {
  const store = new SqliteStore(join(dir, 'b.db'));
  await store.deliveries.insert(rows('before', 1));
  const pages = store.sqlite.db.pragma('page_count', { simple: true }) as number;
  await store.writerPragma(`max_page_count = ${pages}`);
  await assert.rejects(store.deliveries.insert(rows('big', 500)), (err: Error) => {
    assert.ok(err instanceof StoreError);
    assert.match(err.message, /full/);
    return true;
  });
  assert.equal(store.deliveries.writable, false, 'readiness reports it');
  await store.writerPragma('max_page_count = 4294967294');
  assert.equal(await store.deliveries.insert(rows('big', 500)), 500);
  assert.equal(store.deliveries.writable, true);
  await store.close();
});

const insertRow = (id: string): InsertRow => [id, id, 'x.y', 'w1', 'w1', 'http', 0, 0, 0, '{}', '{}', null];

test('one operation of a group that fails leaves the others; a rolled-back transaction fails them all', () => {
  const db = new Database(':memory:');
  migrate(db);
  db.exec(SCHEMA);
  const ops = new WriteOps(db, false);
  const replies = ops.group([
    { op: 'insert', rows: [insertRow('msg_a')], rejections: [] },
    { op: 'pragma', sql: 'no such pragma syntax (' },
    { op: 'insert', rows: [insertRow('msg_b')], rejections: [] },
  ]);
  assert.deepEqual(
    replies.map((r) => r.ok),
    [true, false, true],
  );
  assert.equal(db.prepare('SELECT COUNT(*) FROM deliveries').pluck().get(), 2);

  // A full disk: SQLite may roll the whole transaction back; nothing of the group is reported written.
  const pages = db.pragma('page_count', { simple: true }) as number;
  db.pragma(`max_page_count = ${pages}`);
  const big = Array.from({ length: 2000 }, (_, i) => insertRow(`msg_big${i}`));
  const full = ops.group([
    { op: 'insert', rows: [insertRow('msg_c')], rejections: [] },
    { op: 'insert', rows: big, rejections: [] },
  ]);
  assert.equal(full[1]!.ok, false);
  const count = db.prepare('SELECT COUNT(*) FROM deliveries').pluck().get() as number;
  assert.equal(full[0]!.ok, count === 3, 'reported written exactly when it is');
  db.close();
});

test('an insert waits for a write on the main connection instead of failing (the writer takes its lock first)', async () => {
  // A breaker opening saves the webhook's state on the main connection while intake stores a batch in
  // the writer thread. A deferred transaction read first (is the delivery there?) and then could not
  // upgrade to a write past the other commit: SQLITE_BUSY, and a 500 for POST /v1/events.
  const store = new SqliteStore(join(dir, 'busy.db'));
  try {
    const main = store.sqlite.db;
    main.exec('BEGIN IMMEDIATE');
    store.webhookStates.saveWebhookState('w1', 'TooManyErrors', 'breaker', null, 1);
    const inserted = store.deliveries.insert(rows('busy', 3));
    await new Promise((r) => setTimeout(r, 300));
    main.exec('COMMIT');
    assert.equal(await inserted, 3);
    assert.equal(store.deliveries.depth().pending, 3);
  } finally {
    await store.close();
  }
});
