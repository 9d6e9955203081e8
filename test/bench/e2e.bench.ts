/**
 * `npm run bench`: publishes N events (default 20,000; `BENCH_EVENTS`) to a
 * real JetStream, lets a separate hookd process deliver them to a local HTTP
 * receiver, and prints deliveries/s and publish-to-2xx latency p50/p95/p99.
 */
import { createServer } from 'node:http';
import { cpus, totalmem } from 'node:os';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { makeDirs, spawnHookd } from '../helpers/hookd.ts';
import { startNats, waitForConsumer } from '../helpers/nats-server.ts';

const N = Number(process.env.BENCH_EVENTS ?? 20_000);
/** Events per second to publish at; unset: as fast as JetStream takes them (a burst that queues). */
const RATE = process.env.BENCH_RATE ? Number(process.env.BENCH_RATE) : undefined;
const IN_FLIGHT = 256;

const latencies: number[] = [];
let received = 0;
let firstAt = 0;
let lastAt = 0;
let done: () => void = () => {};
const allIn = new Promise<void>((r) => {
  done = r;
});
const receiver = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const now = Date.now();
    const sentAt = JSON.parse(Buffer.concat(chunks).toString()).data.sentAt as number;
    latencies.push(now - sentAt);
    received++;
    if (received === 1) firstAt = now;
    lastAt = now;
    res.writeHead(204).end();
    if (received === N) done();
  });
});
receiver.keepAliveTimeout = 60_000;
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
const port = (receiver.address() as { port: number }).port;

const nats = await startNats();
const dirs = makeDirs({
  'bench.yaml': `webhooks:\n  - identifier: bench\n    url: http://127.0.0.1:${port}/in\n    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n`,
});
const hookd = await spawnHookd(
  dirs,
  { HOOKD_NATS_URL: nats.url, HOOKD_LOG_LEVEL: 'warn', HOOKD_DELIVERY_PER_WEBHOOK_CONCURRENCY: '64' },
  {
    nodeArgs: process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [],
  },
);
await waitForConsumer(nats.url);
const nc = await connect({ servers: nats.url });
const js = jetstream(nc);
const t0 = Date.now();
const pending: Promise<unknown>[] = [];
for (let i = 0; i < N; i++) {
  if (RATE !== undefined) {
    const due = t0 + (i * 1000) / RATE;
    if (due > Date.now()) {
      await Promise.all(pending.splice(0));
      await new Promise((r) => setTimeout(r, due - Date.now()));
    }
  }
  const ev = {
    specversion: '1.0',
    id: `bench-${i}`,
    type: 'bench.created',
    source: '/bench',
    data: { i, sentAt: Date.now() },
  };
  pending.push(js.publish('events.bench', JSON.stringify(ev)));
  if (pending.length >= IN_FLIGHT) await Promise.all(pending.splice(0));
}
await Promise.all(pending);
const published = Date.now();
await allIn;
const end = lastAt;
latencies.sort((a, b) => a - b);
const pct = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
const rss = await fetch(`${hookd.url}/metrics`)
  .then((r) => r.text())
  .then((t) => Number(/process_resident_memory_bytes (\d+)/.exec(t)?.[1] ?? 0));

console.log(
  `machine: ${cpus().length} x ${cpus()[0]?.model}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
);
console.log(
  `events: ${N}${RATE ? ` published at ${RATE}/s` : ' published as fast as possible'}, one signed HTTP webhook, JetStream in, local receiver out`,
);
console.log(`publish: ${Math.round(N / ((published - t0) / 1000))} events/s`);
console.log(
  `delivered: ${received} in ${((end - t0) / 1000).toFixed(1)} s = ${Math.round(N / ((end - t0) / 1000))} deliveries/s (first 2xx after ${firstAt - t0} ms)`,
);
console.log(`publish-to-2xx latency: p50 ${pct(50)} ms, p95 ${pct(95)} ms, p99 ${pct(99)} ms`);
console.log(`hookd RSS at the end: ${Math.round(rss / 2 ** 20)} MiB`);

await nc.close();
hookd.child.kill('SIGTERM');
await hookd.exited;
await nats.stop();
receiver.close();
dirs.cleanup();
