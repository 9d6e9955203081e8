/**
 * Issue 6, acceptances 2 and 3, against real HTTP receivers:
 * - a receiver failing 100 % trips the breaker (TooManyErrors); while open
 *   only probes go out, each after its cooldown (asserted on the attempt
 *   times hookd records and its breaker transitions, not on sleeps); after
 *   recovery every held delivery arrives; a healthy webhook's latency is
 *   measured throughout (reported, not asserted);
 * - a slow receiver (10 s per response) with 10,000 backlogged deliveries
 *   does not hold up another webhook: every delivery of the other webhook
 *   arrives well before the slow receiver answers even once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RunningHookd } from '../helpers/hookd.ts';
import { usePeers } from '../helpers/peers.ts';
import { waitFor } from '../helpers/wait.ts';

const peers = usePeers();

async function hookd(rules: string, config = {}): Promise<RunningHookd> {
  return peers.hookd({
    rules: { 'r.yaml': rules },
    config: { delivery: { shutdownTimeoutMs: 300 }, ...config },
  });
}

/** Posts events over HTTP ingest; returns the delivery ids. */
async function post(h: RunningHookd, events: unknown[]): Promise<string[]> {
  const r = await fetch(`${h.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(events),
  });
  const text = await r.text();
  assert.equal(r.status, 202, text);
  return (JSON.parse(text) as { events: { deliveries: string[] }[] }).events.flatMap((e) => e.deliveries);
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

/** The breaker transitions hookd logged for a webhook, with their times. */
function transitions(h: RunningHookd, identifier: string): { to: string; at: number }[] {
  return h.logs
    .filter((l) => l.msg === 'circuit breaker' && l.webhook === identifier)
    .map((l) => ({ to: String(l.to), at: Date.parse(String(l.time)) }));
}

test('a failing receiver trips the breaker; only probes while open; everything held arrives after recovery', async () => {
  const failing = await peers.receiver();
  const healthy = await peers.receiver();
  let recovered = false;
  failing.respond(() => (recovered ? { status: 200 } : { status: 500 }));
  const COOLDOWN_MS = 1500;
  const MAX_COOLDOWN_MS = 3000;
  // The breaker decides at an attempt's result; the transition is logged when hookd gets to it,
  // a little later on a busy machine. Cooldowns measured from an open's log line allow for that.
  const LOG_SLACK_MS = 500;
  const h = await hookd(
    `
webhooks:
  - identifier: failing
    url: ${failing.url}/in
    events: [order.*]
  - identifier: healthy
    url: ${healthy.url}/in
    events: [order.*]
`,
    {
      delivery: {
        breaker: { failures: 5, cooldownMs: COOLDOWN_MS, maxCooldownMs: MAX_COOLDOWN_MS },
        retry: { schedule: ['0s', '100ms', '100ms', '100ms', '100ms', '100ms', '100ms', '100ms'] },
        shutdownTimeoutMs: 300,
      },
    },
  );
  const webhook = h.app.catalog.rules.webhooks.find((w) => w.identifier === 'failing')!;
  const N = 40;
  const sentAt = new Map<string, number>();
  const deliveries: string[] = [];
  // Events keep coming during the whole run, so the healthy webhook's latency is measured throughout.
  // (The interval paces the feed; nothing is asserted on it.)
  let i = 0;
  const feed = setInterval(() => {
    if (i >= N) return clearInterval(feed);
    const id = `o-${i++}`;
    sentAt.set(id, Date.now());
    void post(h, [{ id, type: 'order.created' }]).then((ids) => deliveries.push(...ids));
  }, 20);

  // Let it open, and two probes fail (each re-opens it), before the receiver recovers.
  await waitFor(
    'the breaker to open and two probes to fail',
    () => transitions(h, 'failing').filter((t) => t.to === 'open').length >= 3,
    { saw: () => transitions(h, 'failing') },
  );
  assert.equal(h.app.states.stateOf(webhook), 'TooManyErrors', 'the failed probe re-opened it');
  recovered = true;
  await waitFor('all events to be sent', () => i >= N && deliveries.length === 2 * N, {
    saw: () => `${i} sent, ${deliveries.length} deliveries`,
  });
  await waitFor(
    'every held delivery',
    () => new Set(failing.requests.map((r) => JSON.parse(r.body).id)).size === N,
    { saw: () => `${new Set(failing.requests.map((r) => JSON.parse(r.body).id)).size} of ${N} events` },
  );
  assert.equal(h.app.states.stateOf(webhook), 'Active', 'a successful probe closed it');

  // The timeline: open, half-open (probe), open, half-open, open, half-open, closed.
  const log = transitions(h, 'failing');
  const closedAt = log.find((t) => t.to === 'closed')!.at;
  const opens = log.filter((t) => t.to === 'open');
  const halfOpens = log.filter((t) => t.to === 'half-open');
  assert.ok(halfOpens.length >= 3 && closedAt >= opens[2]!.at, `the timeline: ${JSON.stringify(log)}`);
  for (const [k, open] of opens.slice(0, 3).entries()) {
    const cooldown = Math.min(COOLDOWN_MS * 2 ** k, MAX_COOLDOWN_MS);
    const probe = halfOpens.find((t) => t.at >= open.at)!;
    assert.ok(
      probe.at - open.at >= cooldown - LOG_SLACK_MS,
      `probe ${k + 1} waited the ${cooldown} ms cooldown (${probe.at - open.at} ms between the log lines)`,
    );
  }
  // Attempts hookd started while the breaker was open or half-open: one probe per half-open, no more.
  const { store } = h.app;
  const failingIds: string[] = [];
  for (const d of deliveries)
    if ((await store.deliveries.get(d))?.identifier === 'failing') failingIds.push(d);
  // Results are written in batches (up to 100 ms after the attempt): read the log once every one is.
  await waitFor(
    'every result of the failing webhook to be written',
    async () =>
      (await Promise.all(failingIds.map((d) => store.deliveries.get(d)))).every(
        (d) => d?.state === 'succeeded',
      ),
    { saw: () => `${failingIds.length} deliveries` },
  );
  const started: number[] = [];
  for (const d of failingIds) for (const a of await store.attempts.of(d)) started.push(a.started_at);
  const whileOpen = started.filter((at) => at > opens[0]!.at && at < closedAt);
  assert.ok(
    whileOpen.length >= 3 && whileOpen.length <= halfOpens.length,
    `only probes while open: ${whileOpen.length} attempts started, ${halfOpens.length} probes allowed`,
  );
  for (const at of whileOpen) {
    const k = opens.filter((o) => o.at < at).length - 1;
    const cooldown = Math.min(COOLDOWN_MS * 2 ** k, MAX_COOLDOWN_MS);
    assert.ok(
      at - opens[k]!.at >= cooldown - LOG_SLACK_MS,
      `an attempt ${at - opens[k]!.at} ms after an open: only after the ${cooldown} ms cooldown`,
    );
  }

  await waitFor('the healthy webhook', () => healthy.requests.length === N, {
    saw: () => `${healthy.requests.length} of ${N}`,
  });
  const lat = healthy.requests.map((r) => r.at - sentAt.get(JSON.parse(r.body).id)!);
  console.log(
    `# healthy webhook latency during the outage: p50 ${pct(lat, 50)} ms, p95 ${pct(lat, 95)} ms, max ${Math.max(...lat)} ms (${N} events)`,
  );

  const metrics = await (await fetch(`${h.url}/metrics`)).text();
  assert.match(metrics, /hookd_breaker_transitions_total\{webhook="failing",to="open"\} [3-9]/);
  assert.match(metrics, /hookd_breaker_transitions_total\{webhook="failing",to="closed"\} 1/);
  assert.match(metrics, /hookd_webhook_state\{webhook="failing",state="Active"\} 1/);
  // Eight attempts at 100 ms apart would have used up every retry during the outage had held time counted.
  assert.equal(
    h.app.store.deliveries.depth().failed,
    0,
    'held deliveries were not counted against their retries',
  );
});

