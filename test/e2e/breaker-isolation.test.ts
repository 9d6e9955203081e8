/**
 * Issue 6, acceptances 2 and 3, against real HTTP receivers:
 * - a receiver failing 100 % trips the breaker (TooManyErrors); while open
 *   only probes go out; after recovery every held delivery arrives; a healthy
 *   webhook's latency is measured throughout (reported, not asserted);
 * - a slow receiver (5 s per response) with 10,000 backlogged deliveries does
 *   not hold up another webhook.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { type RunningHookd, startHookd } from '../helpers/hookd.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

const started: { stop(): Promise<void> }[] = [];
after(async () => {
  for (const s of started.reverse()) await s.stop();
});

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  started.push({ stop: () => r.close() });
  return r;
}

async function hookd(rules: string, config = {}): Promise<RunningHookd> {
  const h = await startHookd({
    rules: { 'r.yaml': rules },
    config: { delivery: { shutdownTimeoutMs: 300 }, ...config },
  });
  started.push(h);
  return h;
}

async function post(h: RunningHookd, events: unknown[]) {
  const r = await fetch(`${h.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(events),
  });
  assert.equal(r.status, 202, await r.text());
}

async function until(fn: () => boolean, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

test('a failing receiver trips the breaker; only probes while open; everything held arrives after recovery', async () => {
  const failing = await receiver();
  const healthy = await receiver();
  let recovered = false;
  failing.respond(() => (recovered ? { status: 200 } : { status: 500 }));
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
        breaker: { failures: 5, cooldownMs: 800, maxCooldownMs: 1600 },
        retry: { schedule: ['0s', '100ms', '100ms', '100ms', '100ms', '100ms', '100ms', '100ms'] },
        shutdownTimeoutMs: 300,
      },
    },
  );
  const webhook = h.app.catalog.rules.webhooks.find((w) => w.identifier === 'failing')!;
  const N = 40;
  const sentAt = new Map<string, number>();
  // Events keep coming during the whole run, so the healthy webhook's latency is measured throughout.
  let i = 0;
  const feed = setInterval(() => {
    if (i >= N) return clearInterval(feed);
    const id = `o-${i++}`;
    sentAt.set(id, Date.now());
    void post(h, [{ id, type: 'order.created' }]);
  }, 20);

  await until(() => h.app.states.stateOf(webhook) === 'TooManyErrors', 10_000, 'the breaker to open');
  // Attempts already in flight when it opened still land; count from when they have.
  await new Promise((r) => setTimeout(r, 200));
  const atOpen = failing.requests.length;
  // Probes go out 0.8 s after opening and, after a failed one, 1.6 s later: one or two in this window.
  await new Promise((r) => setTimeout(r, 2000));
  const whileOpen = failing.requests.length - atOpen;
  assert.ok(whileOpen >= 1 && whileOpen <= 2, `only probes while open (got ${whileOpen} attempts)`);
  assert.equal(h.app.states.stateOf(webhook), 'TooManyErrors', 'the failed probe re-opened it');

  recovered = true;
  await until(() => i >= N, 10_000, 'all events to be sent');
  await until(
    () => new Set(failing.requests.map((r) => JSON.parse(r.body).id)).size === N,
    15_000,
    'every held delivery',
  );
  assert.equal(h.app.states.stateOf(webhook), 'Active', 'a successful probe closed it');
  await until(() => healthy.requests.length === N, 10_000, 'the healthy webhook');
  const lat = healthy.requests.map((r) => r.at - sentAt.get(JSON.parse(r.body).id)!);
  console.log(
    `# healthy webhook latency during the outage: p50 ${pct(lat, 50)} ms, p95 ${pct(lat, 95)} ms, max ${Math.max(...lat)} ms (${N} events)`,
  );

  const metrics = await (await fetch(`${h.url}/metrics`)).text();
  assert.match(metrics, /hookd_breaker_transitions_total\{webhook="failing",to="open"\} [2-9]/);
  assert.match(metrics, /hookd_breaker_transitions_total\{webhook="failing",to="closed"\} 1/);
  assert.match(metrics, /hookd_webhook_state\{webhook="failing",state="Active"\} 1/);
  // Eight attempts at 100 ms apart would have used up every retry during the outage had held time counted.
  assert.equal(h.app.outbox.depth().failed, 0, 'held deliveries were not counted against their retries');
});

test('a slow receiver with 10,000 backlogged deliveries does not delay another webhook', async () => {
  const slow = await receiver();
  const fast = await receiver();
  slow.respond(() => ({ status: 200, delayMs: 5000 }));
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
  await until(() => slow.requests.length > 0, 5000, 'the slow receiver to be busy');
  const sentAt = new Map<string, number>();
  for (let k = 0; k < 20; k++) {
    sentAt.set(`ping-${k}`, Date.now());
    await post(h, [{ id: `ping-${k}`, type: 'ping.sent' }]);
    await new Promise((r) => setTimeout(r, 20));
  }
  await until(() => fast.requests.length === 20, 10_000, 'the fast webhook');
  const lat = fast.requests.map((r) => r.at - sentAt.get(JSON.parse(r.body).id)!);
  console.log(
    `# fast webhook latency with a 10,000-delivery slow backlog: p50 ${pct(lat, 50)} ms, max ${Math.max(...lat)} ms`,
  );
  assert.ok(
    slow.requests.length <= 16,
    `the slow webhook is held to its own concurrency (${slow.requests.length} requests so far)`,
  );
  const { pending, inflight } = h.app.outbox.depth();
  assert.ok(pending + inflight > 9_900, `the slow backlog is still queued (${pending + inflight})`);
});
