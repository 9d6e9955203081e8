/**
 * Runs N hookd replicas as child processes (`hookd run`) with
 * `store.backend: jetstream` against one nats-server or a cluster (issue 15):
 * each with its own temp dir (config file, rules, an unused store path), the
 * same rules, its own free HTTP port. A replica can be SIGKILLed, stopped
 * with SIGTERM and started again on the same port; its API and /metrics are
 * read over HTTP like an operator would; its log lines are kept whole
 * (JSON, parsed) for assertions on breaker transitions and state changes.
 *
 *   const peers = usePeers();
 *   const [a, b] = await startReplicas(peers, 2, { natsUrl: nats.url, rules });
 *   await a.api('POST', '/v1/webhooks', {...});
 *   await b.kill();
 *
 * The backend is set in the config file, not only in HOOKD_* variables: a
 * hookd that does not know `store.backend` refuses the file at start instead
 * of silently running the sqlite store.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeDirs, merge, type TestDirs } from './hookd.ts';
import type { NatsCluster } from './nats-cluster.ts';
import type { Peers } from './peers.ts';
import { freePort } from './ports.ts';
import { GiveUp, waitFor } from './wait.ts';

const ROOT = join(import.meta.dirname, '../..');

export interface ReplicaOptions {
  /** Client URL of the nats-server, or every member's of a cluster (joined with commas). */
  natsUrl: string | readonly string[];
  /** Rule files (name → YAML), the same for every replica. */
  rules?: Record<string, string>;
  /** More of the config file (deep-merged over the backend settings), e.g. `{ delivery: {...} }`. */
  config?: Record<string, unknown>;
  /** More HOOKD_* variables. */
  env?: Record<string, string>;
  /** `store.jetstream.replicas`: replicas of hookd's streams and buckets (3 on a 3-node cluster). */
  streamReplicas?: number;
  /** `jetstream` (default), or `sqlite`: one process with its own file (the same file again after a restart). */
  backend?: 'jetstream' | 'sqlite';
  /** Log level of every replica (default info: breaker transitions and state changes are logged at info/warn). */
  logLevel?: string;
  /** What node runs (default the sources through tsx; the benchmarks may run the compiled build). */
  entry?: readonly string[];
}

export interface ApiAnswer<T = unknown> {
  status: number;
  body: T;
  text: string;
}

export class Replica {
  #child: ChildProcess | undefined;
  #exited: Promise<number | null> = Promise.resolve(null);
  #port = 0;
  /** Every log line of every run of this replica, parsed (non-JSON lines as `{ msg: line }`). */
  readonly logs: Record<string, unknown>[] = [];
  /** Raw output of the current run, for failure messages (the tail). */
  #output = '';
  /** Runs started (1 after the first start). */
  starts = 0;

  constructor(
    readonly name: string,
    readonly dirs: TestDirs,
    private readonly env: Record<string, string>,
    /** The backend its config file sets. */
    readonly backend: 'jetstream' | 'sqlite' = 'jetstream',
    private readonly entry: readonly string[] = ['--import', 'tsx', 'src/cli.ts'],
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }
  get pid(): number | undefined {
    return this.#child?.pid;
  }
  get running(): boolean {
    const c = this.#child;
    return Boolean(c && c.exitCode === null && c.signalCode === null);
  }
  output(): string {
    return this.#output;
  }

