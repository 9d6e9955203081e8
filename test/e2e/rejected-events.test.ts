/**
 * Issue 2, acceptance 6: a non-JSON message and a message over
 * events.maxBytes on the stream are counted in hookd_events_rejected_total,
 * kept with their reason, and do not stop the events behind them; an event
 * without `id` sent to POST /v1/events gets a 400 naming the field.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { RunningHookd } from '../helpers/hookd.ts';
import { type NatsServer, waitForConsumer } from '../helpers/nats-server.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Receiver } from '../helpers/receiver.ts';

let nats: NatsServer;
let receiver: Receiver;
let hookd: RunningHookd;

const peers = usePeers();

before(async () => {
  nats = await peers.nats();
  receiver = await peers.receiver();
  hookd = await peers.hookd({
    rules: { 'r.yaml': `webhooks:\n  - identifier: sink\n    url: ${receiver.url}/in\n` },
    config: { nats: { url: nats.url }, events: { maxBytes: 2048 } },
  });
});

test('bad messages on the stream are counted, kept with their reason, and do not block the ones behind', async () => {
  await waitForConsumer(nats.url);
  const nc = await connect({ servers: nats.url });
  const js = jetstream(nc);
  await js.publish('events.bad', 'this is not json {');
  await js.publish('events.big', JSON.stringify({ id: 'big', type: 'x.y', data: 'x'.repeat(4096) }));
  await js.publish('events.array', '[1,2,3]');
  for (let i = 0; i < 5; i++)
    await js.publish('events.good', JSON.stringify({ id: `good-${i}`, type: 'x.y' }));
  await nc.close();

  await receiver.waitFor(5, 15_000);
  assert.deepEqual(receiver.requests.map((r) => JSON.parse(r.body).id).sort(), [
    'good-0',
    'good-1',
    'good-2',
    'good-3',
    'good-4',
  ]);

  const rejected = await hookd.app.store.rejected.list();
  const reasons = rejected.map((r) => r.reason).sort();
  assert.deepEqual(reasons, ['invalid_json', 'not_object', 'too_large']);
  const bad = rejected.find((r) => r.reason === 'invalid_json')!;
  assert.equal(bad.source, 'nats');
  assert.equal(bad.subject, 'events.bad');
  assert.equal(Buffer.from(bad.payload!).toString(), 'this is not json {', 'the payload is kept');
  assert.match(rejected.find((r) => r.reason === 'too_large')!.detail!, /events\.maxBytes is 2048/);

  const metrics = await (await fetch(`${hookd.url}/metrics`)).text();
  assert.match(metrics, /hookd_events_rejected_total\{reason="invalid_json"\} 1/);
  assert.match(metrics, /hookd_events_rejected_total\{reason="too_large"\} 1/);
  assert.match(metrics, /hookd_events_rejected_total\{reason="not_object"\} 1/);

  // All acknowledged: nothing pending or waiting for an ack on the consumer.
  const nc2 = await connect({ servers: nats.url });
  const info = await (await jetstreamManager(nc2)).consumers.info('EVENTS', 'hookd');
  await nc2.close();
  assert.equal(info.num_pending, 0);
  assert.equal(info.num_ack_pending, 0);
});

test('POST /v1/events without an id answers 400 naming the field, and keeps the event', async () => {
  const r = await fetch(`${hookd.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([
      { id: 'fine', type: 'x.y' },
      { type: 'x.y', data: { n: 1 } },
    ]),
  });
  assert.equal(r.status, 400);
  const body = (await r.json()) as { problems: { path: string; reason: string }[]; message: string };
  assert.deepEqual(
    body.problems.map((p) => [p.path, p.reason]),
    [['[1].id', 'missing_id']],
  );
  assert.match(body.message, /\[1\]\.id: required/);
  const kept = (await hookd.app.store.rejected.list()).find((x) => x.source === 'http')!;
  assert.equal(kept.reason, 'missing_id');
  assert.deepEqual(JSON.parse(Buffer.from(kept.payload!).toString()), { type: 'x.y', data: { n: 1 } });

  const notJson = await fetch(`${hookd.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{nope',
  });
  assert.equal(notJson.status, 400);
  assert.equal(
    ((await notJson.json()) as { problems: { reason: string }[] }).problems[0]!.reason,
    'invalid_json',
  );
});
