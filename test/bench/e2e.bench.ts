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
 * - CPU per delivery (user + system, over the drain), bytes written per
 *   delivery (the process's storage writes over the drain: hookd's WAL and
 *   database; the pipe writes nothing) and peak RSS.
 *
 * Prints every round and the medians of BENCH_ROUNDS (3) rounds, with the
 * ratio hookd / pipe. Compare only within one run: the machine may be shared.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { makeDirs, spawnHookd } from '../helpers/hookd.ts';
import { startNats } from '../helpers/nats-server.ts';

const N = Number(process.env.BENCH_EVENTS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const STEADY_S = Number(process.env.BENCH_STEADY_S ?? 20);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 2);
const RATES = [500, 1000];
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ROOT = join(import.meta.dirname, '../..');

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
  pid: number;
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
      pid: child.pid!,
      stop: async () => {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      },
    };
  },
};

const hookd: System = {
  name: 'hookd',
  stream: 'EVENTS',
  subject: 'events.bench',
  async start() {
    const dirs = makeDirs({
      'bench.yaml': `webhooks:\n  - identifier: bench\n    url: ${target}\n    secret: ${SECRET}\n`,
    });
    // The default configuration, but for where NATS is and where the store goes.
    const h = await spawnHookd(
      dirs,
      { HOOKD_NATS_URL: nats.url, HOOKD_LOG_LEVEL: 'info' },
      {
        nodeArgs: process.env.BENCH_PROFILE
          ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
          : [],
      },
    );
    return {
      pid: h.child.pid!,
      stop: async () => {
        h.child.kill('SIGTERM');
        await h.exited;
        dirs.cleanup();
      },
    };
  },
};

interface Result {
  drain: number;
  p50: Record<number, number>;
  p99: Record<number, number>;
  cpuMsPerDelivery: number;
  bytesPerDelivery: number;
  peakRssMiB: number;
}

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
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssBytes(running.pid));
  }, 250);
  // CPU and writes are counted from the first delivery: startup (compiling TypeScript) is not the pipe's work.
  await until(1, 120_000);
  const cpu0 = cpuMs(running.pid);
  const w0 = writtenBytes(running.pid);
  const drained = await until(N, 300_000);
  if (!drained) throw new Error(`${system.name}: only ${received} of ${N} delivered`);
  const drain = (N - 1) / ((lastAt - firstAt) / 1000);
  const cpuMsPerDelivery = (cpuMs(running.pid) - cpu0) / (N - 1);
  const bytesPerDelivery = (writtenBytes(running.pid) - w0) / (N - 1);
  const result: Result = { drain, p50: {}, p99: {}, cpuMsPerDelivery, bytesPerDelivery, peakRssMiB: 0 };
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
  result.peakRssMiB = Math.max(peak, rssBytes(running.pid)) / 2 ** 20;
  await running.stop();
  return result;
}

const fmt = (r: Result) =>
  `drain ${Math.round(r.drain)}/s; ${RATES.map((x) => `${x}/s p50 ${r.p50[x]} ms p99 ${r.p99[x]} ms`).join('; ')}; ` +
  `CPU ${r.cpuMsPerDelivery.toFixed(3)} ms/delivery; written ${Math.round(r.bytesPerDelivery)} B/delivery; peak RSS ${Math.round(r.peakRssMiB)} MiB`;

console.log(
  `machine: ${cpus().length} x ${cpus()[0]?.model}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; ` +
    `${N} events drained, ${RATES.join(' and ')}/s for ${STEADY_S} s (first ${WARMUP_S} s not counted), ${ROUNDS} rounds`,
);
const rounds: { pipe: Result; hookd: Result }[] = [];
for (let k = 0; k < ROUNDS; k++) {
  const p = await run(pipe);
  const h = await run(hookd);
  rounds.push({ pipe: p, hookd: h });
  console.log(`round ${k + 1} bare pipe: ${fmt(p)}`);
  console.log(`round ${k + 1} hookd:     ${fmt(h)}  (drain ratio ${(h.drain / p.drain).toFixed(2)}x)`);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const m = (side: 'pipe' | 'hookd', f: (r: Result) => number) => median(rounds.map((r) => f(r[side])));
const ratios = rounds.map((r) => r.hookd.drain / r.pipe.drain);
const rows: [string, (r: Result) => number, (v: number) => string][] = [
  [`drain of ${N} events (deliveries/s)`, (r) => r.drain, (v) => String(Math.round(v))],
  ...RATES.flatMap((x): [string, (r: Result) => number, (v: number) => string][] => [
    [`${x}/s for ${STEADY_S} s: p50 (ms)`, (r) => r.p50[x]!, String],
    [`${x}/s for ${STEADY_S} s: p99 (ms)`, (r) => r.p99[x]!, String],
  ]),
  ['CPU per delivery (ms, drain)', (r) => r.cpuMsPerDelivery, (v) => v.toFixed(3)],
  ['bytes written per delivery (drain)', (r) => r.bytesPerDelivery, (v) => String(Math.round(v))],
  ['peak RSS (MiB)', (r) => r.peakRssMiB, (v) => String(Math.round(v))],
];
console.log(
  `\nmedians of ${ROUNDS} rounds (drain ratio hookd/pipe per round: ${ratios.map((r) => r.toFixed(2)).join(', ')}; median ${median(ratios).toFixed(2)}x)\n`,
);
console.log('| | bare pipe | hookd |');
console.log('|---|---|---|');
for (const [label, f, show] of rows)
  console.log(`| ${label} | ${show(m('pipe', f))} | ${show(m('hookd', f))} |`);

await nc.close();
await nats.stop();
receiver.close();
