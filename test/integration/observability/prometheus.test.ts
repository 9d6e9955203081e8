/**
 * Issue 8, acceptance 1 and 2: a real Prometheus scrapes a running hookd
 * (JetStream and HTTP ingest) every second while traffic produces
 * successes, retries, a permanent failure, a delivery failed after its
 * retries, a breaker trip, rejected events and a failed rule reload. Then:
 * `promtool check metrics` accepts /metrics; every metric of DESIGN.md
 * section 6 has its type and labels; every dashboard panel query and every
 * alert expression runs through the Prometheus HTTP API and returns data;
 * the alerts this traffic must raise fire, and the others do not.
 *
 * The rules Prometheus evaluates here are the shipped file with every `for:`
 * set to 0s (nothing else changed), so the test does not wait out
 * production durations; those are proven by alerts.promtool.yml.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { parse, stringify } from 'yaml';
import type { RunningHookd } from '../../helpers/hookd.ts';
import { type NatsServer, waitForConsumer } from '../../helpers/nats-server.ts';
import { usePeers } from '../../helpers/peers.ts';
import { freePort } from '../../helpers/ports.ts';
import type { Prometheus } from '../../helpers/prometheus.ts';
import type { Receiver } from '../../helpers/receiver.ts';
import { waitFor } from '../../helpers/wait.ts';
import {
  ALERTS_PATH,
  type AlertRule,
  loadAlertRules,
  loadDashboard,
  panelQueries,
  parseLabelValues,
  promtool,
  type RuleFile,
  selectors,
  substitute,
  variableQuery,
} from './artifacts.ts';

const SIGNING_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const HEADER_SECRET = 'sk-live-3f9a1c77e2';

let nats: NatsServer;
let receiver: Receiver;
let hookd: RunningHookd;
let prom: Prometheus;
/** /metrics as hookd served it once all traffic had settled. */
let metricsText: string;

function rules(url: string): string {
  return `webhooks:
  - identifier: ok
    url: ${url}/ok
    events: [t.ok]
    secret: ${SIGNING_SECRET}
    headers:
      X-Api-Key: {value: ${HEADER_SECRET}, secret: true}
  - identifier: flaky
    url: ${url}/flaky
    events: [t.flaky]
    breaker: {failures: 100}
  - identifier: gone
    url: ${url}/gone
    events: [t.gone]
  - identifier: exhaust
    url: ${url}/exhaust
    events: [t.exhaust]
    retry: {schedule: [0s, 200ms]}
  - identifier: down
    url: ${url}/down
    events: [t.down]
`;
}

/** Exact sample lookup in Prometheus text: `name{a="b",...}` → value. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

async function scrape(): Promise<string> {
  return (await fetch(`${hookd.url}/metrics`)).text();
}

/** Polls hookd's own /metrics until `done` holds (results are written in batches). */
async function settle(done: (text: string) => boolean, what: string): Promise<string> {
  let text = '';
  return waitFor(
    what,
    async () => {
      text = await scrape();
      return done(text) && text;
    },
    { intervalMs: 100, saw: () => `hookd's /metrics:\n${text}` },
  );
}

async function publishAll(): Promise<void> {
  const nc = await connect({ servers: nats.url });
  // hookd creates its stream and consumer in the background after start.
  await waitForConsumer(nats.url);
  const js = jetstream(nc);
  const events: [string, number][] = [
    ['t.ok', 10],
    ['t.flaky', 5],
    ['t.gone', 1],
    ['t.down', 3],
  ];
  for (const [type, n] of events) {
    for (let i = 0; i < n; i++)
      await js.publish(`events.${type}`, JSON.stringify({ id: `${type}-${i}`, type }));
  }
  await js.publish('events.bad', 'this is not json {');
  await nc.close();
}

