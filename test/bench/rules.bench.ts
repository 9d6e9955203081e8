/**
 * Rule selection cost per event with 1,000, 10,000 and 100,000 webhooks.
 * Not a test: it prints a markdown table for the README.
 *
 *   node --import tsx test/bench/rules.bench.ts [--sizes 1000,10000,100000] [--rounds 7] [--events 50000]
 *
 * The mix scales with the number of webhooks N so that an event selects
 * about ten webhooks at every size (what "100k within 2x of 1k" is about):
 * N/30 resources with four actions each, N/20 tenants (identifiers).
 * - 38% `events` with 1-4 exact types, 14% a `resource.*` prefix,
 *   8% seed 004 `hooks` types;
 * - 20% seed 003 topics (resourceType, events, contentTypeId of 20, owner of 50);
 * - 12% seed 000 groups of three (balance condition, plan condition, fallback);
 * - 5% plain conditions without a group (per-webhook thresholds);
 * - 3% two exact types; 2% inactive; 1% with a window;
 * - plus three catch-alls (`*`, two `*.deleted`) that every event visits.
 * 30% of events name a tenant (`webhook`), the rest go to everybody; 20% lack
 * `contract`, so the seed 000 condition fails on them (counted as false).
 *
 * Reported: compile time and selection time as CPU time (this process's
 * user+system time, so neighbours on a shared machine do not inflate it),
 * wall time per event (median round of back-to-back calls, and p50/p99 of
 * single timed calls), heap held by the compiled rule set, webhooks selected
 * and conditions run per event, and the naive scan of every webhook
 * (`explain`) for comparison.
 */
