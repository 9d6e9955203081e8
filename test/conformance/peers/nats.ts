/**
 * The nats transport's peer: a real nats-server with JetStream and a stream
 * on `hooks.>`, plus, for the bad-credentials case, a second server that
 * requires a user and password.
 */
import { spawn } from 'node:child_process';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { natsTransport } from '../../../src/transports/nats/index.ts';
import { startNats } from '../../helpers/nats-server.ts';
import { freePort } from '../../helpers/ports.ts';
import { bodyFor, makeDelivery, type Peer, type PeerFactory } from './peer.ts';

/** A nats-server that requires `user`/`pass`; resolves once it is ready. */
async function startAuthNats(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(
    'nats-server',
    ['-a', '127.0.0.1', '-p', String(port), '--user', 'app', '--pass', 'secret'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let log = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (b: Buffer) => {
      log += b.toString();
      if (log.includes('Server is ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`nats-server exited (${code}):\n${log}`)));
    child.once('error', reject);
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export const natsPeer: PeerFactory = {
  name: 'nats',
  async start(): Promise<Peer> {
    const server = await startNats();
    const authServer = await startAuthNats();
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'HOOKS', subjects: ['hooks.>'], duplicate_window: 60_000_000_000 });
    const make = (marker: string, data: Record<string, unknown> = {}, subject = `hooks.${marker}`) =>
      makeDelivery(
        'nats',
        { url: server.url, subject: 'hooks.{/data/marker}', jetstream: true, ...data },
        { body: bodyFor(marker), fields: { subject } },
      );
    return {
      module: natsTransport,
      delivery: (marker) => make(marker),
      deliveryTo: (port, marker) => make(marker, { url: `nats://127.0.0.1:${port}` }),
      async arrival(marker) {
        try {
          const m = await jsm.streams.getMessage('HOOKS', { last_by_subj: `hooks.${marker}` });
          if (!m) return undefined;
          return { body: m.string(), rendered: m.subject, id: m.header.get('Nats-Msg-Id') };
        } catch {
          return undefined;
        }
      },
      permanent: {
        'bad credentials': {
          delivery: (m) => make(m, { url: authServer.url, user: 'app', pass: 'wrong' }),
          error: /authorization/i,
        },
        'invalid rendered subject': {
          delivery: (m) => make(m, {}, `hooks.${m} with spaces`),
          error: /invalid subject/,
        },
      },
      retryable: {
        'no stream for the subject (503 no responders)': {
          delivery: (m) => make(m, {}, `elsewhere.${m}`),
          error: /no JetStream stream/,
        },
      },
      stop: async () => {
        await nc.close();
        await authServer.stop();
        await server.stop();
      },
    };
  },
};
