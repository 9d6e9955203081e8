/**
 * Intake's side of the `jetstream` backend's delivery work queue (issue 15):
 * deliveries published to `HOOKD_DELIVERIES` on their webhook's subject with
 * `Nats-Msg-Id` = delivery id, the event acknowledged only once every
 * publish is confirmed, and a redelivered event storing nothing twice. Real
 * nats-servers: a single node, and a 3-node cluster whose stream leader is
 * killed while deliveries are being published.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AckPolicy,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { NewDelivery } from '../../src/outbox/index.ts';
import {
  ATTEMPT_HEADER,
  DELIVERIES_STREAM,
  DeliveryQueue,
  deliverySubject,
  NOT_BEFORE_HEADER,
} from '../../src/outbox/jetstream/index.ts';
import { usePeers } from '../helpers/peers.ts';
import { waitFor } from '../helpers/wait.ts';
import { newDelivery } from './jetstream-fixtures.ts';

const peers = usePeers();

const delivery = newDelivery;

async function connection(servers: string | string[]): Promise<NatsConnection> {
  return peers.start(
    'nats connection',
    () => connect({ servers, maxReconnectAttempts: -1, reconnectTimeWait: 100 }),
    (c) => c.close(),
  );
}

/** An events stream with one pull consumer, as hookd's source has. */
async function eventSource(nc: NatsConnection) {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'T_EVENTS', subjects: ['t.events.>'] });
  await jsm.consumers.add('T_EVENTS', {
    durable_name: 'intake',
    ack_policy: AckPolicy.Explicit,
    ack_wait: 60e9,
  });
  const js = jetstream(nc);
  const consumer = await js.consumers.get('T_EVENTS', 'intake');
  return {
    publish: (id: string) => js.publish(`t.events.${id}`, JSON.stringify({ id })),
    next: () =>
      waitFor('the events consumer to hand over an event', () =>
        consumer.next({ expires: 1000 }).then((m) => m ?? false),
      ),
    info: () => jsm.consumers.info('T_EVENTS', 'intake'),
  };
}

async function storedDeliveries(jsm: JetStreamManager) {
  const info = await jsm.streams.info(DELIVERIES_STREAM, { subjects_filter: '>' });
  const out: {
    subject: string;
    id: string | undefined;
    attempt: string | undefined;
    notBefore: string | undefined;
    body: unknown;
  }[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(DELIVERIES_STREAM, { seq }).catch(() => null);
    if (!m) continue;
    out.push({
      subject: m.subject,
      id: m.header.get('Nats-Msg-Id'),
      attempt: m.header.get(ATTEMPT_HEADER),
      notBefore: m.header.get(NOT_BEFORE_HEADER),
      body: m.json(),
    });
  }
  return { info, messages: out };
}

