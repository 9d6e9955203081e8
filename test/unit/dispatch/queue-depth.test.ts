/**
 * Issue 12 bug 5: `hookd retry` against a live daemon drove
 * `hookd_queue_depth{state="pending"}` to -1: the daemon kept the counts in
 * memory while another process wrote the file. The depth now comes from the
 * store (pending by an indexed count on every read, succeeded and failed
 * recounted on each rescan), and never goes negative. Fake clock; the other
 * process is a second handle on the same file, as `hookd retry` opens it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, mock, test } from 'node:test';
import pino from 'pino';
import { ConfigSchema } from '../../../src/config/schema.ts';
import { Dispatcher } from '../../../src/dispatch/index.ts';
import { Metrics } from '../../../src/metrics/metrics.ts';
import { SqliteStore } from '../../../src/outbox/index.ts';
import { advance, delivery, ScriptedTransport, webhook } from './fixtures.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hookd-depth-'));
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'setImmediate', 'Date'], now: T0 });
});
afterEach(() => {
  mock.timers.reset();
  rmSync(dir, { recursive: true, force: true });
});

test('a dead letter requeued by another process (hookd retry) keeps the queue depth true, never negative', async () => {
  const path = join(dir, 'hookd.db');
  const store = new SqliteStore(path, { writer: 'inline' });
  const daemon = store.deliveries;
  const transport = new ScriptedTransport();
  const w = webhook('a');
  const dispatcher = new Dispatcher({
    work: daemon,
    outbox: daemon,
    webhook: (id) => (id === 'a' ? w : undefined),
    transport: () => transport,
    settings: ConfigSchema.parse({ delivery: { retry: { schedule: ['0s'] } } }).delivery,
    metrics: new Metrics({ perWebhookLabels: true }),
    logger: pino({ level: 'silent' }),
    random: () => 0.5,
  });
  daemon.insert([delivery('e1', 'a', T0), delivery('e2', 'a', T0)]);
  dispatcher.start();
  await advance(0);
  assert.deepEqual(daemon.depth(), { pending: 0, inflight: 2, succeeded: 0, failed: 0 });
  transport.answerAll({ outcome: 'permanent', error: 'HTTP 400', status: 400 });
  await advance(100);
  assert.deepEqual(daemon.depth(), { pending: 0, inflight: 0, succeeded: 0, failed: 2 });

  const cli = new SqliteStore(path, { writer: 'inline' });
  assert.equal(await cli.deliveries.retryFailed({ webhookId: 'a' }, T0), 2);
  await cli.close();
  assert.equal(daemon.depth().pending, 2, 'pending is read from the store');

  // The daemon finds the requeued deliveries on its next rescan (every minute) and delivers them.
  await advance(60_000);
  assert.equal(transport.open.length, 2, 'requeued deliveries are sent');
  assert.deepEqual(daemon.depth(), { pending: 0, inflight: 2, succeeded: 0, failed: 0 });
  transport.answerAll({ outcome: 'success', status: 200 });
  await advance(100);
  assert.deepEqual(daemon.depth(), { pending: 0, inflight: 0, succeeded: 2, failed: 0 });
  const stopped = dispatcher.stop(0);
  await advance(0);
  await stopped;
  await store.close();
});
