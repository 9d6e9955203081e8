/**
 * Starts a real nats-server cluster (three `-js` members by default) on
 * loopback: each member on its own free client and cluster port with its own
 * temp store, routed to the others. Ready once JetStream has a meta leader
 * (the account info answers), so R3 streams and buckets can be created.
 *
 *   const cluster = await peers.natsCluster();
 *   connect({ servers: cluster.urls });
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { type NatsServer, startNats } from './nats-server.ts';
import { freePort } from './ports.ts';
import { waitFor } from './wait.ts';

export interface NatsCluster {
  members: NatsServer[];
  /** Every member's client URL (a client given all of them fails over). */
  urls: string[];
  /** The member with this server name (as a stream's `cluster.leader` names it). */
  memberNamed(name: string | undefined): NatsServer | undefined;
  /** The member leading `stream` now (waits until it has one). */
  leaderOf(stream: string): Promise<{ name: string; member: NatsServer }>;
  stop(): Promise<void>;
}

export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const name = `hookd-test-${process.pid}`;
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) routePorts.push(await freePort());
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
  // Started together: a member waits for the others' routes before JetStream has a meta leader.
  const started = await Promise.allSettled(
    routePorts.map((p, i) =>
      startNats({
        readyTimeoutMs: 60_000,
        args: [
          '-n',
          `${name}-${i + 1}`,
          '--cluster_name',
          name,
          '--cluster',
          `nats://127.0.0.1:${p}`,
          '--routes',
          routes,
        ],
      }),
    ),
  );
  const members = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const stop = async () => {
    await Promise.allSettled(members.map((m) => m.stop()));
  };
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  const urls = members.map((m) => m.url);
  try {
    const nc = await connect({ servers: urls });
    try {
      const jsm = await jetstreamManager(nc);
      await waitFor(`the ${size}-node cluster ${name} to elect a JetStream meta leader`, async () =>
        Boolean(await jsm.getAccountInfo()),
      );
    } finally {
      await nc.close();
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const memberNamed = (n: string | undefined) => members.find((_m, i) => n === `${name}-${i + 1}`);
  const leaderOf = async (stream: string) => {
    const nc = await connect({ servers: urls });
    try {
      const jsm = await jetstreamManager(nc);
      return await waitFor(`a leader of ${stream}`, async () => {
        const leader = (await jsm.streams.info(stream)).cluster?.leader;
        const member = memberNamed(leader);
        return leader && member ? { name: leader, member } : undefined;
      });
    } finally {
      await nc.close();
    }
  };
  return { members, urls, stop, memberNamed, leaderOf };
}
