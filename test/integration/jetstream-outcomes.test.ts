/**
 * The outcome stream and the replica count of cluster mode (issue 15) on a
 * real nats-server, two or three replicas on their own connections:
 * every feed reads the same records in the same order from when it opened,
 * successes summed, a failure after its replica's pending successes, a
 * probe's outcome on its own; a record that is no outcome is skipped and
 * reported. `HOOKD_REPLICAS` counts the replicas running, one fewer at once
 * when one leaves, and a replica whose heartbeats stopped after three.
 * On a 3-node cluster (R3 stream), records published while the stream's
 * leader is SIGKILLed reach both feeds, in the same order.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  OUTCOMES_STREAM,
  OutcomeFeed,
  type OutcomeRecord,
  ReplicaPresence,
  subjects,
} from '../../src/outbox/jetstream/index.ts';
import { usePeers } from '../helpers/peers.ts';
import { waitFor } from '../helpers/wait.ts';

const peers = usePeers();

describe('outcomes and presence on one nats-server', () => {
  let url: string;
  const conn = (what: string) =>
    peers.start(
      what,
      () => connect({ servers: url }),
      (c) => c.close(),
    );

  const feed = async (nc: NatsConnection, replica: string) => {
    const seen: [string, OutcomeRecord][] = [];
    const errors: string[] = [];
    const f = await OutcomeFeed.open(nc, {
      replicas: 1,
      replica,
      onRecord: (id, r) => seen.push([id, r]),
      onError: (e) => errors.push(e.message),
    });
    peers.defer(`${replica}'s feed`, () => f.close());
    return { f, seen, errors };
  };

  test('setup', async () => {
    url = (await peers.nats()).url;
  });

  test('every feed reads the same records in the same order; successes summed, failures and probes at once', async () => {
    const a = await feed(await conn('a'), 'replica-a');
    const b = await feed(await conn('b'), 'replica-b');
    for (let i = 0; i < 100; i++) a.f.success('orders/hook');
    a.f.failure('orders/hook', 'msg_1');
    b.f.success('other', 1_700_000_000_000);
    for (let i = 0; i < 7; i++) b.f.success('orders/hook');
    await Promise.all([a.f.flush(), b.f.flush()]);
    await waitFor('both feeds to read the 4 records', () => a.seen.length === 4 && b.seen.length === 4, {
      saw: () => ({ a: a.seen, b: b.seen }),
    });
    assert.deepEqual(a.seen, b.seen, 'the same sequence on both');
    const shape = a.seen.map(([id, r]) => [
      id,
      r.kind,
      r.replica,
      r.kind === 'successes' ? r.count : r.deliveryId,
      r.probe,
    ]);
    const fromA = shape.filter((s) => s[2] === 'replica-a');
    assert.deepEqual(
      fromA,
      [
        ['orders/hook', 'successes', 'replica-a', 100, undefined],
        ['orders/hook', 'failure', 'replica-a', 'msg_1', undefined],
      ],
      "A's 100 successes in one record, published before its failure",
    );
    assert.deepEqual(
      shape.filter((s) => s[2] === 'replica-b'),
      [
        ['other', 'successes', 'replica-b', 1, 1_700_000_000_000],
        ['orders/hook', 'successes', 'replica-b', 7, undefined],
      ],
    );

    // A feed opened now reads from now: none of the records before.
    const c = await feed(await conn('c'), 'replica-c');
    a.f.failure('orders/hook', 'msg_2');
    await a.f.flush();
    await waitFor('C to read the new record', () => c.seen.length === 1);
    assert.equal((c.seen[0]![1] as { deliveryId: string }).deliveryId, 'msg_2');

    // Something that is no outcome is skipped and reported; what follows is read.
    const nc = await conn('raw');
    await jetstream(nc).publish(subjects.outcome('orders/hook'), '{"kind":"failure"}');
    await jetstream(nc).publish(
      'hookd.outcomes.a=2',
      JSON.stringify({ kind: 'successes', at: 1, replica: 'x', count: 1 }),
    );
    a.f.failure('orders/hook', 'msg_3');
    await a.f.flush();
    await waitFor('C to read msg_3', () => c.seen.length === 2);
    assert.equal((c.seen[1]![1] as { deliveryId: string }).deliveryId, 'msg_3');
    assert.equal(c.errors.length, 2, c.errors.join('; '));
    assert.match(
      c.errors[0]!,
      /HOOKD_OUTCOMES sequence \d+ \(hookd\.outcomes\.orders=2fhook\) is not an outcome/,
    );
  });

  test('HOOKD_REPLICAS counts the replicas running: one leaving is gone at once, one dead after three heartbeats', async () => {
    const heartbeatMs = 200;
    const open = async (name: string, nc: NatsConnection) => {
      const p = await ReplicaPresence.open(nc, { replicas: 1, replica: name, heartbeatMs });
      peers.defer(`${name}'s presence`, () => p.close());
      return p;
    };
    const x = await open('x', await conn('x'));
    const y = await open('y', await conn('y'));
    const dyingConnection = await connect({ servers: url });
    const z = await open('z', dyingConnection);
    await waitFor('x to count 3', () => x.live() === 3, { saw: () => x.live() });
    await waitFor('z to count 3', () => z.live() === 3, { saw: () => z.live() });
    await y.close();
    await waitFor('x to count 2 once y left', () => x.live() === 2, { saw: () => x.live() });
    // z's process "dies": its connection is gone, its key is never deleted.
    await dyingConnection.close();
    await waitFor('x to count 1 once z fell silent', () => x.live() === 1, { saw: () => x.live() });
  });
});

describe('outcomes on a 3-node cluster, the stream leader killed', () => {
  test('both feeds read every record in the same order through the leader change', async (t) => {
    /** What the feeds reported (a stalled reader resumed). */
    const notes: string[] = [];
    const cluster = await peers.natsCluster();
    const open = async (replica: string, first: number) => {
      // Each replica's connection prefers another member; all are listed, so it fails over.
      const servers = [...cluster.urls.slice(first), ...cluster.urls.slice(0, first)];
      const nc = await peers.start(
        `${replica}'s connection`,
        () => connect({ servers, noRandomize: true, maxReconnectAttempts: -1, reconnectTimeWait: 100 }),
        (c) => c.close(),
      );
      const seen: OutcomeRecord[] = [];
      const f = await OutcomeFeed.open(nc, {
        replicas: 3,
        replica,
        publishDeadlineMs: 30_000,
        onRecord: (_id, r) => seen.push(r),
        onError: (e) => notes.push(`${replica}: ${e.message}`),
      });
      peers.defer(`${replica}'s feed`, () => f.close());
      return { nc, f, seen };
    };
    const a = await open('a', 0);
    const b = await open('b', 1);
    for (let i = 0; i < 10; i++) (i % 2 ? a : b).f.failure('hook', `before-${i}`);
    await Promise.all([a.f.flush(), b.f.flush()]);
    const leader = (await (await jetstreamManager(a.nc)).streams.info(OUTCOMES_STREAM)).cluster?.leader;
    await cluster.memberNamed(leader)!.kill(true);
    const killedAt = Date.now();
    for (let i = 0; i < 10; i++) (i % 2 ? a : b).f.failure('hook', `after-${i}`);
    await Promise.all([a.f.flush(), b.f.flush()]);
    const ids = (f: { seen: OutcomeRecord[] }) =>
      f.seen.map((r) => (r.kind === 'failure' ? r.deliveryId : `successes ${r.count}`));
    await waitFor('both feeds to read all 20 records', () => a.seen.length >= 20 && b.seen.length >= 20, {
      timeoutMs: 60_000,
      saw: () => ({ a: ids(a), b: ids(b) }),
    });
    t.diagnostic(
      `SIGKILLed ${leader}, the leader of ${OUTCOMES_STREAM}: all read ${Date.now() - killedAt} ms later`,
    );
    if (notes.length) t.diagnostic(notes.join('; '));
    assert.deepEqual(ids(a), ids(b), 'the same order on both');
    assert.equal(new Set(ids(a)).size, 20, 'each record once');
  });
});
