/**
 * `npm run chaos` (issue 6, acceptance 4): publishes events to JetStream for
 * five webhooks while their receivers flap (random 500s, answers slower
 * than hookd's delivery timeout, a long outage of one receiver), hookd is
 * killed with SIGKILL and restarted, and nats-server is restarted. At the
 * end it prints one summary line on stdout and exits non-zero if any
 * expected (event, webhook) pair never arrived, or if the requests for one
 * pair carried different webhook-ids. Progress goes to stderr.
 *
 * "Delivered" is what the receivers answered 2xx to and fully sent back;
 * a request hookd gave up on (timeout, kill) does not count. hookd runs as
 * a child process (`hookd run`), nats-server as a real `nats-server -js`.
 *
 * Settings (environment): CHAOS_EVENTS (20000), CHAOS_RATE (events/s, 500),
 * CHAOS_KILLS (3), CHAOS_NATS_RESTARTS (1), CHAOS_NATS_DOWN_MS (2000),
 * CHAOS_OUTAGE_MS (30000), CHAOS_FAIL_RATE (0.1), CHAOS_SLOW_RATE (0.01),
 * CHAOS_TIMEOUT_MS (hookd's delivery timeout, 2000), CHAOS_DEADLINE_MS
 * (480000), CHAOS_SEED (random; printed), CHAOS_LOG_LEVEL (hookd's, warn).
 *
 * `--backend jetstream --replicas 2` (or CHAOS_BACKEND, CHAOS_REPLICAS; issue
 * 15 acceptance 4): the replicas run with `store.backend: jetstream` on the
 * same nats-server, and the kills hit replica A again and again (restarted
 * each time) while the others go on. The default is `--backend sqlite` with
 * one hookd, restarted on its own file.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Database } from '../../src/outbox/sqlite/driver.ts';
import { streamMessages, tracePairs } from '../helpers/cluster-checks.ts';
import { type NatsServer, startNats, waitForConsumer } from '../helpers/nats-server.ts';
import { makeReplica, parseMetrics, type Replica } from '../helpers/replicas.ts';

function setting(name: string, dflt: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name}: expected a non-negative number, got "${raw}"`);
  return v;
}

/** `--name value` from the command line, else the environment variable, else the default. */
function arg(name: string, envName: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1]!;
  return process.env[envName] || dflt;
}

const BACKEND = arg('backend', 'CHAOS_BACKEND', 'sqlite');
if (BACKEND !== 'sqlite' && BACKEND !== 'jetstream')
  throw new Error(`--backend: expected sqlite or jetstream, got "${BACKEND}"`);
const REPLICAS = Number(arg('replicas', 'CHAOS_REPLICAS', BACKEND === 'jetstream' ? '2' : '1'));
if (!Number.isInteger(REPLICAS) || REPLICAS < 1 || (BACKEND === 'sqlite' && REPLICAS !== 1))
  throw new Error(
    `--replicas: expected 1 with sqlite or a whole number >= 1 with jetstream, got ${REPLICAS}`,
  );

/** hookd's log level in the run (CHAOS_LOG_LEVEL): `info` or `debug` to trace a loss through a kept log. */
const LOG_LEVEL = process.env.CHAOS_LOG_LEVEL || 'warn';

const S = {
  backend: BACKEND as 'sqlite' | 'jetstream',
  replicas: REPLICAS,
  events: setting('CHAOS_EVENTS', 20_000),
  rate: setting('CHAOS_RATE', 500),
  kills: setting('CHAOS_KILLS', 3),
  natsRestarts: setting('CHAOS_NATS_RESTARTS', 1),
  natsDownMs: setting('CHAOS_NATS_DOWN_MS', 2000),
  outageMs: setting('CHAOS_OUTAGE_MS', 30_000),
  failRate: setting('CHAOS_FAIL_RATE', 0.1),
  slowRate: setting('CHAOS_SLOW_RATE', 0.01),
  timeoutMs: setting('CHAOS_TIMEOUT_MS', 2000),
  deadlineMs: setting('CHAOS_DEADLINE_MS', 480_000),
  seed: setting('CHAOS_SEED', Math.floor(Math.random() * 2 ** 31)),
};

