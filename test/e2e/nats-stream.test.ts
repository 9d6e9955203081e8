/**
 * Issue 16 (NATS): the stream hookd creates has `nats.maxAge`; an existing
 * stream is used as it is and a subjects mismatch is logged; the consumer's
 * deliveries are bounded and a poison message (delivered past
 * `nats.maxDeliver`) is kept in `rejected_events`, counted and acked;
 * binary mode with a non-JSON `datacontenttype` is delivered with the data
 * as sent; id-less events of a re-created stream do not collide with the old
 * stream's deliveries.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers, nanos } from '@nats-io/transport-node';
import { makeDirs, type RunningHookd, startHookd } from '../helpers/hookd.ts';
import { type NatsServer, waitForConsumer } from '../helpers/nats-server.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Received, Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

let nats: NatsServer;
let receiver: Receiver;
const running: RunningHookd[] = [];

const peers = usePeers();

before(async () => {
  nats = await peers.nats();
  receiver = await peers.receiver();
  // The hookds a test has not stopped itself (each test stops its own on success).
  peers.defer('hookd', async () => {
    for (const h of running.splice(0)) await h.stop();
  });
});

const RULES = () => ({ 'r.yaml': `webhooks:\n  - identifier: sink\n    url: ${receiver.url}/in/{/type}\n` });

async function hookdOn(url: string, extra: Record<string, unknown> = {}, dirs = makeDirs(RULES())) {
  const h = await startHookd({ dirs, config: { nats: { url, ...extra } } });
  running.push(h);
  return h;
}

/** Waits until `check` returns a value; says what it waited for and what `seen` shows. */
function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, seen: () => unknown) {
  return waitFor(what, check, { timeoutMs: 60_000, intervalMs: 100, saw: seen });
}

const deliveries = (type: string): Received[] => receiver.requests.filter((r) => r.url === `/in/${type}`);

test('the stream hookd creates has nats.maxAge; its consumer has a bounded max_deliver', async () => {
  const hookd = await hookdOn(nats.url, { maxDeliver: 7 });
  await waitForConsumer(nats.url);
  const nc = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(nc);
  const stream = await jsm.streams.info('EVENTS');
  const consumer = await jsm.consumers.info('EVENTS', 'hookd');
  await nc.close();
  assert.equal(stream.config.max_age, nanos(168 * 3600 * 1000), 'default nats.maxAge is 168h');
  assert.ok(consumer.config.max_deliver !== undefined && consumer.config.max_deliver > 7);
  assert.ok(consumer.config.max_deliver <= 10, `bounded, got ${consumer.config.max_deliver}`);
  await hookd.stop();
  running.splice(running.indexOf(hookd), 1);
});

test('binary mode over NATS with a non-JSON datacontenttype is delivered with the data as sent', async () => {
  const hookd = await hookdOn(nats.url);
  await waitForConsumer(nats.url);
  const nc = await connect({ servers: nats.url });
  const h = headers();
  h.set('ce-specversion', '1.0');
  h.set('ce-id', 'nats-xml-1');
  h.set('ce-type', 'doc.xml');
  h.set('ce-source', '/docs');
  h.set('content-type', 'text/csv');
  const csv = 'id,name\n1,"Grüße"\n';
  await jetstream(nc).publish('events.docs', csv, { headers: h });
  await nc.close();
  const [d] = await until(
    'the CSV event delivered',
    () => (deliveries('doc.xml').length ? deliveries('doc.xml') : undefined),
    () => undefined,
  );
  const body = JSON.parse(d!.body);
  assert.equal(body.data, csv);
  assert.equal(body.datacontenttype, 'text/csv');
  assert.equal(body.id, 'nats-xml-1');
  await hookd.stop();
  running.splice(running.indexOf(hookd), 1);
});

/**
 * Waits until `h` consumes (its readiness says NATS is up, which it says only
 * once its lease is held and its consumer is pulling). The durable consumer
 * of an earlier hookd may still exist, so its presence proves nothing.
 */
function consuming(h: RunningHookd, what: string) {
  return until(
    what,
    async () => {
      const r = await fetch(`${h.url}/readyz`);
      const body = (await r.json()) as { checks?: { nats?: boolean } };
      return body.checks?.nats === true ? true : undefined;
    },
    () => h.logs.filter((l) => Number(l.level) >= 40).map((l) => `${l.msg} ${l.err ?? ''}`),
  );
}

