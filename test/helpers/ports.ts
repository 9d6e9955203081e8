/** A free TCP port on loopback, chosen by the kernel. */
import { createServer } from 'node:net';

/**
 * Ports handed out by this process. A port is free when chosen, not when it
 * is bound: the kernel may offer a port again once its probe closed, and a
 * 3-node cluster asks for nine at once (client, route and monitor ports),
 * so one member could be given another's port (seen: a member's monitor
 * port in use at start). Within a process, each port is handed out once.
 */
const given = new Set<number>();

export async function freePort(): Promise<number> {
  for (;;) {
    const port = await kernelPort();
    if (!given.has(port)) {
      given.add(port);
      return port;
    }
  }
}

function kernelPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
