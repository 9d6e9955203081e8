/**
 * Issue 15, acceptance 2, scenario b: two hookd replicas (A, B) as child
 * processes with `store.backend: jetstream` on one nats-server. A receiver
 * that fails: the webhook has one breaker, not one per replica (the
 * attempts before it opens are the threshold, not twice it), and one probe
 * goes out per cooldown across both replicas (not one from each); after
 * recovery every held delivery arrives. `Stopped` set through A is honoured
 * by B: nothing is delivered to the webhook while another webhook of the
 * same events is delivered by both, everything after `Active` (set through B).
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { countedOn, deliveredOn, events, publishEvents, tally } from '../helpers/cluster-checks.ts';
import type { NatsServer } from '../helpers/nats-server.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { type Replica, startReplicas } from '../helpers/replicas.ts';
import { waitFor } from '../helpers/wait.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const FAILURES = 10;
const COOLDOWN_MS = 2500;

const peers = usePeers();
let nats: NatsServer;
let A: Replica;
let B: Replica;
const rx: Record<'b' | 'control', Receiver> = {} as never;

before(async () => {
  nats = await peers.nats();
  for (const k of ['b', 'control'] as const) rx[k] = await peers.receiver();
  const rules = `
webhooks:
  - identifier: flaky
    url: ${rx.b.url}/b
    events: [b.*]
    concurrency: 1
    secret: ${SECRET}
  - identifier: control
    url: ${rx.control.url}/control
    events: [b.*]
    secret: ${SECRET}
`;
  [A, B] = await startReplicas(peers, 2, {
    natsUrl: nats.url,
    rules: { 'r.yaml': rules },
    config: {
      delivery: {
        shutdownTimeoutMs: 1000,
        // Many quick attempts: nothing here may become a dead letter.
        retry: { schedule: ['0s', ...Array.from({ length: 24 }, () => '100ms')], jitter: 0 },
        // A constant cooldown: one probe every COOLDOWN_MS while the receiver fails.
        breaker: { failures: FAILURES, cooldownMs: COOLDOWN_MS, maxCooldownMs: COOLDOWN_MS },
      },
    },
  });
  await A.ready();
  await B.ready();
});

test('b: one breaker and one probe per cooldown across both replicas; Stopped through A is honoured by B', {
  timeout: 120_000,
}, async () => {
  const id = await A.webhookId('flaky');
  let healthy = false;
  rx.b.respond(() => ({ status: healthy ? 200 : 500 }));
  await publishEvents(nats.url, events('b1', 'b.created', 30));
  await waitFor(
    'the breaker of flaky to open on both replicas',
    async () => (await A.stateOf(id)) === 'TooManyErrors' && (await B.stateOf(id)) === 'TooManyErrors',
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  // Requests in groups: a gap of half a cooldown or more starts a new group.
  const groups = () => {
    const out: number[][] = [];
    for (const r of rx.b.requests) {
      const g = out.at(-1);
      if (g && r.at - g.at(-1)! < COOLDOWN_MS / 2) g.push(r.at);
      else out.push([r.at]);
    }
    return out;
  };
  await waitFor('three probes after the breaker opened', () => groups().length >= 4, {
    timeoutMs: 30_000,
    intervalMs: 100,
    saw: () => groups().map((g) => g.length),
  });
  const [burst, ...probes] = groups();
  const sizes = probes.map((g) => g.length);
  assert.ok(
    burst!.length >= FAILURES && burst!.length < 2 * FAILURES,
    `attempts before the breaker opened: ${burst!.length} (threshold ${FAILURES}; one breaker per replica would take ${2 * FAILURES})`,
  );
  assert.deepEqual(
    sizes,
    sizes.map(() => 1),
    `one probe per cooldown across both replicas: ${JSON.stringify(sizes)}`,
  );
  const gaps = probes.map((g, k) => g[0]! - (k === 0 ? burst!.at(-1)! : probes[k - 1]![0]!));
  console.log(
    `# b: ${burst!.length} attempts before the breaker opened (threshold ${FAILURES}); then probes one at a time, ${JSON.stringify(gaps)} ms apart (cooldown ${COOLDOWN_MS})`,
  );

  // The receiver recovers: a probe closes the breaker, the 30 held events arrive.
  healthy = true;
  // Requests from here on are answered 200 (the ones before, 500).
  const healthyFrom = rx.b.requests.length;
  await waitFor(
    'all 30 held events of flaky delivered',
    () => tally(rx.b.requests.slice(healthyFrom)).events.size >= 30,
    { timeoutMs: 30_000, intervalMs: 100, saw: () => tally(rx.b.requests.slice(healthyFrom)).events.size },
  );
  await waitFor(
    'flaky Active on both',
    async () => (await A.stateOf(id)) === 'Active' && (await B.stateOf(id)) === 'Active',
    {
      timeoutMs: 10_000,
    },
  );

  // Stopped through A.
  const set = await A.api('PUT', `/v1/webhooks/${id}/state`, { state: 'Stopped', reason: 'cluster test' });
  assert.equal(set.status, 200, set.text);
  const t0 = Date.now();
  await waitFor('B to see flaky Stopped', async () => (await B.stateOf(id)) === 'Stopped', {
    timeoutMs: 10_000,
    intervalMs: 50,
  });
  const stoppedAfter = Date.now() - t0;
  const before = rx.b.requests.length;
  const controlBefore = await countedOn([A, B], 'hookd_deliveries_total', {
    webhook: 'control',
    outcome: 'succeeded',
  });
  await publishEvents(nats.url, events('b2', 'b.created', 200));
  // The same 200 events went to control on both replicas meanwhile: dispatch ran, flaky was held.
  await deliveredOn([A, B], rx.control, 'control', 230);
  const control = await countedOn([A, B], 'hookd_deliveries_total', {
    webhook: 'control',
    outcome: 'succeeded',
  });
  const pending = await B.api<{ items: unknown[] }>(
    'GET',
    `/v1/webhooks/${id}/deliveries?state=pending&limit=500`,
  );
  assert.equal(pending.status, 200, pending.text);
  assert.equal(pending.body.items.length, 200, 'B lists the 200 held deliveries as pending');
  assert.equal(rx.b.requests.length, before, 'nothing delivered to a Stopped webhook');

  const resumed = await B.api('PUT', `/v1/webhooks/${id}/state`, { state: 'Active' });
  assert.equal(resumed.status, 200, resumed.text);
  await waitFor(
    'the 200 held events after Active',
    () => tally(rx.b.requests.slice(before)).events.size >= 200,
    {
      timeoutMs: 60_000,
      intervalMs: 200,
      saw: () => tally(rx.b.requests.slice(before)).events.size,
    },
  );
  const after = tally(rx.b.requests.slice(before));
  assert.equal(after.requests, 200, `each once after Active: ${after.duplicates} duplicates`);
  console.log(
    `# b: Stopped through A seen by B after ${stoppedAfter} ms; 0 of 200 delivered while stopped ` +
      `(control delivered by A ${control.per[0]! - controlBefore.per[0]!}, by B ${control.per[1]! - controlBefore.per[1]!} meanwhile); 200/200 after Active`,
  );
});
