/**
 * Creating hookd's streams, buckets and consumers when they are missing
 * (src/source/jetstream-setup.ts), on a real nats-server and a real 3-node
 * cluster: what exists is used as it is, callers racing to create the same
 * thing all get it, a cluster that cannot place the replicas yet (members
 * away, a meta leader being elected) is waited out instead of failing the
 * start, and any other refusal is thrown at once with the server's reason.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AckPolicy, jetstreamManager } from '@nats-io/jetstream';
import { connect, errors, nanos } from '@nats-io/transport-node';
import { openBucket } from '../../src/outbox/jetstream/buckets.ts';
import { ensureConsumer, ensureStream, patiently } from '../../src/source/index.ts';
import { usePeers } from '../helpers/peers.ts';
import { waitFor } from '../helpers/wait.ts';

const peers = usePeers();

describe('on one nats-server', () => {
  const server = async () => {
    const nats = await peers.nats();
    const nc = await peers.start(
      'connection',
      () => connect({ servers: nats.url }),
      (c) => c.close(),
    );
    return { nc, jsm: await jetstreamManager(nc) };
  };

  test('a missing stream is created; one that exists is used as it is', async () => {
    const { jsm } = await server();
    const first = await ensureStream(jsm, { name: 'S1', subjects: ['s1.>'], max_age: nanos(60_000) });
    assert.equal(first.created, true);
    const again = await ensureStream(jsm, { name: 'S1', subjects: ['other.>'], max_age: nanos(1000) });
    assert.equal(again.created, false);
    assert.deepEqual(again.info.config.subjects, ['s1.>'], 'the existing stream is not changed');
    assert.equal(again.info.config.max_age, nanos(60_000));
  });

  test('callers creating the same stream, consumer or bucket at once all get it', async () => {
    const { nc, jsm } = await server();
    const streams = await Promise.all(
      Array.from({ length: 6 }, () => ensureStream(jsm, { name: 'RACE', subjects: ['race.>'] })),
    );
    assert.equal(streams.filter((s) => s.created).length >= 1, true);
    assert.ok(streams.every((s) => s.info.config.name === 'RACE'));
    const consumers = await Promise.all(
      Array.from({ length: 6 }, () =>
        ensureConsumer(jsm, 'RACE', { durable_name: 'c', ack_policy: AckPolicy.Explicit }),
      ),
    );
    assert.ok(consumers.every((c) => c.info.name === 'c'));
    const buckets = await Promise.all(Array.from({ length: 6 }, () => openBucket(nc, 'RACE_KV', 1)));
    await buckets[0]!.put('k', 'v');
    assert.equal((await buckets[5]!.get('k'))?.string(), 'v');
  });

  test("a refusal that waiting cannot cure is thrown at once, with the server's reason", async () => {
    const { jsm } = await server();
    const waits: string[] = [];
    const started = Date.now();
    await assert.rejects(
      ensureStream(
        jsm,
        { name: 'R3_ALONE', subjects: ['alone.>'], num_replicas: 3 },
        { onWait: (e) => waits.push(e.message) },
      ),
      (err: Error) => {
        assert.match(err.message, /^cannot create the JetStream stream R3_ALONE \(3 replicas\): .*replicas/);
        return true;
      },
    );
    assert.deepEqual(waits, [], 'not waited for');
    assert.ok(Date.now() - started < 5000, 'at once');
  });
});

describe('patience', () => {
  test('a request that keeps timing out is tried again until the patience is spent, then thrown with its reason', async () => {
    const waits: string[] = [];
    let tries = 0;
    await assert.rejects(
      patiently(
        'reach JetStream',
        async () => {
          tries++;
          throw new errors.TimeoutError();
        },
        { patienceMs: 1000, onWait: (e) => waits.push(e.message) },
      ),
      /^Error: cannot reach JetStream: timeout/,
    );
    assert.ok(tries >= 2, `${tries} tries`);
    assert.equal(waits.length, tries - 1);
    assert.match(waits[0]!, /^cannot reach JetStream yet \(timeout\); trying again$/);
  });

  test('an abort stops the waiting', async () => {
    const stop = new AbortController();
    const waiting = patiently(
      'reach JetStream',
      async () => {
        throw new errors.TimeoutError();
      },
      { signal: stop.signal, onWait: () => stop.abort() },
    );
    const started = Date.now();
    await assert.rejects(waiting, { name: 'AbortError' });
    assert.ok(Date.now() - started < 1000, 'not after the pause');
  });
});

describe('on a 3-node cluster', () => {
  test('an R3 stream asked for while two members are away is created once they are back', async () => {
    const cluster = await peers.natsCluster();
    const nc = await peers.start(
      'connection',
      () => connect({ servers: cluster.urls[0]!, maxReconnectAttempts: -1, reconnectTimeWait: 100 }),
      (c) => c.close(),
    );
    const jsm = await jetstreamManager(nc);
    await Promise.all(cluster.members.slice(1).map((m) => m.kill()));
    const waits: string[] = [];
    const giveUp = new AbortController();
    const creating = ensureStream(
      jsm,
      { name: 'LATE_R3', subjects: ['late.>'], num_replicas: 3 },
      { patienceMs: 120_000, onWait: (e) => waits.push(e.message), signal: giveUp.signal },
    );
    peers.defer('the stream creation', async () => {
      giveUp.abort();
      await creating.catch(() => {});
    });
    await waitFor('the creation to say it waits', () => waits.length > 0, { timeoutMs: 60_000 });
    assert.match(waits[0]!, /^cannot create the JetStream stream LATE_R3 \(3 replicas\) yet \(/);
    await Promise.all(cluster.members.slice(1).map((m) => m.start()));
    const { info } = await creating;
    assert.equal(info.config.num_replicas, 3);
    assert.equal((info.cluster?.replicas?.length ?? 0) + 1, 3, 'stored on three members');
  });
});
