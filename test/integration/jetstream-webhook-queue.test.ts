/**
 * Dispatch's side of the `jetstream` delivery work queue (issue 15), two
 * replicas (own connections) on a real nats-server: each webhook's consumer
 * hands out only its webhook's deliveries; its concurrency limit holds
 * across both replicas; what a replica killed for good had taken goes to the
 * other with the same delivery id; a retry is republished with the next
 * attempt and its time, a dead letter moved to `HOOKD_DEAD_LETTERS`, each
 * before the taken message leaves the queue.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  DEAD_LETTERS_STREAM,
  DELIVERIES_STREAM,
  DeliveryQueue,
  deliverySubject,
  REASON_HEADER,
  type TakenDelivery,
  WebhookQueue,
  type WebhookQueueOptions,
} from '../../src/outbox/jetstream/index.ts';
import { startNatsCluster } from '../helpers/nats-cluster.ts';
import { usePeers } from '../helpers/peers.ts';
import { waitFor } from '../helpers/wait.ts';
import { newDelivery } from './jetstream-fixtures.ts';

const peers = usePeers();

const delivery = newDelivery;

const OPTS: WebhookQueueOptions = {
  maxAckPending: 2,
  // Far above any pause of a loaded machine: nothing is redelivered unless a test means it.
  ackWaitMs: 120_000,
  replicas: 1,
  deadLetterMaxAgeMs: 3_600_000,
};

const ids = (taken: readonly TakenDelivery[]) => taken.map((t) => t.delivery.id).sort();

describe('per-webhook delivery queues, two replicas on one nats-server', () => {
  let url: string;
  let jsm: JetStreamManager;
  let intake: DeliveryQueue;

  const replica = (): Promise<NatsConnection> =>
    peers.start(
      'replica connection',
      () => connect({ servers: url }),
      (c) => c.close(),
    );

  /** A subject's messages in a stream (delivery ids with their headers). */
  const stored = async (stream: string, subject: string) => {
    const info = await jsm.streams.info(stream, { subjects_filter: subject });
    const out: { id: string; headers: Record<string, string> }[] = [];
    for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (!m || m.subject !== subject) continue;
      const headers: Record<string, string> = {};
      for (const k of m.header.keys()) headers[k] = m.header.get(k);
      out.push({ id: m.json<{ id: string }>().id, headers });
    }
    return out;
  };

  test('setup', async () => {
    url = (await peers.nats()).url;
    const nc = await replica();
    jsm = await jetstreamManager(nc);
    intake = await DeliveryQueue.open(nc, { replicas: 1 });
  });

  test("a webhook's consumer hands out only its own deliveries, at most maxAckPending across both replicas", async () => {
    const hot = ['e1', 'e2', 'e3'].map((e) => delivery(e, 'hot-hook'));
    const quiet = delivery('e1', 'quiet-hook');
    assert.equal(await intake.publish([...hot, quiet]), 4);
    const a = await WebhookQueue.open(await replica(), 'hot-hook', OPTS);
    const b = await WebhookQueue.open(await replica(), 'hot-hook', OPTS);
    const quietQueue = await WebhookQueue.open(await replica(), 'quiet-hook', OPTS);

    const takenByA = await a.take(10);
    assert.equal(takenByA.length, 2, 'replica A gets maxAckPending (2) of the 3');
    assert.ok(takenByA.every((t) => t.delivery.webhookId === 'hot-hook'));
    assert.deepEqual(await b.take(10), [], 'replica B gets none while A holds the limit');

    const q = await quietQueue.take(10);
    assert.deepEqual(ids(q), [quiet.id], 'the quiet webhook is not behind the hot one');
    await quietQueue.succeeded(q[0]!);

    for (const t of takenByA) await a.succeeded(t);
    const rest = await b.take(10);
    assert.deepEqual(
      ids([...takenByA, ...rest]),
      hot.map((d) => d.id).sort(),
      'B gets the third once A settled',
    );
    await b.succeeded(rest[0]!);
    assert.equal(
      (await jsm.streams.info(DELIVERIES_STREAM)).state.messages,
      0,
      'settled deliveries leave the queue',
    );
  });

  test('what a replica killed for good had taken goes to the other, with the same delivery ids', async () => {
    const batch = ['k1', 'k2', 'k3'].map((e) => delivery(e, 'kill-hook'));
    await intake.publish(batch);
    const ncA = await connect({ servers: url });
    // A short ack wait: A's deliveries come back to B soon after A is gone.
    const killOpts = { ...OPTS, ackWaitMs: 2000 };
    const a = await WebhookQueue.open(ncA, 'kill-hook', killOpts);
    const takenByA = await a.take(10);
    assert.equal(takenByA.length, 2);
    await ncA.close(); // A is gone: nothing it took is acknowledged

    const b = await WebhookQueue.open(await replica(), 'kill-hook', killOpts);
    const got: TakenDelivery[] = [];
    await waitFor(
      "replica B to get all 3 deliveries, A's 2 after the ack wait",
      async () => {
        const taken = await b.take(10);
        for (const t of taken) {
          got.push(t);
          await b.succeeded(t);
        }
        return got.length === 3;
      },
      { timeoutMs: 30_000, saw: () => ids(got) },
    );
    assert.deepEqual(ids(got), batch.map((d) => d.id).sort());
    for (const t of takenByA) {
      const again = got.find((g) => g.delivery.id === t.delivery.id)!;
      assert.ok(again.handedOut >= 2, `${t.delivery.id} was handed out again (${again.handedOut})`);
      assert.deepEqual(again.delivery, t.delivery, 'the same delivery, so the same webhook-id');
    }
  });

  test('a retry is republished with the next attempt and its time; a dead letter moved with its reason; each then leaves', async () => {
    const [r, d] = [delivery('r1', 'outcome-hook'), delivery('d1', 'outcome-hook')];
    await intake.publish([r, d]);
    const q = await WebhookQueue.open(await replica(), 'outcome-hook', OPTS);
    const taken = await q.take(10);
    const byId = (id: string) => taken.find((t) => t.delivery.id === id)!;
    assert.equal(byId(r.id).attempt, 0);
    assert.equal(byId(r.id).notBefore, r.nextAttemptAt);

    await q.retry(byId(r.id), 1_800_000_000_000);
    await q.deadLetter(byId(d.id), 'HTTP 400 from the receiver');

    const queued = await stored(DELIVERIES_STREAM, deliverySubject('outcome-hook'));
    assert.deepEqual(
      queued.map((m) => [
        m.id,
        m.headers['Hookd-Attempt'],
        m.headers['Hookd-Not-Before'],
        m.headers['Nats-Msg-Id'],
      ]),
      [[r.id, '1', '1800000000000', `${r.id}.1`]],
      'only the retry is queued, once',
    );
    const dead = await stored(DEAD_LETTERS_STREAM, 'hookd.dead.outcome-hook');
    assert.deepEqual(
      dead.map((m) => [m.id, m.headers[REASON_HEADER], m.headers['Hookd-Attempt']]),
      [[d.id, 'HTTP 400 from the receiver', '1']],
    );

    const again = await q.take(10);
    assert.deepEqual(
      again.map((t) => [t.delivery.id, t.attempt, t.notBefore]),
      [[r.id, 1, 1_800_000_000_000]],
    );
    await q.succeeded(again[0]!);
  });
});