  /** Starts `hookd run` (again on the same port after the first time); resolves when /healthz answers. */
  async start(nodeArgs: readonly string[] = []): Promise<void> {
    if (this.running) throw new Error(`replica ${this.name} is already running (pid ${this.pid})`);
    if (!this.#port) this.#port = await freePort();
    this.#output = '';
    let partial = '';
    const child = spawn(
      process.execPath,
      [...nodeArgs, ...this.entry, 'run', '--config', this.dirs.configPath, '--rules', this.dirs.rulesDir],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          HOOKD_HTTP_PORT: String(this.#port),
          HOOKD_STORE_PATH: this.dirs.storePath,
          HOOKD_SECURITY_ALLOW_PRIVATE_NETWORKS: 'true',
          ...this.env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.#child = child;
    this.starts++;
    const onData = (b: Buffer) => {
      const text = b.toString();
      this.#output = (this.#output + text).slice(-20_000);
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        try {
          this.logs.push({ replica: this.name, ...(JSON.parse(line) as Record<string, unknown>) });
        } catch {
          this.logs.push({ replica: this.name, msg: line });
        }
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    this.#exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(
        `hookd replica ${this.name} (pid ${child.pid}) to answer ${this.url}/healthz`,
        async () => {
          if (child.exitCode !== null)
            throw new GiveUp(`replica ${this.name} exited with ${child.exitCode}:\n${this.#output}`);
          return (await fetch(`${this.url}/healthz`)).ok;
        },
        { timeoutMs: 60_000, intervalMs: 100, saw: () => `its output:\n${this.#output}` },
      );
    } catch (err) {
      await this.kill();
      throw err;
    }
  }

  /** Waits until /readyz answers 200 (store open, NATS connected and consuming). */
  async ready(timeoutMs = 60_000): Promise<void> {
    await waitFor(
      `hookd replica ${this.name} to be ready (/readyz 200)`,
      async () => {
        if (!this.running) throw new GiveUp(`replica ${this.name} is not running:\n${this.#output}`);
        const r = await fetch(`${this.url}/readyz`);
        if (r.status === 200) return true;
        throw new Error(`${r.status} ${await r.text()}`);
      },
      { timeoutMs, intervalMs: 100 },
    );
    // A hookd that reads store.backend but still opens the SQLite file would pass every check above.
    if (this.backend === 'jetstream' && existsSync(this.dirs.storePath))
      throw new Error(
        `replica ${this.name} opened a SQLite store at ${this.dirs.storePath}: store.backend jetstream is not in force`,
      );
  }

  /** SIGKILL (a replica gone at once, nothing flushed); resolves when the process is gone. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.#child!.kill('SIGKILL');
    await this.#exited;
  }

  /** SIGTERM; resolves with the exit code (SIGKILL after `timeoutMs`: then 'killed'). */
  async stop(timeoutMs = 20_000): Promise<number | null | 'killed'> {
    if (!this.running) return this.#child?.exitCode ?? null;
    this.#child!.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      this.#exited,
      new Promise<'timeout'>((r) => {
        timer = setTimeout(() => r('timeout'), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (code === 'timeout') {
      await this.kill();
      return 'killed';
    }
    return code;
  }

  /** Calls the replica's API (open: no tokens configured); the body is parsed when it is JSON. */
  async api<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> {
    const r = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: r.status, body: parsed as T, text };
  }

  /** The replica's /metrics, parsed: `name{labels}` → value (labels as exposed, sorted by the exposition). */
  async metrics(): Promise<Metrics> {
    const r = await fetch(`${this.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
    if (!r.ok) throw new Error(`replica ${this.name}: /metrics answered ${r.status}`);
    return parseMetrics(await r.text());
  }

  /** The id of the webhook with `identifier`, as this replica lists it. */
  async webhookId(identifier: string): Promise<string> {
    const list = await this.api<{ items?: { id: string; identifier: string }[] }>(
      'GET',
      `/v1/webhooks?identifier=${encodeURIComponent(identifier)}`,
    );
    const w = list.body.items?.find((i) => i.identifier === identifier);
    if (!w) throw new Error(`replica ${this.name} does not list webhook ${identifier}: ${list.text}`);
    return w.id;
  }

  /** The state of webhook `id` as this replica answers it (Active, Stopped, TooManyErrors). */
  async stateOf(id: string): Promise<string> {
    const g = await this.api<{ state: string }>('GET', `/v1/webhooks/${id}`);
    if (g.status !== 200)
      throw new Error(`replica ${this.name}: GET /v1/webhooks/${id} answered ${g.status}: ${g.text}`);
    return g.body.state;
  }

  /** Log lines whose `msg` is `msg` (and whose fields match `where`). */
  logged(msg: string, where: Record<string, unknown> = {}): Record<string, unknown>[] {
    return this.logs.filter((l) => l.msg === msg && Object.entries(where).every(([k, v]) => l[k] === v));
  }
}

/** Samples of a Prometheus text exposition. */
export class Metrics {
  constructor(readonly samples: { name: string; labels: Record<string, string>; value: number }[]) {}

  /** Sum of the samples named `name` whose labels include `labels`. */
  sum(name: string, labels: Record<string, string> = {}): number {
    let total = 0;
    for (const s of this.samples)
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += s.value;
    return total;
  }
}

export function parseMetrics(text: string): Metrics {
  const samples: Metrics['samples'] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_all, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return new Metrics(samples);
}

/** The config file of a jetstream replica: JSON is YAML. */
export function replicaConfig(opts: ReplicaOptions): Record<string, unknown> {
  const url = typeof opts.natsUrl === 'string' ? opts.natsUrl : opts.natsUrl.join(',');
  const base = {
    nats: { url },
    store:
      opts.backend === 'sqlite'
        ? {}
        : { backend: 'jetstream', jetstream: { replicas: opts.streamReplicas ?? 1 } },
    http: { host: '127.0.0.1' },
    security: { allowPrivateNetworks: true },
  };
  return merge(base, opts.config ?? {});
}

/**
 * A replica not started yet, with its temp dir (config file, rules, store
 * path) written; the caller starts it and removes `dirs` when done.
 */
export function makeReplica(name: string, opts: ReplicaOptions): Replica {
  const dirs = makeDirs(opts.rules);
  writeFileSync(dirs.configPath, `${JSON.stringify(replicaConfig(opts), null, 2)}\n`);
  return new Replica(
    name,
    dirs,
    { HOOKD_LOG_LEVEL: opts.logLevel ?? 'info', ...opts.env },
    opts.backend ?? 'jetstream',
    opts.entry,
  );
}

/**
 * Starts `n` replicas (named A, B, C, …) one after the other, each registered
 * with `peers` (SIGKILLed at teardown if still running, its dir removed).
 */
export async function startReplicas(peers: Peers, n: number, opts: ReplicaOptions): Promise<Replica[]> {
  const replicas: Replica[] = [];
  for (let i = 0; i < n; i++) replicas.push(await startReplica(peers, String.fromCharCode(65 + i), opts));
  return replicas;
}

/** One more replica with the same settings (e.g. a replacement for one killed for good). */
export async function startReplica(peers: Peers, name: string, opts: ReplicaOptions): Promise<Replica> {
  const replica = makeReplica(name, opts);
  peers.defer(`hookd replica ${name}'s dir`, () => replica.dirs.cleanup());
  peers.defer(`hookd replica ${name}`, () => replica.kill());
  await replica.start();
  return replica;
}

/**
 * On a cluster: the EVENTS stream R3 as an operator makes it (hookd uses an
 * existing stream as it is), then `n` replicas with hookd's streams and
 * buckets R3, each connected to another member (one member killed cuts one
 * replica's connection, and it fails over to the members it learnt).
 */
export async function startOnCluster(
  peers: Peers,
  cluster: NatsCluster,
  n: number,
  opts: Omit<ReplicaOptions, 'natsUrl' | 'streamReplicas'>,
): Promise<Replica[]> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager, RetentionPolicy } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: cluster.urls });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: 'EVENTS',
      subjects: ['events.>'],
      retention: RetentionPolicy.Limits,
      num_replicas: 3,
    });
  } finally {
    await nc.close();
  }
  const replicas: Replica[] = [];
  for (let i = 0; i < n; i++) {
    const url = cluster.urls[i % cluster.urls.length]!;
    const r = await startReplica(peers, String.fromCharCode(65 + i), {
      ...opts,
      natsUrl: url,
      streamReplicas: 3,
    });
    replicas.push(r);
  }
  for (const r of replicas) await r.ready();
  return replicas;
}
