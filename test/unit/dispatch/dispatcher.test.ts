/**
 * The Dispatcher on a fake clock (issue 11): a scripted transport, a
 * `:memory:` outbox, `mock.timers` for every timer and `Date`; no wall-clock
 * sleeps. It shares capacity round-robin across webhooks, keeps each within
 * its own concurrency, never attempts a held webhook, and stores the retry
 * times the policy decides.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import pino from 'pino';
import { ConfigSchema } from '../../../src/config/schema.ts';
import { type Admission, Dispatcher, WebhookStates } from '../../../src/dispatch/index.ts';
import { Metrics } from '../../../src/metrics/metrics.ts';
import { SqliteStore } from '../../../src/outbox/index.ts';
import type { Webhook } from '../../../src/rules/webhook-schema.ts';
import { advance, delivery, ScriptedTransport, webhook } from './fixtures.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');

beforeEach(() =>
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'setImmediate', 'Date'], now: T0 }),
);
afterEach(() => mock.timers.reset());

function setup(
  hooks: Webhook[],
  delivery_: Record<string, unknown> = {},
  admission?: { admit(w: Webhook, now: number): Admission; probeStarted(w: Webhook): void },
) {
  const settings = ConfigSchema.parse({ delivery: delivery_ }).delivery;
  const store = new SqliteStore(':memory:');
  const outbox = store.deliveries;
  const transport = new ScriptedTransport();
  const byId = new Map(hooks.map((w) => [w.id, w]));
  const decisions: string[] = [];
  const dispatcher = new Dispatcher({
    work: outbox,
    outbox,
    webhook: (id) => byId.get(id),
    transport: () => transport,
    settings,
    metrics: new Metrics({ perWebhookLabels: true }),
    logger: pino({ level: 'silent' }),
    admission,
    onAttempt: (w, d) => decisions.push(`${w.id}:${d.webhook.kind}`),
    random: () => 0.5,
  });
  return { store, outbox, transport, dispatcher, decisions, byId };
}

/** Stops on the fake clock: the grace period and the release wait are fake timers too. */
async function stop(dispatcher: Dispatcher): Promise<void> {
  const stopped = dispatcher.stop(0);
  await advance(0);
  await advance(1000);
  await stopped;
}

test('fair round-robin: a webhook with a big backlog does not hold the capacity from another', async () => {
  const { outbox, transport, dispatcher } = setup([webhook('big'), webhook('small')], {
    concurrency: 4,
    perWebhookConcurrency: 4,
  });
  outbox.insert(Array.from({ length: 40 }, (_, i) => delivery(`big-${i}`, 'big', T0)));
  outbox.insert([delivery('small-0', 'small', T0), delivery('small-1', 'small', T0)]);
  dispatcher.start();
  await advance(0);
  assert.equal(transport.open.length, 4, 'the global limit');
  const order: string[] = [];
  for (let round = 0; round < 4; round++) {
    const first = transport.open[0];
    assert.ok(first, `round ${round}: something in flight`);
    transport.open.splice(0, 1);
    first.answer({ outcome: 'success', status: 200 });
    await advance(10);
    order.push(transport.sent.at(-1)!.webhook.id);
  }
  assert.deepEqual(
    transport.sent.filter((d) => d.webhook.id === 'small').length,
    2,
    `both small deliveries went out while big had a backlog (freed slots went to ${order.join(', ')})`,
  );
  await stop(dispatcher);
});

test('per-webhook concurrency: never more in flight to one webhook than its limit', async () => {
  const { outbox, transport, dispatcher } = setup([webhook('a', { concurrency: 2 }), webhook('b')], {
    concurrency: 10,
    perWebhookConcurrency: 3,
  });
  outbox.insert(Array.from({ length: 10 }, (_, i) => delivery(`a-${i}`, 'a', T0)));
  outbox.insert(Array.from({ length: 10 }, (_, i) => delivery(`b-${i}`, 'b', T0)));
  dispatcher.start();
  let most = { a: 0, b: 0 };
  for (let step = 0; step < 12; step++) {
    await advance(10);
    most = { a: Math.max(most.a, transport.inFlightOf('a')), b: Math.max(most.b, transport.inFlightOf('b')) };
    transport.answerAll({ outcome: 'success', status: 200 });
  }
  await advance(10);
  assert.deepEqual(most, { a: 2, b: 3 }, 'its own override, else perWebhookConcurrency');
  assert.equal(transport.sent.length, 20, 'everything went out');
  await stop(dispatcher);
});