test('a slow receiver with 10,000 backlogged deliveries does not delay another webhook', async () => {
  const SLOW_MS = 10_000;
  const slow = await peers.receiver();
  const fast = await peers.receiver();
  slow.respond(() => ({ status: 200, delayMs: SLOW_MS }));
  const h = await hookd(`
webhooks:
  - identifier: slow
    url: ${slow.url}/in
    events: [bulk.*]
  - identifier: fast
    url: ${fast.url}/in
    events: [ping.*]
`);
  for (let b = 0; b < 10; b++) {
    await post(
      h,
      Array.from({ length: 1000 }, (_, k) => ({ id: `bulk-${b}-${k}`, type: 'bulk.created' })),
    );
  }
  await waitFor('the slow receiver to be busy', () => slow.requests.length > 0);
  const sentAt = new Map<string, number>();
  for (let k = 0; k < 20; k++) {
    sentAt.set(`ping-${k}`, Date.now());
    await post(h, [{ id: `ping-${k}`, type: 'ping.sent' }]);
    // Paces the pings (they arrive one by one, behind the backlog); nothing is asserted on it.
    await new Promise((r) => setTimeout(r, 20));
  }
  await waitFor('the fast webhook', () => fast.requests.length === 20, {
    saw: () => `${fast.requests.length} of 20`,
  });
  const lat = fast.requests.map((r) => r.at - sentAt.get(JSON.parse(r.body).id)!);
  console.log(
    `# fast webhook latency with a 10,000-delivery slow backlog: p50 ${pct(lat, 50)} ms, max ${Math.max(...lat)} ms`,
  );
  // Behind the slow webhook's attempts, a ping would wait for a slow answer (10 s); half of that
  // is generous for a loaded machine.
  assert.ok(
    Math.max(...lat) < SLOW_MS / 2,
    `every ping well within the slow receiver's delay (max ${Math.max(...lat)} ms, a slow answer takes ${SLOW_MS} ms)`,
  );
  const firstSlowAnswer = slow.requests[0]!.at + SLOW_MS;
  assert.ok(
    Math.max(...fast.requests.map((r) => r.at)) < firstSlowAnswer,
    'every ping arrived before the slow receiver could answer its first request',
  );
  assert.ok(
    slow.requests.length <= 56,
    `the slow webhook is held to its share of the pipe, 7/8 of delivery.concurrency 64 (${slow.requests.length} requests so far)`,
  );
  const { pending, inflight } = h.app.store.deliveries.depth();
  assert.ok(pending + inflight > 9_900, `the slow backlog is still queued (${pending + inflight})`);
});
