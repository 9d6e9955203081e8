/**
 * The dispatcher sends deliveries just stored from memory (issue 14), on a
 * fake clock with a `:memory:` outbox: the store's queue is not read for
 * them; a retry is read back from the store with its attempt count; an
 * attempt that gets no answer is aborted at its timeout and retried.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import pino from 'pino';
import { ConfigSchema } from '../../../src/config/schema.ts';
import { Dispatcher, type DueWork } from '../../../src/dispatch/index.ts';
import { Metrics } from '../../../src/metrics/metrics.ts';
import { SqliteStore } from '../../../src/outbox/index.ts';
import type { Delivery, SendResult, TransportInstance } from '../../../src/transports/contract.ts';
import { advance, delivery, ScriptedTransport, webhook } from './fixtures.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');

beforeEach(() =>
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'setImmediate', 'Date'], now: T0 }),
);
afterEach(() => mock.timers.reset());

function setup(transport: TransportInstance, delivery_: Record<string, unknown> = {}) {
  const store = new SqliteStore(':memory:');
  const outbox = store.deliveries;
  const reads: string[] = [];
  // The store's queue, with every read recorded.
  const work: DueWork = {
    dueByWebhook: () => outbox.dueByWebhook(),
    due: (w, upTo, limit, skip) => {
      const rows = outbox.due(w, upTo, limit, skip);
      reads.push(...rows.map((r) => r.id));
      return rows;
    },
    nextDueOf: (w, skip) => outbox.nextDueOf(w, skip),
  };
  const w = webhook('a');
  const dispatcher = new Dispatcher({
    work,
    outbox,
    webhook: (id) => (id === 'a' ? w : undefined),
    transport: () => transport,
    settings: ConfigSchema.parse({ delivery: delivery_ }).delivery,
    metrics: new Metrics({ perWebhookLabels: true }),
    logger: pino({ level: 'silent' }),
    random: () => 0.5,
  });
  return { store, outbox, dispatcher, reads };
}

async function stop(dispatcher: Dispatcher, store: SqliteStore): Promise<void> {
  const stopped = dispatcher.stop(0);
  await advance(0);
  await advance(1000);
  await stopped;
  await store.close();
}

test('stored deliveries go out from memory; a retry is read back from the store', async () => {
  const transport = new ScriptedTransport();
  const { store, outbox, dispatcher, reads } = setup(transport, { retry: { schedule: ['0s', '5s'] } });
  dispatcher.start();
  await advance(0);
  const batch = ['e1', 'e2', 'e3'].map((e) => delivery(e, 'a', T0));
  const added = await outbox.insert(batch);
  dispatcher.stored(batch, added === batch.length);
  await advance(0);
  assert.deepEqual(
    transport.open.map((o) => o.delivery.eventId),
    ['e1', 'e2', 'e3'],
  );
  assert.deepEqual(reads, [], 'not read back from the store');

  transport.answerAll({ outcome: 'success', status: 200 }, 'a');
  await advance(100);
  assert.equal(transport.open.length, 0);
  // e4 fails once: its retry waits in the store and comes from there, as attempt 2.
  const more = [delivery('e4', 'a', T0)];
  dispatcher.stored(more, (await outbox.insert(more)) === 1);
  await advance(0);
  transport.answerAll({ outcome: 'retryable', error: 'HTTP 503', status: 503 });
  await advance(100);
  await advance(5000);
  assert.equal(transport.open.length, 1);
  assert.equal(transport.open[0]!.delivery.eventId, 'e4');
  assert.equal(transport.open[0]!.delivery.attempt, 2);
  assert.deepEqual(reads, [more[0]!.id], 'the retry was read from the store');
  transport.answerAll({ outcome: 'success', status: 200 });
  await advance(100);
  assert.deepEqual(outbox.depth(), { pending: 0, inflight: 0, succeeded: 4, failed: 0 });
  await stop(dispatcher, store);
});

test('a redelivered event already stored is not sent from memory again', async () => {
  const transport = new ScriptedTransport();
  const { store, outbox, dispatcher } = setup(transport);
  dispatcher.start();
  await advance(0);
  const first = [delivery('e1', 'a', T0)];
  dispatcher.stored(first, (await outbox.insert(first)) === 1);
  await advance(0);
  transport.answerAll({ outcome: 'success', status: 200 });
  await advance(100);
  // The same event again with a new one: the store adds one of two.
  const again = [delivery('e1', 'a', T0), delivery('e2', 'a', T0)];
  const added = await outbox.insert(again);
  assert.equal(added, 1);
  dispatcher.stored(again, added === again.length);
  await advance(0);
  assert.deepEqual(
    transport.open.map((o) => o.delivery.eventId),
    ['e2'],
    'e1 was delivered already: only e2 goes out',
  );
  transport.answerAll({ outcome: 'success', status: 200 });
  await advance(100);
  await stop(dispatcher, store);
});

test('an attempt without an answer is aborted at its timeout and retried', async () => {
  const aborted: string[] = [];
  const hanging: TransportInstance = {
    send: (d: Delivery, signal: AbortSignal) =>
      new Promise<SendResult>((resolve) => {
        signal.addEventListener('abort', () => {
          aborted.push((signal.reason as DOMException).name);
          resolve({ outcome: 'retryable', error: `timeout (${d.id})` });
        });
      }),
    close: async () => {},
  };
  const { store, outbox, dispatcher } = setup(hanging, {
    timeoutMs: 2000,
    retry: { schedule: ['0s', '1h'] },
  });
  dispatcher.start();
  await advance(0);
  const batch = [delivery('e1', 'a', T0), delivery('e2', 'a', T0)];
  dispatcher.stored(batch, (await outbox.insert(batch)) === 2);
  await advance(0);
  await advance(1999);
  assert.deepEqual(aborted, [], 'not before the timeout');
  await advance(100);
  assert.deepEqual(aborted, ['TimeoutError', 'TimeoutError']);
  await advance(100);
  assert.equal(outbox.depth().pending, 2, 'both wait for their retry');
  assert.equal((await outbox.get(batch[0]!.id))?.attempts, 1);
  await stop(dispatcher, store);
});
