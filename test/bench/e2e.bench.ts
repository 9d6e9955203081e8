/**
 * `npm run bench`: hookd beside the bare pipe (test/bench/bare-pipe.ts:
 * JetStream pull → undici POST with an HMAC signature → ack, 64 in flight,
 * no rules, no store), in the same run, on one nats-server of its own (free
 * ports) and one local receiver. Each round, for each of the two:
 *
 * - drain: BENCH_EVENTS (20,000) events are in the stream before it starts;
 *   deliveries/s from the first 2xx to the last;
 * - steady: 500/s and 1,000/s for BENCH_STEADY_S (20) s each; publish → 2xx
 *   latency p50/p99 of every event but those of the first BENCH_WARMUP_S (2) s;
 * - CPU per delivery (user + system, over the drain; the nats-server's
 *   too), write syscalls per delivery, bytes written per
 *   delivery (the process's storage writes over the drain: hookd's WAL and
 *   database; the pipe writes nothing) and peak RSS.
 *
 * Prints every round and the medians of BENCH_ROUNDS (3) rounds, with the
 * ratio hookd / pipe. Compare only within one run: the machine may be shared.
 *
 * hookd runs with each backend (issue 15): `sqlite` (one process, its own
 * file), `jetstream` with 1 replica and with 2 replicas (started together on
 * the same nats-server; their CPU, writes and RSS are summed). The store of
 * the jetstream backend is the nats-server, so its writes per delivery are
 * reported for every system too. BENCH_SYSTEMS picks some (default
 * `pipe,sqlite,jetstream1,jetstream2`). BENCH_NODE_ARGS: node options for
 * hookd's processes (e.g. `--max-semi-space-size=8`); BENCH_PROFILE: a
 * directory for their CPU profiles. BENCH_BUILT=1 runs what the image ships,
 * the compiled build (tsc into .bench/dist), instead of the sources through
 * tsx (what `npm start` runs in a checkout that was not built).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNats } from '../helpers/nats-server.ts';
import { makeReplica, type Replica } from '../helpers/replicas.ts';

const N = Number(process.env.BENCH_EVENTS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const STEADY_S = Number(process.env.BENCH_STEADY_S ?? 20);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 2);
const RATES = [500, 1000];
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ROOT = join(import.meta.dirname, '../..');
const BUILT = process.env.BENCH_BUILT === '1';
if (BUILT)
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json', '--outDir', '.bench/dist'], {
    cwd: ROOT,
    stdio: 'inherit',
  });

// ---- the receiver: counts 2xx and measures publish → arrival latency ----
let received = 0;
let firstAt = 0;
let lastAt = 0;
let latencies: number[] = [];
let countFrom = Number.POSITIVE_INFINITY;
let onReceived: () => void = () => {};
const receiver = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const now = Date.now();
    const sentAt = (JSON.parse(Buffer.concat(chunks).toString()) as { data: { sentAt: number } }).data.sentAt;
    if (sentAt >= countFrom) latencies.push(now - sentAt);
    received++;
    if (received === 1) firstAt = now;
    lastAt = now;
    res.writeHead(204).end();
    onReceived();
  });
});
receiver.keepAliveTimeout = 60_000;
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
const target = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/in`;

const nats = await startNats();
const nc = await connect({ servers: nats.url });
const jsm = await jetstreamManager(nc);
const js = jetstream(nc);

// ---- a process's counters from /proc ----
const TICK_MS = 1000 / 100; // USER_HZ
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
}
function writtenBytes(pid: number): number {
  return Number(/write_bytes: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
}
/** Write syscalls (each small write to a loopback socket costs both ends a wakeup). */
function writeCalls(pid: number): number {
  return Number(/syscw: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
}
function rssBytes(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}

function event(i: number) {
  return JSON.stringify({
    specversion: '1.0',
    id: `bench-${i}-${Math.random().toString(36).slice(2)}`,
    type: 'bench.created',
    source: '/bench',
    data: { i, sentAt: Date.now(), note: 'a small order event, as a webhook would carry it' },
  });
}

async function publishBurst(subject: string, n: number): Promise<void> {
  let pending: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    pending.push(js.publish(subject, event(i)));
    if (pending.length >= 256) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
}

async function publishAt(subject: string, rate: number, seconds: number): Promise<number> {
  const t0 = Date.now();
  const total = rate * seconds;
  let sent = 0;
  const inFlight: Promise<unknown>[] = [];
  while (sent < total) {
    const due = Math.min(total, Math.floor(((Date.now() - t0) * rate) / 1000));
    while (sent < due) inFlight.push(js.publish(subject, event(sent++)));
    await new Promise((r) => setTimeout(r, 2));
  }
  await Promise.all(inFlight);
  return total;
}

function until(count: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    onReceived = () => {
      if (received >= count) {
        clearTimeout(timer);
        onReceived = () => {};
        resolve(true);
      }
    };
    onReceived();
  });
}

interface Running {
  pids: number[];
  stop(): Promise<void>;
}

interface System {
  name: string;
  stream: string;
  subject: string;
  start(): Promise<Running>;
}

