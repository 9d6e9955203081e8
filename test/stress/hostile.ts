/**
 * Issue 13, acceptance 2: a hostile publisher. The worst events found by
 * the audit (nesting 30,000 levels deep, a condition whose cost grows with
 * the event, a backtracking regex in a JSONata template, `$pad` to 100 MB)
 * are mixed 1:10 with good ones, over NATS (its own nats-server on a free
 * port) and HTTP, into a hookd child process. Passes when every good event
 * is delivered to every webhook that wants it, `/healthz` p99 (sampled
 * every 20 ms throughout) is under 100 ms, and the process RSS (workers
 * included) stays under 400 MiB.
 *
 *   npm run stress:hostile -- [--good 2000] [--timeout 180]
 *
 * Prints one JSON report; exits 1 when an acceptance bound is missed.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { makeDirs, spawnHookd } from '../helpers/hookd.ts';
import { startNats, waitForConsumer } from '../helpers/nats-server.ts';
import { startReceiver } from '../helpers/receiver.ts';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const GOOD = arg('--good', 2000);
const TIMEOUT_S = arg('--timeout', 180);
const HTTP_SHARE = 0.3;
/** One hostile event after every MIX good ones (0: none, for a baseline). */
const MIX = arg('--mix', 10);
const KINDS_ARG = process.argv.includes('--kinds') ? process.argv[process.argv.indexOf('--kinds') + 1]! : '';

const rules = (url: string) => `webhooks:
  - identifier: sink
    url: ${url}/sink
    events: [good.*]
  - identifier: with-condition
    url: ${url}/cond
    events: [good.*]
    groupCondition: "data.n >= 0 && attributes.type == 'good.x'"
  - identifier: with-jsonata
    url: ${url}/jsonata
    events: [good.*]
    body: {jsonata: '{"n": data.n, "twice": data.n * 2}'}
  - identifier: costly
    url: ${url}/costly
    events: [evil.cost]
    groupCondition: "data.l.all(x, size(data.s) > 0)"
  - identifier: regex
    url: ${url}/regex
    events: [evil.regex]
    body: {jsonata: "$match(data.s, /(a+)+$/)"}
  - identifier: pad
    url: ${url}/pad
    events: [evil.pad]
    body: {jsonata: "$pad('', 100000000)"}
`;
const GOOD_ROUTES = ['/sink', '/cond', '/jsonata'];

