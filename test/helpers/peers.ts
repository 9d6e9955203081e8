/**
 * Starts the real components a test file talks to (nats-server, sshd,
 * Prometheus, SMTP and HTTP receivers, hookd) one at a time, registering each
 * one's teardown the moment it is up. A `before` that fails half way (sshd
 * missing, Prometheus not ready) therefore leaves nothing running: the file's
 * `after` stops whatever did start, newest first, and the file exits.
 *
 *   const peers = usePeers();            // at the top of the file
 *   before(async () => {
 *     nats = await peers.nats();
 *     receiver = await peers.receiver();
 *     hookd = await peers.hookd({ ... });
 *   });
 *
 * Start peers one after the other, not in one `Promise.all`: a rejected
 * `Promise.all` returns while the others are still starting, and those would
 * register after the teardown ran.
 */
import { after } from 'node:test';
import {
  type HookdProcess,
  makeDirs,
  type RunningHookd,
  spawnHookd,
  startHookd,
  type TestDirs,
} from './hookd.ts';
import { startReceiver as startHttpReceiver } from './http-receiver.ts';
import { startNatsCluster } from './nats-cluster.ts';
import { startNats } from './nats-server.ts';
import { startPrometheus } from './prometheus.ts';
import { startReceiver } from './receiver.ts';
import { startSmtp } from './smtp.ts';
import { type SshdOptions, startSshd } from './sshd.ts';

type Stop = () => Promise<void> | void;

export class Peers {
  readonly #stops: { what: string; stop: Stop }[] = [];

  /** Starts a peer with `start` and registers `stop` for it before returning it. */
  async start<T>(
    what: string,
    start: () => Promise<T> | T,
    stop: (peer: T) => Promise<void> | void,
  ): Promise<T> {
    const peer = await start();
    this.#stops.push({ what, stop: () => stop(peer) });
    return peer;
  }

  /** Registers another teardown (a client connection, a temp dir), run with the peers'. */
  defer(what: string, stop: Stop): void {
    this.#stops.push({ what, stop });
  }

  nats() {
    return this.start('nats-server', startNats, (n) => n.stop());
  }
  /** A nats-server cluster on loopback (three `-js` members), ready once JetStream has a meta leader. */
  natsCluster() {
    return this.start(
      'nats cluster',
      () => startNatsCluster(3),
      (c) => c.stop(),
    );
  }
  /** The scripted receiver of `receiver.ts` (per-request replies, `waitFor(n)`). */
  receiver() {
    return this.start('receiver', startReceiver, (r) => r.close());
  }
  /** The recording receiver of `http-receiver.ts` (transport tests). */
  httpReceiver(...args: Parameters<typeof startHttpReceiver>) {
    return this.start(
      'http receiver',
      () => startHttpReceiver(...args),
      (r) => r.stop(),
    );
  }
  sshd(opts?: SshdOptions) {
    return this.start(
      'sshd',
      () => startSshd(opts),
      (s) => s.stop(),
    );
  }
  prometheus(opts: Parameters<typeof startPrometheus>[0]) {
    return this.start(
      'prometheus',
      () => startPrometheus(opts),
      (p) => p.stop(),
    );
  }
  smtp(opts?: Parameters<typeof startSmtp>[0]) {
    return this.start(
      'smtp sink',
      () => startSmtp(opts),
      (s) => s.stop(),
    );
  }
  hookd(opts: Parameters<typeof startHookd>[0]): Promise<RunningHookd> {
    return this.start(
      'hookd',
      () => startHookd(opts),
      (h) => h.stop(),
    );
  }
  /** `hookd run` as a child process; killed (SIGKILL) at teardown if still running. */
  spawnHookd(...args: Parameters<typeof spawnHookd>): Promise<HookdProcess> {
    return this.start('hookd process', () => spawnHookd(...args), killProcess);
  }
  /** Temp dirs for hookd's store and rules, removed at teardown. */
  dirs(rules?: Record<string, string>): TestDirs {
    const dirs = makeDirs(rules);
    this.defer('temp dirs', () => dirs.cleanup());
    return dirs;
  }

  /** Stops everything started so far, newest first; every teardown runs even if one fails. */
  async stop(): Promise<void> {
    const errors: Error[] = [];
    for (let s = this.#stops.pop(); s; s = this.#stops.pop()) {
      try {
        await s.stop();
      } catch (err) {
        errors.push(new Error(`stopping ${s.what} failed: ${(err as Error).message}`, { cause: err }));
      }
    }
    if (errors.length) throw new AggregateError(errors, errors.map((e) => e.message).join('; '));
  }
}

async function killProcess(h: HookdProcess): Promise<void> {
  if (h.child.exitCode === null && h.child.signalCode === null) {
    h.child.kill('SIGKILL');
    await h.exited;
  }
}

/** Peers torn down by `register` (the file's `after` by default, or a test's `t.after`). */
export function usePeers(register: (fn: () => Promise<void>) => void = after): Peers {
  const peers = new Peers();
  register(() => peers.stop());
  return peers;
}
