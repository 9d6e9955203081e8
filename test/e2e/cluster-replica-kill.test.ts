/**
 * Issue 15, acceptance 3 (second half): a 3-node nats-server cluster on
 * loopback, hookd's streams and buckets R3, the EVENTS stream R3, two hookd
 * replicas (child processes, `store.backend: jetstream`) each connected to
 * another member. Replica B is SIGKILLed during the delivery of 2,000
 * events and never restarted: A delivers the rest (what B had taken comes
 * back to A after the ack wait), every event arrives, a duplicate only with
 * the same webhook-id, the work queues end empty, no dead letters.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { events, everyEventArrived, publishEvents, tally } from '../helpers/cluster-checks.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { type Replica, startOnCluster } from '../helpers/replicas.ts';
import { waitFor } from '../helpers/wait.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const N = 2000;
const peers = usePeers();
let urls: string[];
let receiver: Receiver;
let B: Replica;

before(async () => {
  const cluster = await peers.natsCluster();
  urls = cluster.urls;
  receiver = await peers.receiver();
  [, B] = (await startOnCluster(peers, cluster, 2, {
    rules: {
      'r.yaml': `webhooks:\n  - identifier: kill\n    url: ${receiver.url}/kill\n    events: [kill.*]\n    secret: ${SECRET}\n`,
    },
    config: { delivery: { shutdownTimeoutMs: 1000 } },
  })) as [Replica, Replica];
});

test('a replica SIGKILLed during delivery and never restarted: nothing lost', async () => {
  // Slow enough that delivery is under way for a while.
  receiver.respond(() => ({ status: 200, delayMs: 5 }));
  await publishEvents(urls, events('kill', 'kill.created', N));
  await waitFor('a quarter delivered', () => tally(receiver.requests).events.size >= N / 4, {
    timeoutMs: 60_000,
    intervalMs: 50,
  });
  const atKill = tally(receiver.requests).events.size;
  await B.kill();
  assert.ok(atKill < N, `killed while delivering (${atKill} of ${N})`);
  const t = await everyEventArrived(urls, receiver, N);
  console.log(
    `# replica B SIGKILLed with ${atKill}/${N} delivered; A delivered the rest: ${N}/${N}, ${t.duplicates} duplicates (same webhook-id)`,
  );
});