async function post(body: unknown): Promise<number> {
  const r = await fetch(`${hookd.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await r.arrayBuffer();
  return r.status;
}

const peers = usePeers();

before(async () => {
  nats = await peers.nats();
  receiver = await peers.receiver();
  const firstSeen = new Set<string>();
  receiver.respond((req) => {
    const path = req.url;
    if (path === '/ok') return { status: 200 };
    if (path === '/flaky') {
      // Retries send the same body: the event's id tells a first attempt from a retry.
      const id = String((JSON.parse(req.body) as { id: string }).id);
      if (firstSeen.has(id)) return { status: 200 };
      firstSeen.add(id);
      return { status: 503 };
    }
    if (path === '/gone') return { status: 400, body: 'bad request' };
    if (path === '/exhaust') return { status: 503 };
    return { status: 500, body: 'down' };
  });
  // Prometheus starts before hookd (scraping the port hookd will take), so a missing or broken
  // Prometheus fails the file before hookd has started anything.
  const hookdPort = await freePort();
  // The shipped rules, with every `for:` at 0s so alerts fire on the first evaluation.
  const ruleDir = mkdtempSync(join(tmpdir(), 'hookd-rules-'));
  peers.defer('rule dir', () => rmSync(ruleDir, { recursive: true, force: true }));
  const file = parse(readFileSync(ALERTS_PATH, 'utf8')) as RuleFile;
  for (const g of file.groups) for (const r of g.rules) r.for = '0s';
  writeFileSync(join(ruleDir, 'alerts.yml'), stringify(file));
  prom = await peers.prometheus({
    targets: [`127.0.0.1:${hookdPort}`],
    ruleFiles: [join(ruleDir, 'alerts.yml')],
  });
  hookd = await peers.hookd({
    // Successes are logged at debug: the log test below counts one line per outcome.
    logLevel: 'debug',
    rules: { 'r.yaml': rules(receiver.url) },
    config: {
      http: { port: hookdPort },
      nats: { url: nats.url },
      delivery: {
        breaker: { failures: 3, cooldownMs: 60_000 },
        retry: { schedule: ['0s', '200ms', '200ms', '200ms', '200ms'] },
      },
    },
  });

  await prom.waitFor('up{job="hookd"} == 1', (r) => r.length === 1, 'the first scrape of hookd');

  // Traffic: every outcome, over both sources.
  await publishAll();
  assert.equal(
    await post([
      { id: 'h-ok-1', type: 't.ok' },
      { id: 'h-ok-2', type: 't.ok' },
    ]),
    202,
  );
  assert.equal(await post({ id: 'h-exhaust-1', type: 't.exhaust' }), 202);
  assert.equal(await post({ type: 't.ok' }), 400, 'an event without id is rejected');
  writeFileSync(join(hookd.dirs.rulesDir, 'broken.yaml'), 'webhooks:\n  - identifier: [not, a, string]\n');
  assert.equal((await hookd.app.reload('test')).ok, false, 'the broken rule file is refused');

  // ok 12, flaky 5 + 5 retries, gone 1, exhaust 2, down 3 or more (attempts already in flight
  // when the breaker opens still finish), then held by the open breaker.
  await receiver.waitFor(28, 20_000).catch((err: Error) => {
    const byPath: Record<string, number> = {};
    for (const r of receiver.requests) byPath[r.url] = (byPath[r.url] ?? 0) + 1;
    throw new Error(
      `${err.message}: ${JSON.stringify(byPath)}\n${JSON.stringify(hookd.logs.slice(-30), null, 1)}`,
    );
  });
  metricsText = await settle(
    (t) =>
      sample(t, 'hookd_deliveries_total{webhook="ok",type="http",outcome="succeeded"}') === 12 &&
      sample(t, 'hookd_deliveries_total{webhook="flaky",type="http",outcome="succeeded"}') === 5 &&
      sample(t, 'hookd_deliveries_total{webhook="gone",type="http",outcome="failed"}') === 1 &&
      sample(t, 'hookd_deliveries_total{webhook="exhaust",type="http",outcome="failed"}') === 1 &&
      sample(t, 'hookd_webhook_state{webhook="down",state="TooManyErrors"}') === 1 &&
      // Attempt results reach the outbox (and the queue depth) in batches a few ms later.
      sample(t, 'hookd_queue_depth{state="failed"}') === 2 &&
      sample(t, 'hookd_queue_depth{state="inflight"}') === 0,
    'every delivery settled and the down webhook in TooManyErrors',
  );
  // Prometheus has scraped the settled state.
  await prom.waitFor(
    'sum(hookd_deliveries_total{job="hookd"})',
    (r) => Number(r[0]?.value[1]) === 19,
    'Prometheus to scrape every final outcome',
  );
});

test('promtool check metrics accepts /metrics after a run that exercised every outcome', () => {
  const outcomes = [
    'hookd_delivery_attempts_total{webhook="ok",type="http",outcome="success"}',
    'hookd_delivery_attempts_total{webhook="flaky",type="http",outcome="retryable"}',
    'hookd_delivery_attempts_total{webhook="gone",type="http",outcome="permanent"}',
    'hookd_deliveries_total{webhook="exhaust",type="http",outcome="failed"}',
    'hookd_breaker_transitions_total{webhook="down",to="open"}',
    'hookd_events_rejected_total{reason="invalid_json"}',
    'hookd_events_rejected_total{reason="missing_id"}',
    'hookd_events_received_total{source="nats"}',
    'hookd_events_received_total{source="http"}',
    'hookd_config_reloads_total{result="error"}',
  ];
  for (const s of outcomes) assert.ok((sample(metricsText, s) ?? 0) > 0, `${s} was exercised`);
  const r = promtool(['check', 'metrics'], metricsText);
  assert.equal(r.status, 0, r.output);
  assert.equal(r.output.trim(), '', 'no lint findings');
});

test('Prometheus scrapes OpenMetrics, as it asks for by default, and reads every family', async () => {
  // The Accept header of Prometheus 2.x scrapes.
  const accept =
    'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
  const r = await fetch(`${hookd.url}/metrics`, { headers: { accept } });
  assert.match(r.headers.get('content-type') ?? '', /^application\/openmetrics-text; version=1\.0\.0/);
  const open = await r.text();
  assert.ok(open.endsWith('# EOF\n'));
  const targets = (await (await fetch(`${prom.url}/api/v1/targets`)).json()) as {
    data: { activeTargets: { health: string; lastError: string }[] };
  };
  assert.deepEqual(
    targets.data.activeTargets.map((t) => [t.health, t.lastError]),
    [['up', '']],
    'the OpenMetrics scrapes parse',
  );
  // Every family with samples is in Prometheus under its Prometheus-format name.
  const families = new Set(
    [...metricsText.matchAll(/^# TYPE (\S+) /gm)]
      .map((m) => m[1]!)
      .filter((f) => new RegExp(`^${f}(_bucket)?[{ ]`, 'm').test(metricsText)),
  );
  const missing: string[] = [];
  for (const f of families) {
    const probe = metricsText.includes(`\n${f}_bucket`) ? `${f}_bucket` : f;
    const found = await prom.query(`count({__name__="${probe}"})`);
    if (found.length === 0) missing.push(f);
  }
  assert.deepEqual(missing, [], 'families Prometheus has no series of');
});

test('every metric of DESIGN.md section 6 is exported with its type and labels', () => {
  const want: Record<string, [string, string[]]> = {
    hookd_events_received_total: ['counter', ['source']],
    hookd_events_rejected_total: ['counter', ['reason']],
    hookd_deliveries_total: ['counter', ['webhook', 'type', 'outcome']],
    hookd_delivery_attempts_total: ['counter', ['webhook', 'type', 'outcome']],
    hookd_delivery_duration_seconds: ['histogram', ['type']],
    hookd_delivery_attempt_duration_seconds: ['histogram', ['type']],
    hookd_queue_depth: ['gauge', ['state']],
    hookd_webhook_state: ['gauge', ['webhook', 'state']],
    hookd_breaker_transitions_total: ['counter', ['webhook', 'to']],
    hookd_rule_evaluation_seconds: ['histogram', []],
    hookd_config_reloads_total: ['counter', ['result']],
    hookd_config_last_reload_successful: ['gauge', []],
    hookd_nats_consumer_pending: ['gauge', []],
    process_cpu_seconds_total: ['counter', []],
    process_resident_memory_bytes: ['gauge', []],
    nodejs_eventloop_lag_p99_seconds: ['gauge', []],
  };
  const types = new Map<string, string>();
  const labels = new Map<string, Set<string>>();
  for (const line of metricsText.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) types.set(t[1]!, t[2]!);
    const s = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? /.exec(line);
    if (!s || line.startsWith('#')) continue;
    const family = s[1]!.replace(/_(bucket|sum|count)$/, '');
    const names = [...(s[2] ?? '').matchAll(/(\w+)="/g)].map((m) => m[1]!).filter((n) => n !== 'le');
    labels.set(family, new Set([...(labels.get(family) ?? []), ...names]));
  }
  for (const [name, [type, labelNames]] of Object.entries(want)) {
    assert.equal(types.get(name), type, `${name} is a ${type}`);
    assert.deepEqual([...(labels.get(name) ?? [])].sort(), [...labelNames].sort(), `${name} labels`);
  }
  assert.match(
    metricsText,
    /^hookd_delivery_attempt_duration_seconds_bucket\{le="0.001",type="http"\} /m,
    'attempt buckets start at 1 ms',
  );
  assert.match(metricsText, /^hookd_delivery_attempt_duration_seconds_bucket\{le="30",type="http"\} /m);
  for (const state of ['pending', 'inflight', 'succeeded', 'failed'])
    assert.notEqual(sample(metricsText, `hookd_queue_depth{state="${state}"}`), undefined, state);
  assert.equal(sample(metricsText, 'hookd_queue_depth{state="pending"}'), 3, 'down, held');
  assert.equal(sample(metricsText, 'hookd_queue_depth{state="succeeded"}'), 17);
});

test('every dashboard panel query is valid and returns data from Prometheus', async () => {
  const d = loadDashboard();
  const values: Record<string, string> = {};
  for (const v of d.templating.list) {
    if (v.type === 'datasource') continue;
    const { match, label } = parseLabelValues(variableQuery(v));
    const found = await prom.labelValues(label, substitute(match, values));
    assert.ok(found.length > 0, `variable ${v.name}: ${variableQuery(v)} has values`);
    values[v.name] = v.includeAll ? (v.allValue ?? `(${found.join('|')})`) : found[0]!;
  }
  assert.equal(values.job, 'hookd');
  const queries = panelQueries(d);
  assert.ok(queries.length >= 25);
  const empty: string[] = [];
  for (const q of queries) {
    const expr = substitute(q.expr, values);
    const result = await prom.query(expr);
    const finite = result.filter((s) => Number.isFinite(Number(s.value[1])));
    if (finite.length === 0)
      empty.push(`${q.row} / ${q.panel} / ${q.refId}: ${expr} → ${JSON.stringify(result)}`);
  }
  assert.deepEqual(empty, [], 'panels without data');
});

test('every alert expression is valid and every series it reads has data', async () => {
  const rules: AlertRule[] = loadAlertRules().groups.flatMap((g) => g.rules);
  for (const r of rules) {
    await prom.query(r.expr); // throws PromQueryError when Prometheus refuses it
    const read = selectors(r.expr);
    assert.ok(read.length > 0, r.alert);
    for (const s of read) {
      const found = await prom.query(`count(${s})`);
      assert.ok(found.length === 1 && Number(found[0]!.value[1]) > 0, `${r.alert}: ${s} has series`);
    }
  }
});

test('the TooManyErrors alert fires for the tripped webhook; dead letters and the failed reload alert too', async () => {
  const firing = await prom.waitFor(
    'ALERTS{alertstate="firing"}',
    (r) => {
      const names = new Set(r.map((s) => s.metric.alertname));
      return ['HookdWebhookTooManyErrors', 'HookdDeadLetters', 'HookdConfigReloadFailing'].every((n) =>
        names.has(n),
      );
    },
    'the alerts this traffic raises to fire',
  );
  const by = (name: string) => firing.filter((s) => s.metric.alertname === name).map((s) => s.metric);
  assert.deepEqual(
    by('HookdWebhookTooManyErrors').map((m) => m.webhook),
    ['down'],
  );
  assert.deepEqual(
    by('HookdDeadLetters')
      .map((m) => m.webhook)
      .sort(),
    ['exhaust', 'gone'],
  );
  assert.equal(by('HookdConfigReloadFailing').length, 1);
  for (const quiet of [
    'HookdDown',
    'HookdQueueGrowing',
    'HookdNatsPendingGrowing',
    'HookdEventLoopBlocked',
  ]) {
    assert.deepEqual(by(quiet), [], `${quiet} does not fire`);
  }
  const api = await prom.alerts();
  const tme = api.find((a) => a.labels.alertname === 'HookdWebhookTooManyErrors');
  assert.equal(tme?.state, 'firing');
  assert.equal(tme?.annotations.summary, 'Webhook down is in TooManyErrors');
});

test('logs: one line per delivery outcome, one per state change, no secret anywhere', () => {
  const outcomes = hookd.logs.filter((l) => l.component === 'dispatch' && typeof l.delivery === 'string');
  // One line per attempt, and every attempt reached the receiver.
  const byWebhook: Record<string, number> = {};
  for (const l of outcomes) byWebhook[String(l.webhook)] = (byWebhook[String(l.webhook)] ?? 0) + 1;
  assert.equal(outcomes.length, receiver.requests.length);
  assert.deepEqual(
    { ...byWebhook, down: undefined },
    { ok: 12, flaky: 10, gone: 1, exhaust: 2, down: undefined },
  );
  assert.ok((byWebhook.down ?? 0) >= 3, 'down failed at least breaker.failures times');
  for (const outcome of ['success', 'retryable', 'permanent']) {
    const line = outcomes.find((l) => l.outcome === outcome);
    assert.ok(line, `an ${outcome} line`);
    for (const field of ['delivery', 'event', 'webhook', 'attempt', 'status', 'latencyMs'])
      assert.notEqual(line[field], undefined, `${outcome} line has ${field}`);
  }
  const changes = hookd.logs.filter((l) => l.msg === 'webhook state changed');
  assert.deepEqual(
    changes.map((l) => [l.webhook, l.from, l.to]),
    [['down', 'Active', 'TooManyErrors']],
  );
  const all = JSON.stringify(hookd.logs);
  assert.ok(!all.includes(SIGNING_SECRET), 'the signing secret is not logged');
  assert.ok(!all.includes(HEADER_SECRET), 'the secret header is not logged');
});
