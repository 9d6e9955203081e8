/**
 * Issue 2: a configured NATS that is down when hookd starts is retried in
 * the background while HTTP ingest keeps working; once NATS is up, hookd
 * creates its stream and consumer and consumes.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { RunningHookd } from '../helpers/hookd.ts';
import { type NatsServer, waitForConsumer } from '../helpers/nats-server.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

let nats: NatsServer;
let receiver: Receiver;
let hookd: RunningHookd;

const peers = usePeers();

before(async () => {
  nats = await peers.nats();
  receiver = await peers.receiver();
  await nats.kill(); // keeps its port: hookd is configured for a server that is down
  hookd = await peers.hookd({
    rules: { 'r.yaml': `webhooks:\n  - identifier: sink\n    url: ${receiver.url}/in\n` },
    config: { nats: { url: nats.url } },
  });
});

test('HTTP ingest works while NATS is down; NATS is picked up when it comes', async () => {
  const ready = await fetch(`${hookd.url}/readyz`);
  assert.equal(ready.status, 503);
  // secretsKey is advisory (no key in this test): shown, but not what makes it 503.
  assert.deepEqual(((await ready.json()) as { checks: unknown }).checks, {
    store: true,
    nats: false,
    secretsKey: false,
  });

  const r = await fetch(`${hookd.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'via-http', type: 'x.y' }),
  });
  assert.equal(r.status, 202);
  await receiver.waitFor(1, 10_000);

  await nats.start();
  await waitForConsumer(nats.url, 'EVENTS', 'hookd', 30_000);
  const nc = await connect({ servers: nats.url });
  await jetstream(nc).publish('events.x', JSON.stringify({ id: 'via-nats', type: 'x.y' }));
  await nc.close();
  await receiver.waitFor(2, 15_000);
  assert.deepEqual(
    receiver.requests.map((q) => JSON.parse(q.body).id),
    ['via-http', 'via-nats'],
  );
  await waitFor('/readyz to answer 200 once NATS is up', async () => {
    const r = await fetch(`${hookd.url}/readyz`);
    return r.status === 200 || Promise.reject(new Error(`${r.status} ${await r.text()}`));
  });
});
