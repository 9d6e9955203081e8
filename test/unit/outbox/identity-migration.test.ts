/**
 * Event identity is (`source`, `id`): a store made when `event_id` was
 * unique per webhook is rebuilt once, keeping its rows, so two sources'
 * events with one id are both stored.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { deliveryId, type NewDelivery, SqliteStore, type StoredRequest } from '../../../src/outbox/index.ts';
import { Database } from '../../../src/outbox/sqlite/driver.ts';

const row = (source: string, eventId: string): NewDelivery => ({
  id: deliveryId({ source, id: eventId }, 'w1'),
  eventId,
  eventType: 'x.y',
  webhookId: 'w1',
  identifier: 'w1',
  transport: 'http',
  priority: 0,
  receivedAt: 0,
  nextAttemptAt: 0,
  request: { headers: {}, body: '{}', contentType: 'application/json', fields: {} } as StoredRequest,
});

test('a store of hookd 0.1 (request as JSON text, UNIQUE (event_id, webhook_id)) is rebuilt in the lean layout, keeping its rows', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hookd-migrate-'));
  try {
    const path = join(dir, 'old.db');
    const old = new Database(path);
    // The deliveries table as hookd 0.1 made it: the request as JSON text, a unique (event_id, webhook_id).
    old.exec(`CREATE TABLE deliveries (
      id TEXT PRIMARY KEY, event_id TEXT NOT NULL, event_type TEXT NOT NULL, webhook_id TEXT NOT NULL,
      identifier TEXT NOT NULL, transport TEXT NOT NULL, priority INTEGER NOT NULL, state TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL, received_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL, request TEXT NOT NULL, last_error TEXT, UNIQUE (event_id, webhook_id));
      CREATE INDEX deliveries_due ON deliveries (webhook_id, next_attempt_at) WHERE state = 'pending';
      CREATE INDEX deliveries_webhook ON deliveries (webhook_id, state, updated_at);`);
    old
      .prepare(
        `INSERT INTO deliveries (id, event_id, event_type, webhook_id, identifier, transport, priority, state, next_attempt_at, received_at, updated_at, request)
         VALUES ('msg_old', 'e1', 'x.y', 'w1', 'w1', 'http', 0, 'pending', 0, 0, 0, ?)`,
      )
      .run(
        JSON.stringify({
          headers: { 'x-a': '1' },
          body: '{"n":1}',
          contentType: 'application/json',
          fields: {},
        }),
      );
    old.close();
    const store = new SqliteStore(path);
    const o = store.deliveries;
    assert.equal(
      await o.insert([row('/crm', 'e1'), row('/shop', 'e1')]),
      2,
      'both sources stored beside the old row',
    );
    assert.equal(o.depth().pending, 3);
    assert.deepEqual(
      (await o.get('msg_old'))?.request,
      { headers: { 'x-a': '1' }, contentType: 'application/json', fields: {}, body: '{"n":1}' },
      'the old row keeps its request, now stored once',
    );
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