describe('3-node cluster, R3 streams', () => {
  test('replica A gone and the queue leader killed during delivery: replica B settles every delivery', async (t) => {
    const cluster = await peers.start(
      'nats cluster',
      () => startNatsCluster(3),
      (c) => c.stop(),
    );
    const ncB = await peers.start(
      'replica B connection',
      () => connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 100 }),
      (c) => c.close(),
    );
    const jsmB = await jetstreamManager(ncB);
    const intakeB = await DeliveryQueue.open(ncB, { replicas: 3 });
    const hooks = ['c-hook-0', 'c-hook-1', 'c-hook-2', 'c-hook-3'];
    const all = Array.from({ length: 200 }, (_, i) => delivery(`c${i}`, hooks[i % 4]!));
    assert.equal(await intakeB.publish(all), 200);
    const opts = { ...OPTS, replicas: 3, maxAckPending: 8, ackWaitMs: 3000 };

    // Replica A settles some, then takes more and is gone while the stream's leader is killed.
    const ncA = await connect({ servers: cluster.urls });
    const settled = new Set<string>();
    let unsettled = 0;
    for (const h of hooks) {
      const a = await WebhookQueue.open(ncA, h, opts);
      for (const x of await a.take(4)) {
        await a.succeeded(x);
        settled.add(x.delivery.id);
      }
      unsettled += (await a.take(4)).length;
    }
    assert.ok(unsettled > 0, 'replica A holds deliveries it will never settle');
    const leader = (await jsmB.streams.info(DELIVERIES_STREAM)).cluster?.leader;
    const victim = cluster.memberNamed(leader);
    assert.ok(victim, `the stream leader ${leader} is one of the members`);
    await ncA.close();
    await victim.kill(true);

    const queues = new Map<string, WebhookQueue>();
    await waitFor(
      'replica B to settle all 200 deliveries',
      async () => {
        for (const h of hooks) {
          if (!queues.has(h)) queues.set(h, await WebhookQueue.open(ncB, h, opts));
          for (const x of await queues.get(h)!.take(8)) {
            await queues.get(h)!.succeeded(x);
            settled.add(x.delivery.id);
          }
        }
        return settled.size === all.length;
      },
      { timeoutMs: 90_000, intervalMs: 200, saw: () => `${settled.size} of ${all.length} settled` },
    );
    t.diagnostic(`stream leader ${leader} killed; replica A gone with ${unsettled} taken and not settled`);
    assert.deepEqual([...settled].sort(), all.map((d) => d.id).sort());
    const left = await waitFor('the queue to be empty', async () => {
      const s = await jsmB.streams.info(DELIVERIES_STREAM);
      return s.state.messages === 0 ? s : false;
    });
    assert.equal(left.state.messages, 0);
  });
});
