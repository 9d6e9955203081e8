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
import { deliveryId, type NewDelivery, SqliteStore } from '../../../src/outbox/index.ts';
import { Database } from '../../../src/outbox/sqlite/driver.ts';
import { SCHEMA } from '../../../src/outbox/sqlite/schema.ts';

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
  request: '{"headers":{},"body":"{}","contentType":"application/json","fields":{}}',
});

test('a store with UNIQUE (event_id, webhook_id) is rebuilt without it, keeping its rows', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hookd-migrate-'));
  try {
    const path = join(dir, 'old.db');
    const old = new Database(path);
    old.exec(
      SCHEMA.replace(
        '  last_error      TEXT\n);',
        '  last_error      TEXT,\n  UNIQUE (event_id, webhook_id)\n);',
      ),
    );
    old
      .prepare(
        `INSERT INTO deliveries (id, event_id, event_type, webhook_id, identifier, transport, priority, state, next_attempt_at, received_at, updated_at, request)
         VALUES ('msg_old', 'e1', 'x.y', 'w1', 'w1', 'http', 0, 'pending', 0, 0, 0, '{}')`,
      )
      .run();
    old.close();
    const store = new SqliteStore(path);
    const o = store.deliveries;
    assert.equal(
      await o.insert([row('/crm', 'e1'), row('/shop', 'e1')]),
      2,
      'both sources stored beside the old row',
    );
    assert.equal(o.depth().pending, 3);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
