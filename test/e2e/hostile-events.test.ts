/**
 * Issue 13, failures 1–3: events a hostile publisher can send. Each one
 * affects that event alone: a deeply nested event is rejected with its
 * reason (kept, counted, acknowledged) and the good events of its batch are
 * delivered; a condition or JSONata template that runs past its budget
 * (`events.evalTimeoutMs`), even inside one built-in, is a condition error
 * or a render failure for that event; a rendered request over
 * `delivery.maxRequestBytes` is a permanent render failure.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { SqliteStore } from '../../src/outbox/index.ts';
import type { RunningHookd } from '../helpers/hookd.ts';
import { type NatsServer, waitForConsumer } from '../helpers/nats-server.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

let nats: NatsServer;
let receiver: Receiver;
let hookd: RunningHookd;

const rules = (url: string) => `webhooks:
  - identifier: sink
    url: ${url}/sink
    events: [good.*, cost.*, regex.*, pad.*]
  - identifier: costly
    url: ${url}/costly
    events: [cost.*]
    groupCondition: "data.l.all(x, size(data.s) > 0)"
  - identifier: regex
    url: ${url}/regex
    events: [regex.*]
    body: {jsonata: "$match(data.s, /(a+)+$/)"}
  - identifier: pad
    url: ${url}/pad
    events: [pad.*]
    body: {jsonata: "$pad('', 100000000)"}
`;

/** `{"a":{"a":...}}` nested `depth` levels. */
const deep = (depth: number, id: string) =>
  `{"id":"${id}","type":"good.deep","data":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;

interface DeliveryRow {
  identifier: string;
  state: string;
  last_error: string | null;
  request: string;
}

const deliveriesOf = (eventId: string) =>
  (hookd.app.store as SqliteStore).sqlite.db
    .prepare(
      'SELECT identifier, state, last_error, head || body AS request FROM deliveries WHERE event_id = ?',
    )
    .all(eventId) as DeliveryRow[];

/** The one poller, under this file's name for it. */
const waitUntil = waitFor;

async function post(body: string): Promise<Response> {
  return fetch(`${hookd.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
}

const peers = usePeers();

before(async () => {
  nats = await peers.nats();
  receiver = await peers.receiver();
  hookd = await peers.hookd({
    rules: { 'r.yaml': rules(receiver.url) },
    config: { nats: { url: nats.url } },
  });
});

test('failure 1: an event nested 30,000 levels deep on NATS is rejected alone; the 20 good events of its batch are delivered', async () => {
  await waitForConsumer(nats.url);
  const nc = await connect({ servers: nats.url });
  const js = jetstream(nc);
  const sent = [js.publish('events.deep', deep(30_000, 'deep-nats'))];
  for (let i = 0; i < 20; i++)
    sent.push(js.publish('events.good', JSON.stringify({ id: `good-${i}`, type: 'good.x' })));
  await Promise.all(sent);
  await nc.close();

  await waitUntil('the 20 good events at the sink', () => {
    const got = receiver.requests.filter((r) => r.url === '/sink' && r.body.includes('"good.x"'));
    return got.length >= 20 ? got : undefined;
  });
  const kept = await waitFor('the deep event in rejected_events', async () =>
    (await hookd.app.store.rejected.list()).find((r) => r.source === 'nats'),
  );
  assert.equal(kept.reason, 'too_deep');
  assert.match(kept.detail!, /events\.maxDepth is 128/);
  assert.match(
    await (await fetch(`${hookd.url}/metrics`)).text(),
    /hookd_events_rejected_total\{reason="too_deep"\} 1/,
  );

  const nc2 = await connect({ servers: nats.url });
  const info = await (await jetstreamManager(nc2)).consumers.info('EVENTS', 'hookd');
  await nc2.close();
  assert.equal(info.num_ack_pending, 0, 'every message acknowledged');
  assert.equal(info.num_pending, 0);
});

test('failure 1 over HTTP: an event 100,000 levels deep gets a 400 naming the limit and is kept', async () => {
  const r = await post(deep(100_000, 'deep-http'));
  assert.equal(r.status, 400);
  const body = (await r.json()) as { problems: { reason: string; message: string }[] };
  assert.equal(body.problems[0]!.reason, 'too_deep');
  const kept = (await hookd.app.store.rejected.list()).find(
    (x) => x.source === 'http' && x.reason === 'too_deep',
  );
  assert.ok(kept, 'kept in rejected_events');
  // The same inside a batch (an array of events) is named by its index.
  const batch = await post(`[{"id":"ok-1","type":"good.x"},${deep(100_000, 'deep-2')}]`);
  assert.equal(batch.status, 400);
  assert.equal(((await batch.json()) as { problems: { reason: string }[] }).problems[0]!.reason, 'too_deep');
});

test('failure 2: a condition past its time budget is a condition error for that webhook and event only', async () => {
  const event = {
    id: 'cost-1',
    type: 'cost.check',
    data: { l: new Array(2000).fill(0), s: 'a'.repeat(200_000) },
  };
  const r = await post(JSON.stringify(event));
  assert.equal(r.status, 202);
  const rows = deliveriesOf('cost-1');
  assert.deepEqual(
    rows.map((d) => d.identifier),
    ['sink'],
    'the costly condition counts as false; the webhook without one gets the event',
  );
  const metrics = await (await fetch(`${hookd.url}/metrics`)).text();
  assert.match(metrics, /hookd_condition_errors_total\{webhook="costly"\} 1/);
  const logged = hookd.logs.find((l) => l.webhook === 'costly' && typeof l.error === 'string');
  assert.match(String(logged?.error), /events\.evalTimeoutMs/);
});

test('failure 3: catastrophic regex backtracking inside $match is stopped at the budget: a render failure for that delivery', async () => {
  const r = await post(
    JSON.stringify({ id: 'regex-1', type: 'regex.check', data: { s: `${'a'.repeat(27)}b` } }),
  );
  assert.equal(r.status, 202);
  const rows = deliveriesOf('regex-1');
  const regex = rows.find((d) => d.identifier === 'regex');
  assert.equal(regex?.state, 'failed');
  assert.match(String(regex?.last_error), /render failed: .*events\.evalTimeoutMs/);
  await waitUntil('the sink delivery of regex-1', () =>
    receiver.requests.find((q) => q.url === '/sink' && q.body.includes('regex-1')),
  );
});

test('failure 3: $pad to 100 MB is a render failure; nothing near that size is stored', async () => {
  const r = await post(JSON.stringify({ id: 'pad-1', type: 'pad.check' }));
  assert.equal(r.status, 202);
  const pad = deliveriesOf('pad-1').find((d) => d.identifier === 'pad');
  assert.equal(pad?.state, 'failed');
  assert.match(String(pad?.last_error), /render failed: /);
  assert.ok(pad!.request.length < 1024, `stored request is ${pad!.request.length} characters`);
  await waitUntil('the sink delivery of pad-1', () =>
    receiver.requests.find((q) => q.url === '/sink' && q.body.includes('pad-1')),
  );
});
