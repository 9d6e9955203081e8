/**
 * A real HTTP receiver on a free loopback port that records every request
 * and answers from a script (per request), for delivery tests.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Delay before answering, in ms. */
  delayMs?: number;
}

export interface Receiver {
  url: string;
  port: number;
  requests: Received[];
  /** Sets how to answer; called with the request and its 1-based number. */
  respond(fn: (req: Received, n: number) => Reply): void;
  /** Resolves once `n` requests have arrived (or rejects after `timeoutMs`). */
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  /** Gone: the port refuses connections (open ones are cut) until `resume()`. */
  pause(): Promise<void>;
  /** Back on the same port. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const requests: Received[] = [];
  let script: (req: Received, n: number) => Reply = () => ({ status: 200 });
  const waiters: { n: number; resolve: () => void }[] = [];
  /** Replies held back by `delayMs`, dropped at close (their timers would keep the process alive). */
  const delayed = new Set<NodeJS.Timeout>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = {
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
        at: Date.now(),
      };
      requests.push(r);
      const reply = script(r, requests.length);
      const send = () => {
        res.writeHead(reply.status, reply.headers);
        res.end(reply.body ?? '');
        for (const w of [...waiters]) {
          if (requests.length >= w.n) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve();
          }
        }
      };
      if (reply.delayMs) {
        const t = setTimeout(() => {
          delayed.delete(t);
          send();
        }, reply.delayMs);
        delayed.add(t);
      } else send();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const shut = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    respond(fn) {
      script = fn;
    },
    waitFor(n, timeoutMs = 30_000) {
      if (requests.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const w = {
          n,
          resolve: () => {
            clearTimeout(t);
            resolve();
          },
        };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`receiver got ${requests.length} of ${n} requests within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    pause: shut,
    async resume() {
      // The port may be briefly not reusable after the close: try again.
      for (let tries = 0; ; tries++) {
        const ok = await new Promise<boolean>((resolve) => {
          const fail = () => resolve(false);
          server.once('error', fail);
          server.listen(port, '127.0.0.1', () => {
            server.off('error', fail);
            resolve(true);
          });
        });
        if (ok) return;
        if (tries >= 50) throw new Error(`receiver: port ${port} could not be listened on again`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    close: () => {
      for (const t of delayed) clearTimeout(t);
      delayed.clear();
      return shut();
    },
  };
}
