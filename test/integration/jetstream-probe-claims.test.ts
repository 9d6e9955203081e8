/**
 * One probe per cooldown cluster-wide rests on `Nats-Msg-Id` dedupe in
 * `HOOKD_PROBES` (issue 15): many replicas claiming the same round at once,
 * from connections to every member of a 3-node cluster (R3 stream, Debian's
 * nats-server 2.9.10) and to a single node, get exactly one ack that is not
 * a duplicate, and exactly one `ProbeClaims.claim` wins, for every round.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { msgIds, ProbeClaims, subjects } from '../../src/outbox/jetstream/index.ts';
import { startNatsCluster } from '../helpers/nats-cluster.ts';
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

scenario('3-node cluster, R3 stream', async () => {
  const cluster = await peers.start(
    'nats cluster',
    () => startNatsCluster(3),
    (c) => c.stop(),
  );
  return { urls: cluster.urls, replicas: 3 };
});
