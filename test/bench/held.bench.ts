/**
 * `npm run bench:held` (issue 14 acceptance 4): hookd's memory while it
 * holds BENCH_HELD (200,000) deliveries of a Stopped webhook. Publishes them
 * to its own nats-server, waits until hookd has stored them all
 * (`hookd_queue_depth{state="pending"}`), then samples RSS for
 * BENCH_HELD_WATCH_S (30) s more: it should stay flat. BENCH_BUILT=1 runs
 * what the image ships, the compiled build (tsc into .bench/dist), instead of
 * the sources through tsx; BENCH_NODE_ARGS: node options for hookd.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { makeDirs, spawnHookd } from '../helpers/hookd.ts';
import { startNats } from '../helpers/nats-server.ts';

const N = Number(process.env.BENCH_HELD ?? 200_000);
const WATCH_S = Number(process.env.BENCH_HELD_WATCH_S ?? 30);
const statusMiB = (pid: number, field: string) =>
  Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) /
  1024;
const rss = (pid: number) => statusMiB(pid, 'VmRSS');

const nats = await startNats();
const nc = await connect({ servers: nats.url });
await (await jetstreamManager(nc)).streams.add({ name: 'EVENTS', subjects: ['events.>'] });
const js = jetstream(nc);
const dirs = makeDirs({
  'held.yaml': `webhooks:\n  - identifier: held\n    url: http://127.0.0.1:9/never\n    state: Stopped\n    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n`,
});
const built = process.env.BENCH_BUILT === '1';
if (built)
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json', '--outDir', '.bench/dist'], { stdio: 'inherit' });
const hookd = await spawnHookd(
  dirs,
  { HOOKD_NATS_URL: nats.url },
  {
    ...(built ? { entry: ['.bench/dist/cli.js'] } : {}),
    nodeArgs: process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean),
  },
);
console.log(`hookd ${built ? 'built (.bench/dist)' : 'from source through tsx'}`);
const pid = hookd.child.pid!;
const pending = async () =>
  Number(
    /hookd_queue_depth\{state="pending"\} (\d+)/.exec(
      await (await fetch(`${hookd.url}/metrics`)).text(),
    )?.[1] ?? 0,
  );

const t0 = Date.now();
let batch: Promise<unknown>[] = [];
for (let i = 0; i < N; i++) {
  batch.push(
    js.publish(
      'events.held',
      JSON.stringify({ id: `held-${i}`, type: 'order.created', source: '/shop', data: { i, total: 10 } }),
    ),
  );
  if (batch.length >= 512) {
    await Promise.all(batch);
    batch = [];
  }
  if (i % 50_000 === 0) console.log(`published ${i}: hookd RSS ${rss(pid).toFixed(0)} MiB`);
}
await Promise.all(batch);
for (;;) {
  const n = await pending();
  if (n >= N) break;
  if (Date.now() - t0 > 600_000) throw new Error(`only ${n} of ${N} stored in 10 minutes`);
  await new Promise((r) => setTimeout(r, 1000));
}
console.log(`all ${N} held deliveries stored after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
const samples: number[] = [];
for (let s = 0; s < WATCH_S; s++) {
  samples.push(rss(pid));
  await new Promise((r) => setTimeout(r, 1000));
}
console.log(
  `hookd RSS holding ${N} deliveries, sampled every second for ${WATCH_S} s: ` +
    `${Math.min(...samples).toFixed(0)}–${Math.max(...samples).toFixed(0)} MiB (first ${samples[0]!.toFixed(0)}, last ${samples.at(-1)!.toFixed(0)})`,
);
console.log(
  `every 5 s: ${samples
    .filter((_, i) => i % 5 === 0)
    .map((s) => s.toFixed(0))
    .join(' ')} MiB`,
);
// Where the resident memory is: anonymous (V8 heaps of every thread, malloc) against file-backed
// (the node binary and libraries), and how much of it is the main thread's V8 heap.
const metrics = await (await fetch(`${hookd.url}/metrics`)).text();
const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? 0) / 2 ** 20;
console.log(
  `at the end: RSS ${rss(pid).toFixed(0)} MiB = anonymous ${statusMiB(pid, 'RssAnon').toFixed(0)} + ` +
    `file ${statusMiB(pid, 'RssFile').toFixed(0)} + shmem ${statusMiB(pid, 'RssShmem').toFixed(0)}; ` +
    `main thread V8 heap ${gauge('nodejs_heap_size_total_bytes').toFixed(0)} MiB ` +
    `(used ${gauge('nodejs_heap_size_used_bytes').toFixed(0)}), external ${gauge('nodejs_external_memory_bytes').toFixed(0)} MiB`,
);
const spaces = [...metrics.matchAll(/^nodejs_heap_space_size_total_bytes\{space="(\w+)"\} (\S+)$/gm)]
  .map((m) => `${m[1]} ${(Number(m[2]) / 2 ** 20).toFixed(0)}`)
  .join(', ');
console.log(`main thread V8 heap by space (MiB committed): ${spaces}`);
hookd.child.kill('SIGTERM');
await hookd.exited;
await nc.close();
await nats.stop();
dirs.cleanup();
