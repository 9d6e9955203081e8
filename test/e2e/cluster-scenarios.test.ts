/**
 * Issue 15, acceptance 2 (scenarios a, c, d; b is cluster-breaker.test.ts):
 * two hookd replicas (A, B) as child processes with `store.backend:
 * jetstream` on one nats-server, real HTTP receivers, hookd's default
 * timeouts. Each scenario lost deliveries when replicas each had their own
 * SQLite file:
 * - d. rule-file webhooks only: 2,000 events, each delivered once;
 * - a. a webhook created through A's API is in force on B: 1,000 events,
 *   each delivered once (by webhook-id at the receiver), and both replicas
 *   answer the deliveries query the same;
 * - c. the receiver down, retries pending, A SIGKILLed and never restarted,
 *   the receiver back: 400/400 delivered, a duplicate only with the same
 *   webhook-id; the work queues end empty, no dead letters.
 * In that order on the same pair (c kills A).
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import {
  countedOn,
  deliveredOn,
  events,
  publishEvents,
  tally,
  workQueuesEmpty,
} from '../helpers/cluster-checks.ts';
import type { NatsServer } from '../helpers/nats-server.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { type Replica, startReplicas } from '../helpers/replicas.ts';
import { waitFor } from '../helpers/wait.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

const peers = usePeers();
let nats: NatsServer;
let A: Replica;
let B: Replica;
const rx: Record<'a' | 'c' | 'd', Receiver> = {} as never;

before(async () => {
  nats = await peers.nats();
  for (const k of ['a', 'c', 'd'] as const) rx[k] = await peers.receiver();
  const rules = `
webhooks:
  - identifier: rules-only
    url: ${rx.d.url}/d
    events: [d.*]
    secret: ${SECRET}
  - identifier: down
    url: ${rx.c.url}/c
    events: [c.*]
    secret: ${SECRET}
`;
  [A, B] = await startReplicas(peers, 2, {
    natsUrl: nats.url,
    rules: { 'r.yaml': rules },
    config: {
      delivery: {
        shutdownTimeoutMs: 1000,
        // Many quick attempts: nothing here may become a dead letter; held time (breaker open) is not counted.
        retry: { schedule: ['0s', ...Array.from({ length: 24 }, () => '200ms')], jitter: 0 },
        breaker: { cooldownMs: 1000, maxCooldownMs: 2000 },
      },
    },
  });
  await A.ready();
  await B.ready();
});

test('d: rule-file webhooks only: 2,000 events, each delivered once', { timeout: 120_000 }, async () => {
  await publishEvents(nats.url, events('d', 'd.created', 2000));
  const split = await deliveredOn([A, B], rx.d, 'rules-only', 2000);
  const t = tally(rx.d.requests);
  assert.equal(t.events.size, 2000);
  assert.deepEqual(t.mixed, [], 'one webhook-id per event');
  assert.equal(t.requests, 2000, `each once: ${t.duplicates} duplicates`);
  assert.equal(split.total, 2000, 'the replicas counted each delivery once');
  console.log(`# d: 2,000/2,000 delivered once each; delivered by A ${split.per[0]}, by B ${split.per[1]}`);
});

test('a: a webhook created through A is in force on B: 1,000 events, each delivered once', {
  timeout: 120_000,
}, async () => {
  const created = await A.api<{ id: string }>('POST', '/v1/webhooks', {
    identifier: 'from-api',
    url: `${rx.a.url}/a`,
    events: ['a.*'],
    secret: SECRET,
  });
  assert.equal(created.status, 201, created.text);
  const id = created.body.id;
  const t0 = Date.now();
  await waitFor(
    `B to know webhook ${id}`,
    async () => (await B.api('GET', `/v1/webhooks/${id}`)).status === 200,
    {
      timeoutMs: 10_000,
    },
  );
  const knownAfter = Date.now() - t0;

  await publishEvents(nats.url, events('a', 'a.created', 1000));
  const split = await deliveredOn([A, B], rx.a, 'from-api', 1000);
  const t = tally(rx.a.requests);
  assert.equal(t.events.size, 1000);
  assert.deepEqual(t.mixed, [], 'one webhook-id per event');
  assert.equal(t.requests, 1000, `each once: ${t.duplicates} duplicates`);
  const received = await countedOn([A, B], 'hookd_events_received_total', { source: 'nats' });

  // Both replicas answer the deliveries query the same.
  type Page = { items: { id: string; state: string }[] };
  const page = (r: Replica) => r.api<Page>('GET', `/v1/webhooks/${id}/deliveries?limit=200`);
  const [pa, pb] = [await page(A), await page(B)];
  assert.equal(pa.status, 200, pa.text);
  assert.equal(pa.body.items.length, 200, pa.text.slice(0, 500));
  assert.ok(
    pa.body.items.every((d) => d.state === 'succeeded'),
    pa.text.slice(0, 500),
  );
  assert.deepEqual(
    pb.body.items.map((d) => d.id),
    pa.body.items.map((d) => d.id),
    'A and B list the same deliveries',
  );
  console.log(
    `# a: B knew the webhook ${knownAfter} ms after A created it; 1,000/1,000 delivered once each; ` +
      `events taken by A ${received.per[0]}, by B ${received.per[1]} (with d's); delivered by A ${split.per[0]}, by B ${split.per[1]}`,
  );
});

test('c: receiver down, A SIGKILLed for good: 400/400 delivered, duplicates with the same webhook-id', {
  timeout: 120_000,
}, async () => {
  await rx.c.pause();
  await publishEvents(nats.url, events('c', 'c.created', 400));
  const tried = async (r: Replica) =>
    (await r.metrics()).sum('hookd_delivery_attempts_total', { webhook: 'down' });
  await waitFor(
    'both replicas to have tried the down receiver',
    async () => (await tried(A)) > 0 && (await tried(B)) > 0,
    {
      timeoutMs: 30_000,
      intervalMs: 200,
    },
  );
  const triedByA = await tried(A);
  await A.kill();
  await rx.c.resume();
  const t = await waitFor(
    '400 distinct events at the down receiver after A was killed',
    () => {
      const t = tally(rx.c.requests);
      return t.events.size >= 400 && t;
    },
    { timeoutMs: 90_000, intervalMs: 200, saw: () => `${tally(rx.c.requests).events.size} of 400` },
  );
  assert.deepEqual(t.mixed, [], 'a duplicate carries the same webhook-id');
  const left = await workQueuesEmpty(nats.url);
  assert.equal(left.HOOKD_DEAD_LETTERS ?? 0, 0, 'no dead letters');
  console.log(
    `# c: A made ${triedByA} attempts and was SIGKILLed; 400/400 delivered by B, ${t.duplicates} duplicates (same webhook-id)`,
  );
});
