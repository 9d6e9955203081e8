/**
 * Issue 15, acceptance 3 (first half): a 3-node nats-server cluster on
 * loopback, hookd's streams and buckets R3 (`store.jetstream.replicas: 3`),
 * the EVENTS stream R3, two hookd replicas (child processes,
 * `store.backend: jetstream`) each connected to another member, a real HTTP
 * receiver. 5,000 events are published (500/s, each publish retried with
 * its event id as Nats-Msg-Id until acknowledged) while the leader of
 * HOOKD_DELIVERIES is SIGKILLed (and started again once another leads),
 * then the leader of EVENTS: every event arrives, a duplicate only with the
 * same webhook-id, the work queues end empty, no dead letters.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { events, everyEventArrived, publishEvents } from '../helpers/cluster-checks.ts';
import type { NatsCluster } from '../helpers/nats-cluster.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { startOnCluster } from '../helpers/replicas.ts';
import { waitFor } from '../helpers/wait.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const N = 5000;
const peers = usePeers();
let cluster: NatsCluster;
let receiver: Receiver;

before(async () => {
  cluster = await peers.natsCluster();
  receiver = await peers.receiver();
  await startOnCluster(peers, cluster, 2, {
    rules: {
      'r.yaml': `webhooks:\n  - identifier: load\n    url: ${receiver.url}/load\n    events: [load.*]\n    secret: ${SECRET}\n`,
    },
    config: { delivery: { shutdownTimeoutMs: 1000 } },
  });
});

test('the HOOKD_DELIVERIES leader, then the EVENTS leader, SIGKILLed during 5,000 publishes: nothing lost', async () => {
  const killed: { stream: string; name: string; killedAt: number; restartedAt: number }[] = [];
  const all = events('load', 'load.created', N);
  let published = 0;
  let retries = 0;
  /** Kills the leader of `stream`; starts it again once the other two elected another. */
  const killLeader = async (stream: string) => {
    const { name, member } = await cluster.leaderOf(stream);
    await member.kill(true);
    const killedAt = published;
    // The other two are a quorum meanwhile.
    await waitFor(`a new leader of ${stream}`, async () => (await cluster.leaderOf(stream)).name !== name);
    await member.start();
    killed.push({ stream, name, killedAt, restartedAt: published });
  };
  // Two halves, each with one kill 1,000 publishes in (500/s: 2 s in); the second half starts
  // once the first kill's member is back, so the cluster never loses its quorum.
  for (const [half, stream] of [
    [all.slice(0, N / 2), 'HOOKD_DELIVERIES'],
    [all.slice(N / 2), 'EVENTS'],
  ] as const) {
    let chaos: Promise<void> | undefined;
    const before = published;
    const r = await publishEvents(cluster.urls, half, {
      perSecond: 500,
      onPublished: (n) => {
        published = before + n;
        if (n === 1000) chaos = killLeader(stream);
      },
    });
    retries += r.retries;
    await chaos;
  }
  assert.equal(killed.length, 2, 'both leaders were killed');
  for (const k of killed)
    assert.ok(k.killedAt < N, `the ${k.stream} leader was killed while publishing: ${JSON.stringify(k)}`);
  const t = await everyEventArrived(cluster.urls, receiver, N);
  const said = killed.map(
    (k) => `${k.stream} leader ${k.name} killed at ${k.killedAt} published, back at ${k.restartedAt}`,
  );
  console.log(
    `# ${said.join('; ')}; ${retries} publish retries; ${N}/${N} delivered, ${t.duplicates} duplicates (same webhook-id)`,
  );
});