describe('single nats-server', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let events: Awaited<ReturnType<typeof eventSource>>;

  test('setup', async () => {
    const server = await peers.nats();
    nc = await connection(server.url);
    jsm = await jetstreamManager(nc);
    events = await eventSource(nc);
  });

  test('an event is acknowledged only once each of its deliveries is stored on its webhook subject; a redelivered one adds none', async () => {
    const queue = await DeliveryQueue.open(nc, { replicas: 1 });
    await events.publish('ev-1');
    const msg = await events.next();
    // Intake hands each delivery over with its request head's JSON (for sqlite's head column): not queued twice.
    const batch = [
      // Intake hands over the request's head as it measured it (all but the body): used, not written twice.
      (() => {
        const d = delivery('ev-1', 'orders-hook');
        const request = { headers: {}, contentType: 'application/json', body: d.request.body };
        return { ...d, request, requestHead: '{"headers":{},"contentType":"application/json"}' };
      })(),
      delivery('ev-1', 'billing.v2'),
    ];
    let storedWhenAcked = -1;
    const added = await queue.accept(
      {
        ackAck: async () => {
          storedWhenAcked = (await jsm.streams.info(DELIVERIES_STREAM)).state.messages;
          return msg.ackAck();
        },
        nak: (ms) => msg.nak(ms),
      },
      batch,
    );
    assert.equal(added, 2);
    assert.equal(storedWhenAcked, 2, 'both deliveries were in the stream when the event was acknowledged');
    const ci = await events.info();
    assert.deepEqual([ci.num_ack_pending, ci.num_pending], [0, 0], 'the event is acknowledged');

    const { info, messages } = await storedDeliveries(jsm);
    assert.deepEqual(info.state.subjects, {
      [deliverySubject('orders-hook')]: 1,
      [deliverySubject('billing.v2')]: 1,
    });
    assert.equal(deliverySubject('billing.v2'), 'hookd.deliveries.billing=2ev2');
    for (const d of batch) {
      const m = messages.find((x) => x.id === d.id);
      assert.ok(m, `delivery ${d.id} stored with its id as Nats-Msg-Id`);
      assert.equal(m.subject, deliverySubject(d.webhookId));
      assert.equal(m.attempt, '0');
      assert.equal(m.notBefore, String(d.nextAttemptAt));
      const { nextAttemptAt: _, requestHead: _head, ...body } = d;
      assert.deepEqual(m.body, body, 'the delivery as rendered, its request once');
    }

    // The same event again (another replica took it after this one died before acknowledging): nothing new.
    assert.equal(await queue.publish(batch), 0);
    assert.equal((await jsm.streams.info(DELIVERIES_STREAM)).state.messages, 2);
  });

  test('a delivery that failed to render is refused, not queued', async () => {
    const queue = await DeliveryQueue.open(nc, { replicas: 1 });
    const bad = { ...delivery('ev-bad', 'orders-hook'), renderError: 'template failed' };
    await assert.rejects(queue.publish([bad]), { code: 'HOOKD_STORE_FAILED', message: /dead letters/ });
    assert.equal((await jsm.streams.info(DELIVERIES_STREAM)).state.messages, 2);
  });

  test('when the deliveries cannot be stored the event is handed back, and stored once when it comes again', async () => {
    const queue = await DeliveryQueue.open(nc, { replicas: 1, publishDeadlineMs: 500 });
    await jsm.streams.delete(DELIVERIES_STREAM); // the stream is gone: publishes find no responder
    await events.publish('ev-2');
    const first = await events.next();
    const batch = [delivery('ev-2', 'orders-hook'), delivery('ev-2', 'quiet-hook')];
    await assert.rejects(queue.accept(first, batch, 10), { code: 'HOOKD_STORE_FAILED' });

    const again: JsMsg = await events.next();
    assert.equal(again.seq, first.seq, 'the same event is redelivered');
    assert.ok(again.info.deliveryCount >= 2);
    await DeliveryQueue.open(nc, { replicas: 1 }); // the stream is back
    assert.equal(await queue.accept(again, batch), 2);
    const ci = await events.info();
    assert.deepEqual([ci.num_ack_pending, ci.num_pending], [0, 0]);
    const { messages } = await storedDeliveries(jsm);
    assert.deepEqual(messages.map((m) => m.id).sort(), batch.map((d) => d.id).sort());
  });
});

describe('3-node cluster, R3 stream', () => {
  test('the stream leader killed while deliveries are published: every delivery stored exactly once', async (t) => {
    const cluster = await peers.natsCluster();
    const nc = await connection(cluster.urls);
    const jsm = await jetstreamManager(nc);
    const queue = await DeliveryQueue.open(nc, { replicas: 3 });
    const info = await jsm.streams.info(DELIVERIES_STREAM);
    assert.equal(info.config.num_replicas, 3);
    const leader = info.cluster?.leader;
    const victim = cluster.memberNamed(leader);
    assert.ok(victim, `the stream leader ${leader} is one of the members`);

    // As intake does when a publish fails (the election outlasted the publish deadline): the event
    // comes again and its deliveries are published again with the same ids, stored once.
    const publishUntilStored = async (batch: NewDelivery[]): Promise<number> => {
      for (let tries = 1; ; tries++) {
        try {
          return await queue.publish(batch);
        } catch (err) {
          if (tries === 3) throw err;
          t.diagnostic(`a batch published again after: ${(err as Error).message}`);
        }
      }
    };
    const total = 1000;
    const batches: Promise<number>[] = [];
    let killed: Promise<void> | undefined;
    for (let i = 0; i < total / 10; i++) {
      const batch = Array.from({ length: 10 }, (_, j) => delivery(`ev-${i}-${j}`, `hook-${j % 4}`));
      batches.push(publishUntilStored(batch));
      if (i === 20) killed = victim.kill(true);
      await new Promise((r) => setImmediate(r));
    }
    const added = (await Promise.all(batches)).reduce((a, b) => a + b, 0);
    await killed;
    const after = await waitFor('a new stream leader', async () => {
      const s = await jsm.streams.info(DELIVERIES_STREAM);
      return s.cluster?.leader && s.cluster.leader !== leader ? s : false;
    });
    t.diagnostic(`leader ${leader} killed; new leader ${after.cluster?.leader}; ${added} new of ${total}`);
    assert.equal(after.state.messages, total, 'every delivery is stored, none twice');
  });
});
