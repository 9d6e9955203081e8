/**
 * Starts a real `nats-server -js` on a free loopback port with a temp store
 * directory, for tests. Stop it with `stop()`; `restart()` keeps the store
 * (JetStream state survives, like a real server restart).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';

export interface NatsServer {
  url: string;
  port: number;
  storeDir: string;
  stop(): Promise<void>;
  /** Kills the server (SIGKILL when `hard`), keeping its store. */
  kill(hard?: boolean): Promise<void>;
  /** Starts it again on the same port and store. */
  start(): Promise<void>;
  restart(): Promise<void>;
}

function binary(): string {
  for (const p of ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']) {
    try {
      execFileSync(p, ['--version'], { stdio: 'ignore' });
      return p;
    } catch {}
  }
  throw new Error(
    'nats-server is not installed: run `apt-get install -y nats-server` (Debian package) and try again',
  );
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`nats-server did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startNats(): Promise<NatsServer> {
  const bin = binary();
  const port = await freePort();
  const storeDir = mkdtempSync(join(tmpdir(), 'hookd-nats-'));
  let child: ChildProcess | undefined;
  let stderr = '';
  const start = async () => {
    stderr = '';
    child = spawn(bin, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-4000);
    });
    try {
      await waitForPort(port, 10_000);
    } catch (err) {
      child.kill('SIGKILL');
      throw new Error(`${(err as Error).message}\n${stderr}`);
    }
    // JetStream is ready a moment after the port opens.
    await new Promise((r) => setTimeout(r, 100));
  };
  const kill = async (hard = false) => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited;
    child = undefined;
  };
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    start,
    kill,
    restart: async () => {
      await kill();
      await start();
    },
    stop: async () => {
      await kill();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

/**
 * Waits until hookd has created its stream and durable consumer on `url`
 * (it does so in the background after connecting).
 */
export async function waitForConsumer(
  url: string,
  stream = 'EVENTS',
  consumer = 'hookd',
  timeoutMs = 20_000,
): Promise<void> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await jsm.consumers.info(stream, consumer);
        return;
      } catch {
        if (Date.now() > deadline)
          throw new Error(`hookd did not create consumer ${stream}/${consumer} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    await nc.close();
  }
}