const good = (n: number) => JSON.stringify({ id: `good-${n}`, type: 'good.x', data: { n } });
type Kind = 'deep' | 'cost' | 'regex' | 'pad';
const EVIL_KINDS: Kind[] = KINDS_ARG ? (KINDS_ARG.split(',') as Kind[]) : ['deep', 'cost', 'regex', 'pad'];
const evil = (n: number): string => {
  const kind = EVIL_KINDS[n % EVIL_KINDS.length]!;
  const id = `evil-${n}`;
  if (kind === 'deep')
    return `{"id":"${id}","type":"good.x","data":${'{"a":'.repeat(30_000)}1${'}'.repeat(30_000)}}`;
  if (kind === 'cost')
    return JSON.stringify({
      id,
      type: 'evil.cost',
      data: { l: new Array(2000).fill(0), s: 'a'.repeat(200_000) },
    });
  if (kind === 'regex') return JSON.stringify({ id, type: 'evil.regex', data: { s: `${'a'.repeat(27)}b` } });
  return JSON.stringify({ id, type: 'evil.pad' });
};

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function main(): Promise<number> {
  const [nats, receiver] = await Promise.all([startNats(), startReceiver()]);
  const dirs = makeDirs({ 'hostile.yaml': rules(receiver.url) });
  const hookd = await spawnHookd(dirs, { HOOKD_NATS_URL: nats.url });
  const pid = hookd.child.pid!;
  const healthz: number[] = [];
  const slowest: { ms: number; atS: number }[] = [];
  const rss: number[] = [];
  const started = performance.now();
  // The sampler has its own thread: the publisher's work must not delay it and pass for hookd's.
  const sampler = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     let on = true;
     parentPort.on('message', () => { on = false; });
     (async () => {
       while (on) {
         const t0 = performance.now();
         try {
           const r = await fetch(workerData.url + '/healthz', { signal: AbortSignal.timeout(30000) });
           await r.arrayBuffer();
         } catch {} // unanswered: counted with the time it took
         parentPort.postMessage([t0 + performance.timeOrigin, performance.now() - t0]);
         await new Promise((r) => setTimeout(r, 20));
       }
       parentPort.postMessage('done');
     })();`,
    { eval: true, workerData: { url: hookd.url } },
  );
  const samplerDone = new Promise<void>((resolve) =>
    sampler.on('message', (m: [number, number] | 'done') => {
      if (m === 'done') return resolve();
      const [at, ms] = m;
      healthz.push(ms);
      if (ms > 50)
        slowest.push({
          ms: Math.round(ms),
          atS: +((at - performance.timeOrigin - started) / 1000).toFixed(2),
        });
    }),
  );
  const stopSampling = async () => {
    sampler.postMessage('stop');
    await samplerDone;
    await sampler.terminate();
  };
  const rssTimer = setInterval(() => rss.push(rssMiB(pid)), 100);
  try {
    await waitForConsumer(nats.url);
    const nc = await connect({ servers: nats.url });
    const js = jetstream(nc);
    const sent = { nats: { good: 0, evil: 0 }, http: { good: 0, evil: 0 } };
    // A failed request is counted by what went wrong, not thrown: the report says what hookd did.
    const httpPost = async (body: string): Promise<string> => {
      try {
        const r = await fetch(`${hookd.url}/v1/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(60_000),
        });
        await r.arrayBuffer();
        return String(r.status);
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } };
        return e.cause?.code ?? e.name;
      }
    };
    const httpStatuses: Record<string, number> = {};
    const inflight = new Set<Promise<unknown>>();
    const send = async (p: Promise<unknown>) => {
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
      if (inflight.size >= 64) await Promise.race(inflight);
    };
    let evilN = 0;
    for (let n = 0; n < GOOD; n++) {
      const viaHttp = n % 10 < HTTP_SHARE * 10;
      if (viaHttp) {
        sent.http.good++;
        await send(
          httpPost(good(n)).then((s) => (httpStatuses[`good ${s}`] = (httpStatuses[`good ${s}`] ?? 0) + 1)),
        );
      } else {
        sent.nats.good++;
        await send(js.publish(`events.good.${n}`, good(n)));
      }
      if (MIX > 0 && n % MIX === MIX - 1) {
        // One hostile event after every MIX good ones; each kind goes both ways in turn.
        const body = evil(evilN);
        if (Math.floor(evilN / EVIL_KINDS.length) % 2 === 0) {
          sent.nats.evil++;
          await send(js.publish(`events.evil.${evilN}`, body));
        } else {
          sent.http.evil++;
          await send(
            httpPost(body).then((s) => (httpStatuses[`evil ${s}`] = (httpStatuses[`evil ${s}`] ?? 0) + 1)),
          );
        }
        evilN++;
      }
    }
    await Promise.all(inflight);
    await nc.close();
    const publishedS = (performance.now() - started) / 1000;

    const expected = GOOD * GOOD_ROUTES.length;
    const goodKey = (route: string, body: string) => {
      const b = JSON.parse(body) as { n?: number; data?: { n?: number } };
      return `${route} ${b.data?.n ?? b.n}`;
    };
    const deliveredKeys = () =>
      new Set(
        receiver.requests.filter((r) => GOOD_ROUTES.includes(r.url)).map((r) => goodKey(r.url, r.body)),
      );
    const deliveredGood = () => deliveredKeys().size;
    const missing = () => {
      const got = deliveredKeys();
      const out: string[] = [];
      for (let n = 0; n < GOOD && out.length < 20; n++)
        for (const route of GOOD_ROUTES) if (!got.has(`${route} ${n}`)) out.push(`${route} ${n}`);
      return out;
    };
    const deadline = Date.now() + TIMEOUT_S * 1000;
    while (deliveredGood() < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const deliveredS = (performance.now() - started) / 1000;
    await stopSampling();
    clearInterval(rssTimer);

    const metrics = await fetch(`${hookd.url}/metrics`)
      .then((r) => r.text())
      .catch((err: Error) => `# metrics unavailable: ${err.message}`);
    const metric = (re: RegExp) => [...metrics.matchAll(re)].reduce((sum, m) => sum + Number(m[1]), 0);
    const sorted = [...healthz].sort((a, b) => a - b);
    const report = {
      sent,
      httpStatuses,
      goodDeliveries: { expected, delivered: deliveredGood(), missing: missing() },
      // Why a good event was not delivered, when one was not: hookd's warnings about the good webhooks.
      goodWebhookWarnings: hookd
        .output()
        .split('\n')
        .filter((l) => /"webhook":"(sink|with-condition|with-jsonata)"/.test(l))
        .slice(0, 5),
      hostileDeliveries: receiver.requests.filter((r) => !GOOD_ROUTES.includes(r.url)).map((r) => r.url),
      rejected: metric(/^hookd_events_rejected_total\{reason="too_deep"\} (\d+)/gm),
      conditionErrors: metric(/^hookd_condition_errors_total\{webhook="costly"\} (\d+)/gm),
      renderErrors: {
        regex: metric(/^hookd_render_errors_total\{webhook="regex"\} (\d+)/gm),
        pad: metric(/^hookd_render_errors_total\{webhook="pad"\} (\d+)/gm),
      },
      healthz: {
        samples: sorted.length,
        p50Ms: +percentile(sorted, 50).toFixed(1),
        p99Ms: +percentile(sorted, 99).toFixed(1),
        maxMs: +percentile(sorted, 100).toFixed(1),
        over50Ms: slowest.slice(0, 20),
      },
      // hookd's own event-loop delay over the run (prom-client's monitorEventLoopDelay), not affected by the sampler's scheduling.
      eventLoopDelay: {
        p99Ms: +(metric(/^nodejs_eventloop_lag_p99_seconds (\S+)/gm) * 1000).toFixed(1),
        maxMs: +(metric(/^nodejs_eventloop_lag_max_seconds (\S+)/gm) * 1000).toFixed(1),
      },
      loadAverage: loadavg().map((l) => +l.toFixed(1)),
      rssMiB: { max: Math.round(Math.max(...rss)), last: Math.round(rss.at(-1) ?? Number.NaN) },
      seconds: { published: +publishedS.toFixed(1), allGoodDelivered: +deliveredS.toFixed(1) },
    };
    const ok =
      report.goodDeliveries.delivered === expected &&
      report.hostileDeliveries.length === 0 &&
      report.healthz.p99Ms < 100 &&
      report.rssMiB.max < 400;
    console.log(JSON.stringify({ ok, ...report }, null, 2));
    return ok ? 0 : 1;
  } finally {
    clearInterval(rssTimer);
    await sampler.terminate();
    hookd.child.kill('SIGTERM');
    await hookd.exited;
    await Promise.all([receiver.close(), nats.stop()]);
    dirs.cleanup();
  }
}

process.exitCode = await main();