import { cpus, loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { compileRuleSet, type RuleSet } from '../../src/rules/engine.ts';
import type { Webhook } from '../../src/rules/webhook-schema.ts';
import { normalizeWebhook, type WebhookInput, WebhookInputSchema } from '../../src/rules/webhook-schema.ts';
import { Sandbox } from '../../src/sandbox/index.ts';
import type { HookEvent } from '../../src/source/event.ts';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const SIZES = (arg('--sizes') ?? '1000,10000,100000').split(',').map(Number);
const ROUNDS = Number(arg('--rounds') ?? 7);
const EVENTS_PER_ROUND = Number(arg('--events') ?? 50_000);
const ACTIONS = ['created', 'updated', 'deleted', 'published'];
const NOW = Date.parse('2026-03-01T12:00:00Z');
const ATTRIBUTES = { contentTypeId: '/resource/sys/contentTypeId', owner: '/resource/sys/owner' };

/** mulberry32: the same webhooks and events on every run. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(xs: readonly T[]) => xs[int(xs.length)]! };
}

function build(input: WebhookInput & { id: string }): Webhook {
  return normalizeWebhook(WebhookInputSchema.parse(input), {
    id: input.id,
    source: 'api',
    resolveType: () => 'http',
  });
}

function mix(n: number): Webhook[] {
  const r = rng(n);
  const resources = Math.max(10, Math.floor(n / 30));
  const tenants = Math.max(5, Math.floor(n / 20));
  const res = () => `res${r.int(resources)}`;
  const type = () => `${res()}.${r.pick(ACTIONS)}`;
  const tenant = () => `tenant-${r.int(tenants)}`;
  const out: Webhook[] = [];
  const base = (extra: Partial<WebhookInput>) => {
    const id = `wh-${out.length}`;
    const p = r.next();
    const w = build({
      id,
      identifier: tenant(),
      url: 'https://receiver.example.com/{/id}',
      priority: r.int(5),
      active: p >= 0.02,
      ...(p >= 0.02 && p < 0.03 ? { activeFrom: '2026-01-01', activeUntil: '2026-06-01' } : {}),
      ...extra,
    } as WebhookInput & { id: string });
    out.push(w);
  };
  base({ identifier: 'audit', events: ['*'] });
  base({ identifier: 'cleanup', events: ['*.deleted'] });
  base({ identifier: 'cleanup-2', events: ['*.deleted'] });
  while (out.length < n) {
    const k = r.next();
    if (k < 0.38) base({ events: Array.from({ length: 1 + r.int(4) }, type) });
    else if (k < 0.52) base({ events: [`${res()}.*`] });
    else if (k < 0.6)
      base({
        hooks: Array.from({ length: 1 + r.int(3) }, () => ({
          type: type(),
          endpoint: 'https://r.example.com/h',
        })),
      });
    else if (k < 0.8)
      base({
        topics: Array.from({ length: 1 + r.int(3) }, () => ({
          resourceType: res(),
          event: [r.pick(ACTIONS), r.pick(ACTIONS)],
          contentTypeId: [`ct${r.int(20)}`],
          owner: `user${r.int(50)}`,
        })),
      });
    else if (k < 0.92) {
      const identifier = tenant();
      const events = [`${res()}.*`];
      const group = `grp-${out.length}`;
      base({
        identifier,
        events,
        groupIdentifier: group,
        priority: 1,
        groupCondition: `data['contract']['balance'] > ${r.int(3)}`,
      });
      base({
        identifier,
        events,
        groupIdentifier: group,
        priority: 2,
        groupCondition: 'has(data.plan) && data.plan == "gold"',
      });
      base({ identifier, events, groupIdentifier: group, priority: 3 });
    } else if (k < 0.97) {
      // Per-webhook thresholds: up to 150 distinct conditions.
      const min = 50 + r.int(Math.min(150, Math.max(2, n / 100)));
      base({ events: [type()], groupCondition: `has(data.amount) && data.amount > ${min}.0` });
    } else base({ events: [type(), type()] });
  }
  return out.slice(0, n);
}

function events(n: number, count: number): HookEvent[] {
  const r = rng(n + 1);
  const resources = Math.max(10, Math.floor(n / 30));
  const tenants = Math.max(5, Math.floor(n / 20));
  return Array.from({ length: count }, (_, i) => {
    const type = `res${r.int(resources)}.${r.pick(ACTIONS)}`;
    const data: Record<string, unknown> = { amount: r.int(200) };
    if (r.next() < 0.8) data.contract = { id: `C-${i}`, balance: r.int(10) - 4 };
    if (r.next() < 0.3) data.plan = r.pick(['gold', 'silver']);
    const body: Record<string, unknown> = {
      specversion: '1.0',
      id: `evt-${i}`,
      type,
      source: 'bench',
      resource: { sys: { contentTypeId: `ct${r.int(20)}`, owner: `user${r.int(50)}` } },
      data,
    };
    const extensions: Record<string, string> = {};
    if (r.next() < 0.3) {
      body.webhook = `tenant-${r.int(tenants)}`;
      extensions.webhook = body.webhook as string;
    }
    return {
      id: `evt-${i}`,
      type,
      subject: `events.${type}`,
      source: 'bench',
      body,
      data,
      extensions,
      receivedAt: 0,
    };
  });
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (us: number) => (us < 10 ? us.toFixed(2) : us.toFixed(1));
const cpuUs = (since: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(since);
  return d.user + d.system;
};

// A full GC between phases without --expose-gc, so heap growth is comparable.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Row {
  n: number;
  compileMs: number;
  heapMb: number;
  cpuUs: number;
  wallUs: number;
  p50Us: number;
  p99Us: number;
  matches: number;
  conditions: number;
  scanUs: number;
  scanned: number;
  largestBucket: number;
  /** selectBatch through the sandbox, per event. */
  batchCpuUs: number;
  batchWallUs: number;
}