test('id-less events of a re-created stream are new events, not the old stream’s deliveries', async () => {
  const dirs = makeDirs(RULES());
  const publishIdLess = async () => {
    const nc = await connect({ servers: nats.url });
    await jetstream(nc).publish('events.x', JSON.stringify({ type: 'idless.x' }));
    await nc.close();
  };
  const first = await hookdOn(nats.url, {}, dirs);
  await consuming(first, 'the first hookd consuming');
  const nc = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(nc);
  // A fresh stream: the id-less event gets the sequence 1.
  await first.stop();
  running.splice(running.indexOf(first), 1);
  await jsm.streams.delete('EVENTS');
  const second = await hookdOn(nats.url, {}, dirs);
  await consuming(second, 'the second hookd consuming a new stream');
  await publishIdLess();
  await until(
    'the first id-less event',
    () => (deliveries('idless.x').length === 1 ? true : undefined),
    () => ({
      deliveries: deliveries('idless.x').length,
      warnings: second.logs.filter((l) => Number(l.level) >= 40).map((l) => `${l.msg} ${l.err ?? ''}`),
    }),
  );
  await second.stop();
  running.splice(running.indexOf(second), 1);
  // The stream is re-created under the same name; its sequence starts at 1 again.
  await jsm.streams.delete('EVENTS');
  await nc.close();
  const third = await hookdOn(nats.url, {}, dirs);
  await consuming(third, 'the third hookd consuming the re-created stream');
  await publishIdLess();
  await until(
    'the re-created stream’s id-less event to be delivered too',
    () => (deliveries('idless.x').length === 2 ? true : undefined),
    () => ({ deliveries: deliveries('idless.x').length, stored: third.app.store.deliveries.depth() }),
  );
  await third.stop();
  running.splice(running.indexOf(third), 1);
  dirs.cleanup();
});

test('an existing stream is used as it is: other subjects are logged; a poison message is kept and acked', async () => {
  const own = await peers.nats();
  try {
    const nc = await connect({ servers: own.url });
    const jsm = await jetstreamManager(nc);
    // Made by someone else: other subjects, no max_age, a consumer already there.
    await jsm.streams.add({ name: 'EVENTS', subjects: ['events.>', 'audit.>'] });
    await jsm.consumers.add('EVENTS', {
      durable_name: 'hookd',
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(2000),
    });
    const js = jetstream(nc);
    await js.publish('events.poison', JSON.stringify({ id: 'poison-1', type: 'poison.x' }));
    // Three hookd processes that took it and died before storing it: delivered, never acked.
    const consumer = await js.consumers.get('EVENTS', 'hookd');
    for (let i = 1; i <= 3; i++) {
      const m = await consumer.next({ expires: 5000 });
      assert.equal(m?.info.deliveryCount, i);
      m!.nak();
    }
    const hookd = await hookdOn(own.url, { maxDeliver: 3 });
    await until(
      'the poison message in rejected_events',
      async () => (await hookd.app.store.rejected.list()).find((r) => r.reason === 'redelivered'),
      () => 'no rejected event with reason redelivered',
    );
    const kept = (await hookd.app.store.rejected.list()).find((r) => r.reason === 'redelivered')!;
    assert.equal(kept.subject, 'events.poison');
    assert.match(kept.detail!, /delivered 4 times without being stored \(nats\.maxDeliver is 3\)/);
    assert.equal(JSON.parse(Buffer.from(kept.payload!).toString()).id, 'poison-1');
    assert.equal(deliveries('poison.x').length, 0, 'not delivered');
    await until(
      'the poison message acked',
      async () => ((await jsm.consumers.info('EVENTS', 'hookd')).num_ack_pending === 0 ? true : undefined),
      () => 'ack pending',
    );
    const metrics = await (await fetch(`${hookd.url}/metrics`)).text();
    assert.match(metrics, /hookd_events_rejected_total\{reason="redelivered"\} 1/);
    const warn = hookd.logs.find((l) => String(l.msg).includes('other subjects than nats.subjects'));
    assert.deepEqual(warn?.streamSubjects, ['events.>', 'audit.>'], 'the mismatch is logged');
    const stream = await jsm.streams.info('EVENTS');
    assert.equal(stream.config.max_age, 0, 'used as it is');
    await nc.close();
  } finally {
    for (const h of running.splice(0)) await h.stop();
    await own.stop();
  }
});
