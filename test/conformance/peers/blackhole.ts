/**
 * A TCP listener on loopback that accepts connections and never says a word:
 * a peer that hangs. `nextConnection()` resolves when a new client is in, so a test can
 * abort a send that is provably in progress without timing guesses.
 */

import type { AddressInfo } from 'node:net';
import { createServer, type Socket } from 'node:net';

export interface Blackhole {
  port: number;
  connections: number;
  /** Resolves at the next new connection. */
  nextConnection(): Promise<void>;
  stop(): Promise<void>;
}

export async function startBlackhole(): Promise<Blackhole> {
  const sockets = new Set<Socket>();
  let waiters: (() => void)[] = [];
  const hole: Blackhole = {
    port: 0,
    connections: 0,
    nextConnection: () => new Promise<void>((resolve) => waiters.push(resolve)),
    stop: async () => {},
  };
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    hole.connections++;
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hole.port = (server.address() as AddressInfo).port;
  hole.stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return hole;
}