async function bench(n: number): Promise<Row> {
  const webhooks = mix(n);
  const evs = events(n, 1000);
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const c0 = process.cpuUsage();
  const rules: RuleSet = compileRuleSet(webhooks, { attributes: ATTRIBUTES, now: () => NOW });
  const compileMs = cpuUs(c0) / 1000;
  gc();
  const heapMb = (process.memoryUsage().heapUsed - heap0) / 1e6;

  let matched = 0;
  for (const e of evs) matched += rules.select(e).length;
  // Conditions select runs (group members until a winner, plain filters): explain runs the same ones.
  const sampled = Math.max(20, Math.min(evs.length, Math.floor(5_000_000 / n)));
  let conditions = 0;
  for (const e of evs.slice(0, sampled)) {
    for (const x of rules.explain(e, NOW).entries) {
      const code = x.matched ? x.note?.code : x.reason?.code;
      if (code === 'condition-true' || code === 'condition-false' || code === 'condition-error') conditions++;
    }
  }
  // Warm-up, then rounds of back-to-back calls: CPU time (what the work costs
  // one core, whatever else runs on the machine) and wall time.
  let sink = 0;
  for (let i = 0; i < 20_000; i++) sink += rules.select(evs[i % evs.length]!).length;
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const c = process.cpuUsage();
    const w = process.hrtime.bigint();
    for (let i = 0; i < EVENTS_PER_ROUND; i++) sink += rules.select(evs[i % evs.length]!).length;
    wall.push(Number(process.hrtime.bigint() - w) / 1000 / EVENTS_PER_ROUND);
    cpu.push(cpuUs(c) / EVENTS_PER_ROUND);
  }
  // Single timed calls for the distribution (wall time, ~0.1 µs of timer overhead each).
  const single: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const e = evs[i % evs.length]!;
    const start = process.hrtime.bigint();
    sink += rules.select(e).length;
    single.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  single.sort((a, b) => a - b);
  // The naive scan of every webhook (explain), for comparison.
  const scanEvents = Math.max(20, Math.min(500, Math.floor(2_000_000 / n)));
  const s0 = process.cpuUsage();
  for (let i = 0; i < scanEvents; i++) sink += rules.explain(evs[i % evs.length]!, NOW).winners.length;
  const scanUs = cpuUs(s0) / scanEvents;
  // As the daemon selects: batches of 512 with the conditions evaluated in the sandbox's worker
  // (CPU time of the whole process, the worker included).
  const sandbox = new Sandbox({ timeoutMs: 50, maxOutputBytes: 1 << 20 });
  const viaSandbox = compileRuleSet(webhooks, {
    attributes: ATTRIBUTES,
    now: () => NOW,
    conditions: sandbox,
  });
  const batches = Array.from({ length: Math.ceil(evs.length / 512) }, (_, i) =>
    evs.slice(i * 512, i * 512 + 512),
  );
  for (const b of batches) await viaSandbox.selectBatch(b);
  const b0 = process.cpuUsage();
  const bw = process.hrtime.bigint();
  let batched = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const b of batches) {
      for (const r of await viaSandbox.selectBatch(b)) sink += r instanceof Error ? 0 : r.length;
      batched += b.length;
    }
  }
  const batchCpuUs = cpuUs(b0) / batched;
  const batchWallUs = Number(process.hrtime.bigint() - bw) / 1000 / batched;
  await sandbox.close();
  if (sink < 0) console.log(sink);
  const stats = rules.stats!();
  return {
    n,
    compileMs,
    heapMb,
    cpuUs: median(cpu),
    wallUs: median(wall),
    p50Us: percentile(single, 0.5),
    p99Us: percentile(single, 0.99),
    matches: matched / evs.length,
    conditions: conditions / sampled,
    scanUs,
    batchCpuUs,
    batchWallUs,
    scanned: stats.scanned,
    largestBucket: stats.largestBucket,
  };
}

if (process.argv[1]?.endsWith('rules.bench.ts')) await main();

export { events, mix };

async function main() {
  const rows: Row[] = [];
  for (const n of SIZES) {
    rows.push(await bench(n));
    process.stderr.write(`${n} webhooks done\n`);
  }
  const cpuList = cpus();
  console.log(
    `rule selection: node ${process.version}, ${cpuList.length} × ${cpuList[0]?.model.trim() ?? 'cpu'}, load average ${loadavg()[0]!.toFixed(1)}\n`,
  );
  console.log(
    '| webhooks | compile (CPU) | index heap | **select, CPU per event** | wall per event (mean, p50 / p99) | selected per event | conditions run per event | naive full scan, CPU per event | daemon: selectBatch of 512, conditions in the sandbox, CPU / wall per event |',
  );
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.n.toLocaleString('en')} | ${r.compileMs.toFixed(0)} ms | ${r.heapMb.toFixed(0)} MB | **${fmt(r.cpuUs)} µs** | ${fmt(r.wallUs)} µs (${fmt(r.p50Us)} / ${fmt(r.p99Us)}) | ${r.matches.toFixed(1)} | ${r.conditions.toFixed(1)} | ${fmt(r.scanUs)} µs | ${fmt(r.batchCpuUs)} / ${fmt(r.batchWallUs)} µs |`,
    );
  }
  if (rows.length > 1) {
    const first = rows[0]!;
    const last = rows[rows.length - 1]!;
    console.log(
      `\n${last.n.toLocaleString('en')} vs ${first.n.toLocaleString('en')} webhooks: ${(last.cpuUs / first.cpuUs).toFixed(2)}x the CPU time per event; scan list ${last.scanned} webhooks, largest bucket ${last.largestBucket}.`,
    );
  }
}