test('concurrency and rate limit changed while running (a new webhook version) apply to the next attempts', async () => {
  const { outbox, transport, dispatcher, byId } = setup([webhook('a', { concurrency: 1 })]);
  outbox.insert(Array.from({ length: 20 }, (_, i) => delivery(`a-${i}`, 'a', T0)));
  dispatcher.start();
  await advance(0);
  assert.equal(transport.inFlightOf('a'), 1);
  byId.set('a', webhook('a', { versionNo: 2, concurrency: 3 }));
  dispatcher.wake();
  await advance(0);
  assert.equal(transport.inFlightOf('a'), 3, 'the new concurrency');
  byId.set('a', webhook('a', { versionNo: 3, concurrency: 3, rateLimit: { perSecond: 1, burst: 1 } }));
  transport.answerAll({ outcome: 'success', status: 200 });
  await advance(10);
  assert.equal(transport.inFlightOf('a'), 1, 'the new rate limit: a burst of 1');
  transport.answerAll({ outcome: 'success', status: 200 });
  await advance(500);
  assert.equal(transport.sent.length, 4, 'no token before a second has passed');
  await advance(500);
  assert.equal(transport.sent.length, 5, 'one per second');
  transport.answerAll({ outcome: 'success', status: 200 });
  await stop(dispatcher);
});

test('a held webhook is not attempted; others go on; it goes when the hold ends', async () => {
  let holdUntil = T0 + 30_000;
  const admission = {
    admit: (w: Webhook, now: number): Admission =>
      w.id === 'held' && now < holdUntil
        ? { allowed: 0, probe: false, wakeAt: holdUntil }
        : { allowed: Number.POSITIVE_INFINITY, probe: false },
    probeStarted: () => {},
  };
  const { outbox, transport, dispatcher } = setup([webhook('held'), webhook('free')], {}, admission);
  outbox.insert([delivery('h', 'held', T0), delivery('f', 'free', T0)]);
  dispatcher.start();
  await advance(0);
  for (let s = 0; s < 29; s++) await advance(1000);
  assert.deepEqual(
    transport.sent.map((d) => d.webhook.id),
    ['free'],
    'held for 29 s of fake time',
  );
  await advance(1000);
  assert.deepEqual(
    transport.sent.map((d) => d.webhook.id),
    ['free', 'held'],
    'sent once the hold ended',
  );
  holdUntil = 0;
  transport.answerAll({ outcome: 'success', status: 200 });
  await stop(dispatcher);
});

test('a Stopped webhook (its real state gate) is not attempted until set Active', async () => {
  const states = new WebhookStates({
    store: new SqliteStore(':memory:').webhookStates,
    settings: ConfigSchema.parse({}).delivery.breaker,
    onChange: () => {},
    onBreaker: () => {},
  });
  const held = webhook('held');
  const { outbox, transport, dispatcher } = setup([held, webhook('free')], {}, states);
  states.setState(held, 'Stopped', 'maintenance', T0);
  outbox.insert([delivery('h', 'held', T0), delivery('f', 'free', T0)]);
  dispatcher.start();
  for (let s = 0; s < 5; s++) await advance(1000);
  assert.deepEqual(
    transport.sent.map((d) => d.webhook.id),
    ['free'],
  );
  states.setState(held, 'Active', 'back', Date.now());
  dispatcher.rescanWebhook('held');
  await advance(0);
  assert.deepEqual(
    transport.sent.map((d) => d.webhook.id),
    ['free', 'held'],
  );
  transport.answerAll({ outcome: 'success', status: 200 });
  await stop(dispatcher);
});

test('a retryable failure is stored with the retry time the policy decides; Retry-After: 0 does not shorten it', async () => {
  const { outbox, transport, dispatcher, decisions } = setup([webhook('a')], {
    retry: { schedule: ['0s', '5s', '5m'], jitter: 0.2 },
  });
  outbox.insert([delivery('e', 'a', T0)]);
  dispatcher.start();
  await advance(0);
  transport.answerAll({ outcome: 'retryable', error: 'HTTP 503', status: 503, retryAfterMs: 0 });
  await advance(100);
  const row = (await outbox.get(transport.sent[0]!.id))!;
  assert.equal(row.state, 'pending');
  assert.equal(row.attempts, 1);
  assert.equal(row.next_attempt_at - T0, 5000, 'the scheduled 5 s (random 0.5: no jitter), not 0');
  await advance(4800);
  assert.equal(transport.sent.length, 1, 'not retried before it is due');
  await advance(100);
  assert.equal(transport.sent.length, 2, 'retried when due');
  transport.answerAll({ outcome: 'permanent', error: 'HTTP 410', status: 410, stopWebhook: true });
  await advance(100);
  assert.equal((await outbox.get(transport.sent[0]!.id))!.state, 'failed');
  assert.deepEqual(decisions, ['a:breaker', 'a:stop']);
  await stop(dispatcher);
});

test('stop: attempts cut short by shutdown go back to the queue, not counted against their retries', async () => {
  const { store, outbox, transport, dispatcher } = setup([webhook('a')]);
  outbox.insert([delivery('e', 'a', T0)]);
  dispatcher.start();
  await advance(0);
  assert.equal(transport.open.length, 1);
  transport.open[0]!.signal.addEventListener('abort', () =>
    transport.answerAll({ outcome: 'retryable', error: 'aborted' }),
  );
  const stopped = dispatcher.stop(500);
  await advance(500);
  await advance(1000);
  await stopped;
  const row = (await outbox.get(transport.sent[0]!.id))!;
  assert.deepEqual([row.state, row.attempts], ['pending', 0]);
  assert.equal((await store.attempts.of(row.id)).length, 0);
});
