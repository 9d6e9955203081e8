/**
 * Starts a real `nats-server -js` on a free loopback port with a temp store
 * directory, for tests. Stop it with `stop()`; `restart()` keeps the store
 * (JetStream state survives, like a real server restart).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { GiveUp, waitFor } from './wait.ts';

export interface NatsServer {
  url: string;
  port: number;
  storeDir: string;
  /** The running server's process id (undefined while it is down). */
  pid(): number | undefined;
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

/**
 * `args`: more command-line options (a cluster member's name, cluster port and routes).
 * `readyTimeoutMs`: how long a start may take to be healthy (20 s; a cluster member is healthy only
 * once the members elect a meta leader, which takes some election rounds of 4–9 s each on 2.9).
 */
export async function startNats(
  opts: { args?: readonly string[]; readyTimeoutMs?: number } = {},
): Promise<NatsServer> {
  const bin = binary();
  let port = await freePort();
  const storeDir = mkdtempSync(join(tmpdir(), 'hookd-nats-'));
  let child: ChildProcess | undefined;
  let stderr = '';
  const start = async () => {
    stderr = '';
    // The monitoring port's /healthz answers ok once JetStream is ready, not merely when the port opens.
    const monitor = await freePort();
    const c = spawn(
      bin,
      [
        '-a',
        '127.0.0.1',
        '-p',
        String(port),
        '-m',
        String(monitor),
        '-js',
        '-sd',
        storeDir,
        ...(opts.args ?? []),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child = c;
    c.stderr?.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-4000);
    });
    try {
      await waitFor(
        `nats-server on port ${port} to be ready (monitor /healthz on ${monitor})`,
        async () => {
          if (c.exitCode !== null) throw new GiveUp(`nats-server exited with ${c.exitCode}: ${stderr}`);
          return (await fetch(`http://127.0.0.1:${monitor}/healthz`)).ok;
        },
        { timeoutMs: opts.readyTimeoutMs ?? 20_000, saw: () => `stderr: ${stderr}` },
      );
    } catch (err) {
      await kill(true);
      throw err;
    }
  };
  const kill = async (hard = false) => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited;
    child = undefined;
  };
  for (let tries = 1; ; tries++) {
    try {
      await start();
      break;
    } catch (err) {
      // A port free when chosen was taken before the server bound it (another process's test):
      // the first start may pick others; a restart keeps the client port it has.
      if (tries < 3 && stderr.includes('address already in use')) {
        port = await freePort();
        continue;
      }
      rmSync(storeDir, { recursive: true, force: true });
      throw err;
    }
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    pid: () => child?.pid,
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
    await waitFor(
      `hookd to create consumer ${stream}/${consumer}`,
      async () => Boolean(await jsm.consumers.info(stream, consumer)),
      { timeoutMs, intervalMs: 100 },
    );
  } finally {
    await nc.close();
  }
}