const TYPES = ['order.created', 'order.updated', 'user.created', 'user.deleted', 'invoice.paid'] as const;
type EventType = (typeof TYPES)[number];
const WEBHOOKS = [
  { name: 'all', events: ['*'] },
  // The receiver with the long outage.
  { name: 'orders', events: ['order.*'] },
  { name: 'created', events: ['order.created', 'user.created'] },
  { name: 'users', events: ['user.*'] },
  { name: 'invoices', events: ['invoice.paid'] },
] as const;
type WebhookName = (typeof WEBHOOKS)[number]['name'];
/** Which webhooks want each type: written out by hand, not computed with hookd's own matcher. */
const WANTS: Record<EventType, readonly WebhookName[]> = {
  'order.created': ['all', 'orders', 'created'],
  'order.updated': ['all', 'orders'],
  'user.created': ['all', 'created', 'users'],
  'user.deleted': ['all', 'users'],
  'invoice.paid': ['all', 'invoices'],
};
const OUTAGE_WEBHOOK: WebhookName = 'orders';
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

const typeOf = (i: number): EventType => TYPES[i % TYPES.length]!;
const eventId = (i: number) => `ev-${i}`;

/** mulberry32: a small seeded PRNG, so a run's receiver behaviour can be replayed (arrival order aside). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const started = Date.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function log(msg: string): void {
  process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
}

/** Distinct (event, webhook) pairs delivered, over all receivers. */
let delivered = 0;

/** One webhook's receiver: flaps at random, can go away entirely (connection refused) for an outage. */
class ChaosReceiver {
  /** Event id → 2xx answers fully sent. */
  readonly ok = new Map<string, number>();
  /** Event id → the webhook-id of every request for it (all attempts). */
  readonly webhookIds = new Map<string, Set<string>>();
  /** Event ids this webhook should never have been sent. */
  readonly unexpected = new Set<string>();
  requests = 0;
  errors = 0;
  slow = 0;
  down = false;
  port = 0;
  private server: Server | undefined;

  constructor(
    readonly name: WebhookName,
    private readonly random: () => number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/${this.name}`;
  }

  async listen(): Promise<void> {
    for (;;) {
      const server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          this.requests++;
          let id = '?';
          let type: EventType | undefined;
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString()) as { id: string; type: EventType };
            id = body.id;
            type = body.type;
          } catch {}
          if (!type || !WANTS[type]?.includes(this.name)) this.unexpected.add(id);
          const ids = this.webhookIds.get(id) ?? new Set();
          ids.add(String(req.headers['webhook-id'] ?? ''));
          this.webhookIds.set(id, ids);
          const r = this.random();
          if (r < S.failRate) {
            this.errors++;
            res.writeHead(500).end('chaos: random failure');
            return;
          }
          res.on('finish', () => {
            const n = (this.ok.get(id) ?? 0) + 1;
            this.ok.set(id, n);
            if (n === 1) delivered++;
          });
          if (r < S.failRate + S.slowRate) {
            // Slower than hookd's timeout: hookd gives up first, so this 200 is never sent.
            this.slow++;
            setTimeout(() => res.writeHead(200).end('late'), S.timeoutMs * 3).unref();
            return;
          }
          res.writeHead(200).end('ok');
        });
      });
      server.keepAliveTimeout = 60_000;
      const ok = await new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false));
        server.listen(this.port, '127.0.0.1', () => resolve(true));
      });
      if (ok) {
        this.server = server;
        this.port = (server.address() as { port: number }).port;
        return;
      }
      // The port is briefly not reusable after an outage: try again.
      await sleep(200);
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  /** Gone (connection refused) for `ms`, then back on the same port. */
  async outage(ms: number): Promise<void> {
    this.down = true;
    await this.close();
    await sleep(ms);
    await this.listen();
    this.down = false;
  }
}

async function waitUntil(fn: () => boolean, deadline: number, pollMs = 50): Promise<boolean> {
  while (!fn()) {
    if (Date.now() > deadline) return false;
    await sleep(pollMs);
  }
  return true;
}

/** hookd's settings for the run: short timeouts, a long but fast retry schedule, a breaker that trips and recovers quickly. */
function hookdEnv(natsUrl: string): Record<string, string> {
  // 20 attempts, 200 ms to 2 s apart: flapping never uses them up; held time (breaker open) does not count.
  const schedule = ['0s', ...Array.from({ length: 19 }, (_, k) => `${200 + k * 100}ms`)];
  return {
    HOOKD_NATS_URL: natsUrl,
    // Messages pulled by a killed hookd come back quickly.
    HOOKD_NATS_ACK_WAIT_MS: '5000',
    HOOKD_DELIVERY_TIMEOUT_MS: String(S.timeoutMs),
    HOOKD_DELIVERY_RETRY_SCHEDULE: JSON.stringify(schedule),
    HOOKD_DELIVERY_PER_WEBHOOK_CONCURRENCY: '16',
    HOOKD_DELIVERY_BREAKER_FAILURES: '10',
    HOOKD_DELIVERY_BREAKER_COOLDOWN_MS: '1000',
    HOOKD_DELIVERY_BREAKER_MAX_COOLDOWN_MS: '4000',
    HOOKD_DELIVERY_SHUTDOWN_TIMEOUT_MS: '2000',
    HOOKD_LOG_LEVEL: LOG_LEVEL,
  };
}

interface StateChange {
  webhook: string;
  to: string;
  reason: string;
}

/** Breaker / state changes a hookd replica logged (at warn), over all its runs. */
function stateChanges(logs: readonly Record<string, unknown>[]): StateChange[] {
  return logs
    .filter((l) => l.msg === 'webhook state changed')
    .map((l) => ({ webhook: String(l.webhook), to: String(l.to), reason: String(l.reason) }));
}

/**
 * What the store holds at the end. sqlite: deliveries by state and the most
 * common attempt outcomes, from the file; jetstream: the messages of hookd's
 * streams (the work queues must be empty).
 */
async function storeSummary(natsUrl: string, replica: Replica): Promise<string> {
  if (S.backend === 'jetstream') {
    const counts = await streamMessages(natsUrl, [
      'HOOKD_DELIVERIES',
      'HOOKD_RETRIES',
      'HOOKD_SUCCEEDED',
      'HOOKD_DEAD_LETTERS',
    ]);
    return Object.entries(counts)
      .map(([k, v]) => `${k} ${v ?? 'absent'}`)
      .join(', ');
  }
  const db = new Database(replica.dirs.storePath, { readonly: true });
  try {
    const states = db.prepare(`SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state`).all() as {
      state: string;
      n: number;
    }[];
    // What hookd saw, by kind of outcome (the most common first).
    const outcomes = db
      .prepare(
        `SELECT outcome, COALESCE(status, substr(error, 1, 60)) AS what, COUNT(*) AS n
         FROM attempts GROUP BY 1, 2 ORDER BY n DESC LIMIT 8`,
      )
      .all() as { outcome: string; what: string | number | null; n: number }[];
    log(`hookd's recorded attempts: ${outcomes.map((o) => `${o.n} ${o.outcome} (${o.what})`).join('; ')}`);
    return states.map((s) => `${s.state} ${s.n}`).join(', ');
  } finally {
    db.close();
  }
}

