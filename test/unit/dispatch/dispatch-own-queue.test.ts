/**
 * A store whose own queue hands deliveries out (the jetstream backend's
 * `JetStreamDispatchQueue`): asked `due()`, it has nothing yet and pulls;
 * `nextDueOf` is undefined while the pull is on its way; the pulled
 * deliveries arrive a little later and the queue says so with `notify`.
 * The dispatcher must then ask the queue again, not switch to deliveries
 * "in memory" (it has none: with such a queue, intake hands it none; before
 * 597e912 jetstream mode delivered almost nothing for this). On a fake clock.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import pino from 'pino';
import { ConfigSchema } from '../../../src/config/schema.ts';
import { Dispatcher, type DueWork } from '../../../src/dispatch/index.ts';
import { Metrics } from '../../../src/metrics/metrics.ts';
import { type DueRow, dueRowOf } from '../../../src/outbox/index.ts';
import { advance, delivery, ScriptedTransport, webhook } from './fixtures.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');

beforeEach(() =>
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'setImmediate', 'Date'], now: T0 }),
);
afterEach(() => mock.timers.reset());

test('deliveries a queue pulls after it was asked are sent when it says they arrived', async () => {
  const batch = ['e1', 'e2', 'e3'].map((e) => delivery(e, 'a', T0));
  /** Pulled and arrived, not yet handed out. */
  const buffer: DueRow[] = [];
  let pullAsked = false;
  const results: string[] = [];
  const queue: DueWork = {
    dueByWebhook: () => (buffer.length ? [{ webhookId: 'a', at: T0 }] : []),
    due: (_w, _upTo, limit) => {
      if (buffer.length === 0) pullAsked = true;
      return buffer.splice(0, limit);
    },
    // A pull on its way: nothing known here yet (it comes with notify).
    nextDueOf: () => (buffer.length ? T0 : undefined),
    ownQueue: true,
  };
  const transport = new ScriptedTransport();
  const w = webhook('a');
  const dispatcher = new Dispatcher({
    work: queue,
    outbox: {
      complete: async (rs) => {
        results.push(...rs.map((r) => r.deliveryId));
      },
      claimed: () => {},
      released: () => {},
    },
    webhook: (id) => (id === 'a' ? w : undefined),
    transport: () => transport,
    settings: ConfigSchema.parse({}).delivery,
    metrics: new Metrics({ perWebhookLabels: true }),
    logger: pino({ level: 'silent' }),
    random: () => 0.5,
  });
  dispatcher.start();
  await advance(0);
  // Intake stored the batch in the queue's stream (not all new to the dispatcher: the queue hands them out).
  dispatcher.stored(batch, false);
  await advance(0);
  assert.ok(pullAsked, 'the queue was asked for the webhook');
  assert.equal(transport.open.length, 0, 'nothing arrived yet');

  // The pull brings them: the queue says the webhook has work.
  buffer.push(...batch.map((d) => dueRowOf(d)));
  dispatcher.notify('a', T0);
  await advance(0);
  assert.deepEqual(
    transport.open.map((o) => o.delivery.eventId),
    ['e1', 'e2', 'e3'],
    'sent once the queue had them',
  );
  transport.answerAll({ outcome: 'success', status: 200 });
  await advance(200);
  assert.deepEqual(results.sort(), batch.map((d) => d.id).sort());
  const stopped = dispatcher.stop(0);
  await advance(0);
  await advance(1000);
  await stopped;
});