const pipe: System = {
  name: 'bare pipe',
  stream: 'PIPE',
  subject: 'pipe.bench',
  async start() {
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'test/bench/bare-pipe.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        PIPE_NATS_URL: nats.url,
        PIPE_STREAM: 'PIPE',
        PIPE_CONSUMER: 'pipe',
        PIPE_TARGET: target,
        PIPE_SECRET: SECRET,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`the bare pipe exited with ${code}`)));
    });
    return {
      pids: [child.pid!],
      stop: async () => {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      },
    };
  },
};

/** hookd with `backend`, `replicas` processes started together; the default configuration otherwise. */
function hookd(backend: 'sqlite' | 'jetstream', replicas: number): System {
  return {
    name: backend === 'sqlite' ? 'hookd sqlite' : `hookd jetstream x${replicas}`,
    stream: 'EVENTS',
    subject: 'events.bench',
    async start() {
      // Each round starts from nothing: hookd's streams and buckets of an earlier round go.
      for (const name of await jsm.streams.names().next())
        if (name.startsWith('HOOKD_') || name.startsWith('KV_HOOKD_')) await jsm.streams.delete(name);
      const started: Replica[] = [];
      const stop = async () => {
        await Promise.all(started.map((r) => r.stop(30_000)));
        for (const r of started) r.dirs.cleanup();
      };
      try {
        await Promise.all(
          Array.from({ length: replicas }, async (_, i) => {
            const r = makeReplica(String.fromCharCode(65 + i), {
              natsUrl: nats.url,
              backend,
              rules: {
                'bench.yaml': `webhooks:\n  - identifier: bench\n    url: ${target}\n    secret: ${SECRET}\n`,
              },
              logLevel: 'info',
              ...(BUILT ? { entry: ['.bench/dist/cli.js'] } : {}),
            });
            started.push(r);
            await r.start([
              ...(process.env.BENCH_PROFILE
                ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
                : []),
              ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
            ]);
          }),
        );
      } catch (err) {
        await stop();
        throw err;
      }
      return { pids: started.map((r) => r.pid!), stop };
    },
  };
}

const SYSTEMS: Record<string, System> = {
  pipe,
  sqlite: hookd('sqlite', 1),
  jetstream1: hookd('jetstream', 1),
  jetstream2: hookd('jetstream', 2),
};
const chosen = (process.env.BENCH_SYSTEMS ?? 'pipe,sqlite,jetstream1,jetstream2').split(',').map((k) => {
  const sys = SYSTEMS[k.trim()];
  if (!sys) throw new Error(`BENCH_SYSTEMS: unknown "${k}" (known: ${Object.keys(SYSTEMS).join(', ')})`);
  return sys;
});
if (chosen[0] !== pipe) chosen.unshift(pipe);

interface Result {
  drain: number;
  p50: Record<number, number>;
  p99: Record<number, number>;
  cpuMsPerDelivery: number;
  bytesPerDelivery: number;
  /** The nats-server's storage writes per delivery over the drain (the jetstream backend's store). */
  natsBytesPerDelivery: number;
  /** The nats-server's CPU per delivery over the drain (it shares the machine's cores with the system). */
  natsCpuMsPerDelivery: number;
  /** Write syscalls of the system's processes per delivery over the drain (sockets and files). */
  writesPerDelivery: number;
  peakRssMiB: number;
}

const sum = (pids: number[], f: (pid: number) => number) => pids.reduce((a, pid) => a + f(pid), 0);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

async function run(system: System): Promise<Result> {
  await jsm.streams.delete(system.stream).catch(() => {});
  await jsm.streams.add({ name: system.stream, subjects: [`${system.subject.split('.')[0]}.>`] });
  await publishBurst(system.subject, N);
  received = 0;
  latencies = [];
  countFrom = Number.POSITIVE_INFINITY;
  const running = await system.start();
  const natsPid = nats.pid()!;
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, sum(running.pids, rssBytes));
  }, 250);
  // CPU and writes are counted from the first delivery: startup (compiling TypeScript) is not the pipe's work.
  await until(1, 120_000);
  const cpu0 = sum(running.pids, cpuMs);
  const w0 = sum(running.pids, writtenBytes);
  const n0 = writtenBytes(natsPid);
  const nc0 = cpuMs(natsPid);
  const sw0 = sum(running.pids, writeCalls);
  const drained = await until(N, 300_000);
  if (!drained) throw new Error(`${system.name}: only ${received} of ${N} delivered`);
  const drain = (N - 1) / ((lastAt - firstAt) / 1000);
  const cpuMsPerDelivery = (sum(running.pids, cpuMs) - cpu0) / (N - 1);
  const bytesPerDelivery = (sum(running.pids, writtenBytes) - w0) / (N - 1);
  const natsBytesPerDelivery = (writtenBytes(natsPid) - n0) / (N - 1);
  const natsCpuMsPerDelivery = (cpuMs(natsPid) - nc0) / (N - 1);
  const writesPerDelivery = (sum(running.pids, writeCalls) - sw0) / (N - 1);
  const result: Result = {
    drain,
    p50: {},
    p99: {},
    cpuMsPerDelivery,
    bytesPerDelivery,
    natsBytesPerDelivery,
    natsCpuMsPerDelivery,
    writesPerDelivery,
    peakRssMiB: 0,
  };
  for (const rate of RATES) {
    received = 0;
    latencies = [];
    countFrom = Date.now() + WARMUP_S * 1000;
    const total = await publishAt(system.subject, rate, STEADY_S);
    if (!(await until(total, 120_000)))
      throw new Error(`${system.name}: ${received} of ${total} at ${rate}/s`);
    result.p50[rate] = pct(latencies, 50);
    result.p99[rate] = pct(latencies, 99);
  }
  clearInterval(sampler);
  result.peakRssMiB = Math.max(peak, sum(running.pids, rssBytes)) / 2 ** 20;
  await running.stop();
  return result;
}