/** Where each lost pair was last seen: what its receiver got, and its records in hookd's streams. */
async function traceLost(
  natsUrl: string,
  pairs: readonly string[],
  receivers: ReadonlyMap<WebhookName, ChaosReceiver>,
): Promise<void> {
  const traces =
    S.backend === 'jetstream'
      ? await tracePairs(natsUrl, pairs).catch((err: Error) => {
          log(`could not read hookd's streams to trace the losses: ${err.message}`);
          return undefined;
        })
      : undefined;
  for (const pair of pairs) {
    const [event, webhook] = pair.split('/') as [string, WebhookName];
    const ids = receivers.get(webhook)?.webhookIds.get(event);
    const got = ids ? `requests with webhook-id ${[...ids].join(', ')}` : 'no request';
    const records = traces?.get(pair)?.records ?? [];
    log(
      `lost ${pair}: receiver had ${got}; ${records.length ? records.join('; ') : 'no record in the streams'}`,
    );
  }
}

async function main(): Promise<number> {
  const random = prng(S.seed);
  const deadline = started + S.deadlineMs;
  log(`chaos: ${JSON.stringify(S)}`);

  const receivers = new Map<WebhookName, ChaosReceiver>();
  for (const w of WEBHOOKS) {
    const r = new ChaosReceiver(w.name, random);
    await r.listen();
    receivers.set(w.name, r);
  }
  const nats: NatsServer = await startNats();
  const rules = {
    'chaos.yaml': `webhooks:\n${WEBHOOKS.map(
      (w) =>
        `  - identifier: ${w.name}\n    url: ${receivers.get(w.name)!.url}\n    events: [${w.events.map((e) => `'${e}'`).join(', ')}]\n    secret: ${SECRET}\n`,
    ).join('')}`,
  };
  // Replica A is the one killed; the sqlite backend has only A, restarted on its own file.
  const replicas: Replica[] = Array.from({ length: S.replicas }, (_, i) =>
    makeReplica(String.fromCharCode(65 + i), {
      natsUrl: nats.url,
      backend: S.backend,
      rules,
      env: hookdEnv(nats.url),
      logLevel: LOG_LEVEL,
    }),
  );
  const victim = replicas[0]!;
  let restarts = 0;
  let failedHarness = false;

  const cleanup = async (keep: boolean) => {
    await Promise.all(replicas.map((r) => r.kill()));
    await Promise.all([...receivers.values()].map((r) => r.close()));
    await nats.stop();
    for (const r of replicas) {
      if (keep) {
        // Every line of every run of the replica, for tracing a loss.
        writeFileSync(join(r.dirs.dir, 'hookd.log'), r.logs.map((l) => JSON.stringify(l)).join('\n'));
        log(`kept replica ${r.name}'s store, rules and log (hookd.log) in ${r.dirs.dir}`);
      } else r.dirs.cleanup();
    }
  };
  process.once('SIGINT', () => {
    log('interrupted');
    void cleanup(false).finally(() => process.exit(130));
  });

  try {
    for (const r of replicas) await r.start();
    // hookd creates the stream and consumer.
    await waitForConsumer(nats.url, 'EVENTS', 'hookd', 60_000);
    const nc = await connect({
      servers: nats.url,
      name: 'chaos-publisher',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });

    // Publisher: paced at CHAOS_RATE; every publish is retried until JetStream acknowledges it,
    // with the event id as Nats-Msg-Id, so a retry of a publish that did land is deduplicated.
    const js = jetstream(nc);
    let published = 0;
    let publishRetries = 0;
    let deduplicated = 0;
    let expected = 0;
    /** Events JetStream acknowledged: only their pairs are expected. */
    const acked = new Uint8Array(S.events);
    const publishOne = async (i: number) => {
      const type = typeOf(i);
      const id = eventId(i);
      const data = JSON.stringify({ specversion: '1.0', id, type, source: '/chaos', data: { n: i } });
      for (;;) {
        try {
          const ack = await js.publish(`events.${type}`, data, { msgID: id, timeout: 3000 });
          if (ack.duplicate) deduplicated++;
          published++;
          acked[i] = 1;
          expected += WANTS[type].length;
          return;
        } catch {
          publishRetries++;
          if (Date.now() > deadline) return;
          await sleep(250);
        }
      }
    };
    const publishing = (async () => {
      const t0 = Date.now();
      const inflight = new Set<Promise<void>>();
      for (let i = 0; i < S.events; i++) {
        const ahead = t0 + (i / S.rate) * 1000 - Date.now();
        if (ahead > 5) await sleep(ahead);
        while (inflight.size >= 512) await Promise.race(inflight);
        const p: Promise<void> = publishOne(i).finally(() => inflight.delete(p));
        inflight.add(p);
      }
      await Promise.all(inflight);
      log(`published ${published} events (${publishRetries} publish retries, ${deduplicated} deduplicated)`);
    })();

    const plannedPairs = Array.from({ length: S.events }, (_, i) => WANTS[typeOf(i)].length).reduce(
      (a, b) => a + b,
      0,
    );

    // One receiver goes away entirely, early on, for CHAOS_OUTAGE_MS.
    const outage = (async () => {
      if (S.outageMs <= 0) return;
      await waitUntil(() => published >= S.events * 0.05, deadline);
      log(`receiver "${OUTAGE_WEBHOOK}" goes down for ${S.outageMs} ms`);
      await receivers.get(OUTAGE_WEBHOOK)!.outage(S.outageMs);
      log(`receiver "${OUTAGE_WEBHOOK}" is back`);
    })();

    // nats-server restarts while events are being published.
    const natsRestarts = (async () => {
      for (let j = 0; j < S.natsRestarts; j++) {
        await waitUntil(() => published >= S.events * ((0.8 * (j + 1)) / (S.natsRestarts + 1)), deadline);
        log(`nats-server stops (restart ${j + 1}/${S.natsRestarts}), down for ${S.natsDownMs} ms`);
        await nats.kill();
        await sleep(S.natsDownMs);
        await nats.start();
        log('nats-server is back');
      }
    })();

    // Replica A is SIGKILLed while it delivers, and started again (sqlite: on the same store).
    const kills = (async () => {
      for (let k = 0; k < S.kills; k++) {
        await waitUntil(() => delivered >= plannedPairs * ((0.9 * (k + 1)) / (S.kills + 1)), deadline);
        await victim.kill();
        log(
          `SIGKILL hookd ${victim.name} (${k + 1}/${S.kills}) with ${delivered} of ${plannedPairs} pairs delivered`,
        );
        await victim.start();
        restarts++;
        log(`hookd ${victim.name} restarted`);
      }
    })();

    const progress = setInterval(async () => {
      const down = [...receivers.values()].filter((r) => r.down).map((r) => r.name);
      // Each replica's own view, from its metrics (since its last start).
      const views = await Promise.all(
        replicas.map(async (r) => {
          const m = parseMetrics(
            await fetch(`${r.url}/metrics`, { signal: AbortSignal.timeout(2000) })
              .then((res) => res.text())
              .catch(() => ''),
          );
          if (!m.samples.length) return `${r.name} -`;
          return (
            `${r.name} events taken ${m.sum('hookd_events_received_total', { source: 'nats' })}, ` +
            `pending ${m.sum('hookd_queue_depth', { state: 'pending' })}, ` +
            `in flight ${m.sum('hookd_queue_depth', { state: 'inflight' })}`
          );
        }),
      );
      log(
        `published ${published}/${S.events}, delivered ${delivered}/${plannedPairs}` +
          (down.length ? `, down: ${down.join(', ')}` : '') +
          `; hookd: ${views.join('; ')}`,
      );
    }, 5000);
    progress.unref();

    await Promise.all([publishing, outage, natsRestarts, kills]);
    await nc.close();
    const complete = await waitUntil(() => delivered >= expected, deadline, 100);
    clearInterval(progress);
    if (!complete) log(`deadline: stopped waiting with ${delivered} of ${expected} pairs delivered`);
    // Late duplicates of the last attempts land now, if any.
    await sleep(1000);

    const exits = await Promise.all(replicas.map((r) => r.stop(15_000)));
    const exitCode = exits.every((c) => c === 0) ? 0 : exits.join(', ');
    const changes = replicas.flatMap((r) => stateChanges(r.logs));
    const store = await storeSummary(nats.url, victim);

    // The verdict.
    let arrived = 0;
    let lost = 0;
    let duplicates = 0;
    let sameIds = true;
    let unexpected = 0;
    const lostPairs: string[] = [];
    for (let i = 0; i < S.events; i++) {
      if (!acked[i]) continue;
      for (const w of WANTS[typeOf(i)]) {
        const n = receivers.get(w)!.ok.get(eventId(i)) ?? 0;
        if (n === 0) {
          lost++;
          lostPairs.push(`${eventId(i)}/${w}`);
        } else {
          arrived++;
          duplicates += n - 1;
        }
      }
    }
    for (const r of receivers.values()) {
      unexpected += r.unexpected.size;
      for (const ids of r.webhookIds.values()) if (ids.size !== 1 || ids.has('')) sameIds = false;
    }
    for (const r of receivers.values())
      log(
        `receiver ${r.name}: ${r.requests} requests, ${r.errors} answered 500, ${r.slow} answered too late, ` +
          `${r.ok.size} events delivered`,
      );
    const opened = new Map<string, StateChange[]>();
    for (const c of changes)
      if (c.to === 'TooManyErrors') opened.set(c.webhook, [...(opened.get(c.webhook) ?? []), c]);
    for (const [w, cs] of opened) log(`breaker of ${w} opened ${cs.length} times (first: ${cs[0]!.reason})`);
    log(
      `state changes to Active: ${changes.filter((c) => c.to === 'Active').length}; hookd restarts ${restarts}; ` +
        `final SIGTERM exit ${exitCode}; store: ${store}`,
    );
    if (lostPairs.length > 0) await traceLost(nats.url, lostPairs.slice(0, 20), receivers);
    if (unexpected > 0) log(`FAIL: ${unexpected} requests for pairs no webhook wanted`);
    if (published < S.events)
      log(`FAIL: only ${published} of ${S.events} events were acknowledged by JetStream`);
    if (exitCode !== 0) log(`FAIL: hookd did not exit cleanly on SIGTERM (${exitCode})`);

    process.stdout.write(
      `chaos: events published ${published}, deliveries expected ${expected}, delivered ${arrived}, ` +
        `lost ${lost}, duplicates ${duplicates} (all with the same webhook-id: ${sameIds ? 'yes' : 'no'})\n`,
    );
    log(`took ${((Date.now() - started) / 1000).toFixed(1)} s (seed ${S.seed})`);
    const ok = lost === 0 && sameIds && unexpected === 0 && published === S.events && exitCode === 0;
    failedHarness = !ok;
    return ok ? 0 : 1;
  } catch (err) {
    failedHarness = true;
    log(`chaos run failed: ${(err as Error).stack ?? err}`);
    for (const r of replicas) log(`hookd ${r.name} output:\n${r.output()}`);
    return 2;
  } finally {
    const t = Date.now();
    await cleanup(failedHarness);
    log(`cleaned up in ${Date.now() - t} ms`);
  }
}

process.exitCode = await main();
// Timers of slow answers and client sockets may linger; the verdict is in.
setTimeout(() => process.exit(), 500).unref();
