/**
 * One probe per cooldown cluster-wide rests on `Nats-Msg-Id` dedupe in
 * `HOOKD_PROBES` (issue 15): many replicas claiming the same round at once,
 * from connections to every member of a 3-node cluster (R3 stream, Debian's
 * nats-server 2.9.10) and to a single node, get exactly one ack that is not
 * a duplicate, and exactly one `ProbeClaims.claim` wins, for every round.
 * A round claimed before the stream's leader is SIGKILLed stays claimed
 * under the new leader, and the next round is won exactly once.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { msgIds, PROBES_STREAM, ProbeClaims, subjects } from '../../src/outbox/jetstream/index.ts';
import type { NatsCluster } from '../helpers/nats-cluster.ts';
import { usePeers } from '../helpers/peers.ts';

const peers = usePeers();
/** Connections per server URL, and concurrent claims per connection, for each round. */
const PER_URL = 2;
const CLAIMS_PER_CONNECTION = 4;
const ROUNDS = 100;

function scenario(name: string, setup: () => Promise<{ urls: string[]; replicas: number }>) {
  describe(name, () => {
    const connections: NatsConnection[] = [];
    const claimers: ProbeClaims[] = [];

    test('setup: claimers on connections to every server', async () => {
      const { urls, replicas } = await setup();
      for (const url of urls)
        for (let i = 0; i < PER_URL; i++) {
          const nc = await peers.start(
            `connection to ${url}`,
            () => connect({ servers: url }),
            (c) => c.close(),
          );
          connections.push(nc);
          claimers.push(await ProbeClaims.open(nc, { replicas, replica: `r${claimers.length}` }));
        }
    });

    test('concurrent publishes of one msg-id: exactly one ack is not a duplicate, every round', async () => {
      const results: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const msgID = msgIds.probe('raw-hook', 1_700_000_000_000, round);
        const acks = await Promise.all(
          connections.flatMap((nc) =>
            Array.from({ length: CLAIMS_PER_CONNECTION }, () =>
              jetstream(nc).publish(subjects.probe('raw-hook'), 'claim', { msgID }),
            ),
          ),
        );
        results.push(acks.filter((a) => !a.duplicate).length);
        assert.equal(
          new Set(acks.map((a) => a.seq)).size,
          1,
          `round ${round}: every ack names the one stored claim`,
        );
      }
      assert.deepEqual(results, Array(ROUNDS).fill(1), 'non-duplicate acks per round');
    });

    test('ProbeClaims.claim: exactly one claimant wins each round; a later round is claimable again', async () => {
      const wins: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const won = await Promise.all(
          claimers.flatMap((c) =>
            Array.from({ length: CLAIMS_PER_CONNECTION }, () =>
              c.claim('orders/hook', 1_700_000_000_123, round),
            ),
          ),
        );
        wins.push(won.filter(Boolean).length);
      }
      assert.deepEqual(wins, Array(ROUNDS).fill(1), 'winning claims per round');
      assert.equal(
        await claimers[0]!.claim('orders/hook', 1_700_000_000_999, 0),
        true,
        'another open period',
      );
      assert.equal(await claimers[1]!.claim('orders/hook', 1_700_000_000_999, 0), false, 'claimed once');
    });
  });
}

scenario('single nats-server', async () => {
  const nats = await peers.nats();
  return { urls: [nats.url], replicas: 1 };
});

let cluster: NatsCluster;
scenario('3-node cluster, R3 stream', async () => {
  cluster = await peers.natsCluster();
  return { urls: cluster.urls, replicas: 3 };
});

describe('3-node cluster: the probe stream leader killed', () => {
  test('a claimed round stays claimed under the new leader; the next round is won exactly once', async (t) => {
    const open = async (replica: string) => {
      const nc = await peers.start(
        `${replica}'s connection`,
        () => connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 100 }),
        (c) => c.close(),
      );
      // Claims are retried through the election (a few seconds).
      return { nc, claims: await ProbeClaims.open(nc, { replicas: 3, replica, claimDeadlineMs: 30_000 }) };
    };
    const x = await open('x');
    const others = [await open('y'), await open('z')];
    assert.equal(await x.claims.claim('leader-hook', 42, 0), true);
    const leader = (await (await jetstreamManager(x.nc)).streams.info(PROBES_STREAM)).cluster?.leader;
    const member = cluster.memberNamed(leader);
    assert.ok(member, `the leader ${leader} is a member`);
    await member.kill(true);
    t.diagnostic(`SIGKILLed ${leader}, the leader of ${PROBES_STREAM}`);
    const again = await Promise.all(
      others.flatMap((o) => Array.from({ length: 5 }, () => o.claims.claim('leader-hook', 42, 0))),
    );
    assert.deepEqual(again.filter(Boolean), [], 'round 0 stays claimed');
    const next = await Promise.all(
      [x, ...others].flatMap((o) => Array.from({ length: 5 }, () => o.claims.claim('leader-hook', 42, 1))),
    );
    assert.equal(next.filter(Boolean).length, 1, 'round 1: one winner');
  });
});