const fmt = (r: Result) =>
  `drain ${Math.round(r.drain)}/s; ${RATES.map((x) => `${x}/s p50 ${r.p50[x]} ms p99 ${r.p99[x]} ms`).join('; ')}; ` +
  `CPU ${r.cpuMsPerDelivery.toFixed(3)} ms/delivery (nats-server ${r.natsCpuMsPerDelivery.toFixed(3)} ms); ` +
  `${r.writesPerDelivery.toFixed(1)} write calls/delivery; written ${Math.round(r.bytesPerDelivery)} B/delivery ` +
  `(nats-server ${Math.round(r.natsBytesPerDelivery)} B); peak RSS ${Math.round(r.peakRssMiB)} MiB`;

console.log(
  `machine: ${cpus().length} x ${cpus()[0]?.model}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; ` +
    `${N} events drained, ${RATES.join(' and ')}/s for ${STEADY_S} s (first ${WARMUP_S} s not counted), ${ROUNDS} rounds; ` +
    `systems: ${chosen.map((c) => c.name).join(', ')}; hookd ${BUILT ? 'built (.bench/dist)' : 'from source through tsx'}`,
);
const rounds: Map<System, Result>[] = [];
for (let k = 0; k < ROUNDS; k++) {
  const round = new Map<System, Result>();
  for (const sys of chosen) {
    const r = await run(sys);
    round.set(sys, r);
    const ratio = sys === pipe ? '' : `  (drain ratio ${(r.drain / round.get(pipe)!.drain).toFixed(2)}x)`;
    console.log(`round ${k + 1} ${sys.name.padEnd(20)} ${fmt(r)}${ratio}`);
  }
  rounds.push(round);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const m = (sys: System, f: (r: Result) => number) => median(rounds.map((r) => f(r.get(sys)!)));
const ratios = (sys: System) => rounds.map((r) => r.get(sys)!.drain / r.get(pipe)!.drain);
const rows: [string, (r: Result) => number, (v: number) => string][] = [
  [`drain of ${N} events (deliveries/s)`, (r) => r.drain, (v) => String(Math.round(v))],
  ...RATES.flatMap((x): [string, (r: Result) => number, (v: number) => string][] => [
    [`${x}/s for ${STEADY_S} s: p50 (ms)`, (r) => r.p50[x]!, String],
    [`${x}/s for ${STEADY_S} s: p99 (ms)`, (r) => r.p99[x]!, String],
  ]),
  [
    'CPU per delivery (ms, drain, all processes of the system)',
    (r) => r.cpuMsPerDelivery,
    (v) => v.toFixed(3),
  ],
  ['CPU per delivery (ms, drain, the nats-server)', (r) => r.natsCpuMsPerDelivery, (v) => v.toFixed(3)],
  [
    'write syscalls per delivery (drain, all processes of the system)',
    (r) => r.writesPerDelivery,
    (v) => v.toFixed(1),
  ],
  ['bytes written per delivery (drain, hookd)', (r) => r.bytesPerDelivery, (v) => String(Math.round(v))],
  [
    'bytes written per delivery (drain, nats-server)',
    (r) => r.natsBytesPerDelivery,
    (v) => String(Math.round(v)),
  ],
  ['peak RSS (MiB, summed over replicas)', (r) => r.peakRssMiB, (v) => String(Math.round(v))],
];
console.log(`\nmedians of ${ROUNDS} rounds; drain ratio to the bare pipe of the same round:`);
for (const sys of chosen.slice(1))
  console.log(
    `  ${sys.name}: ${ratios(sys)
      .map((r) => r.toFixed(2))
      .join(', ')}; median ${median(ratios(sys)).toFixed(2)}x`,
  );
console.log(`\n| | ${chosen.map((c) => c.name).join(' | ')} |`);
console.log(`|---|${chosen.map(() => '---|').join('')}`);
for (const [label, f, show] of rows)
  console.log(`| ${label} | ${chosen.map((c) => show(m(c, f))).join(' | ')} |`);
console.log(
  `| drain / bare pipe (median of the rounds' ratios) | 1 | ${chosen
    .slice(1)
    .map((c) => `${median(ratios(c)).toFixed(2)}x`)
    .join(' | ')} |`,
);

await nc.close();
await nats.stop();
receiver.close();
