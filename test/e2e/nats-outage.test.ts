/**
 * Issue 6, acceptance 5 (NATS half): nats-server is killed (SIGKILL) for 20 s
 * while hookd runs. hookd keeps delivering what it had already stored,
 * reports `nats: false` on /readyz while NATS is away, keeps taking events
 * over HTTP, then reconnects and resumes consuming. Every event published
 * before and after the outage arrives; nothing is lost.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { RunningHookd } from '../helpers/hookd.ts';
import type { NatsServer } from '../helpers/nats-server.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

const OUTAGE_MS = 20_000;
const BEFORE = 500;
const DURING = 50;
const AFTER = 500;

let nats: NatsServer;
let receiver: Receiver;
let hookd: RunningHookd;

const peers = usePeers();

before(async () => {
  nats = await peers.nats();
  receiver = await peers.receiver();
  hookd = await peers.hookd({
    rules: {
      'r.yaml': `
webhooks:
  - identifier: sink
    url: ${receiver.url}/in
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
`,
    },
    config: { nats: { url: nats.url }, delivery: { shutdownTimeoutMs: 1000 } },
  });
});

async function readyz(): Promise<{ status: number; checks: Record<string, boolean> }> {
  const r = await fetch(`${hookd.url}/readyz`);
  return { status: r.status, checks: ((await r.json()) as { checks: Record<string, boolean> }).checks };
}

async function publish(nc: NatsConnection, prefix: string, n: number): Promise<void> {
  const js = jetstream(nc);
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${i}`;
    pending.push(
      js.publish('events.outage', JSON.stringify({ specversion: '1.0', id, type: 'x.y', source: '/t' }), {
        msgID: id,
      }),
    );
    if (pending.length >= 128) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
}

const idsReceived = () => new Set(receiver.requests.map((r) => JSON.parse(r.body).id as string));
const hasAll = (prefix: string, n: number) => {
  const got = idsReceived();
  for (let i = 0; i < n; i++) if (!got.has(`${prefix}-${i}`)) return false;
  return true;
};

test('NATS down for 20 s: stored deliveries keep going, /readyz shows it, consuming resumes, nothing lost', async () => {
  const sink = hookd.app.catalog.rules.webhooks.find((w) => w.identifier === 'sink')!;
  await waitFor('hookd to connect to NATS', async () => (await readyz()).checks.nats === true, 15_000);

  // Hold the webhook, so what is stored before the outage is still queued when NATS goes away.
  hookd.app.setWebhookState(sink.id, 'Stopped', 'test: queue up before the outage');
  let nc = await connect({ servers: nats.url });
  await publish(nc, 'before', BEFORE);
  const jsm = await jetstreamManager(nc);
  await waitFor(
    'hookd to store and acknowledge every event published before the outage',
    async () => {
      const i = await jsm.consumers.info('EVENTS', 'hookd');
      return i.num_pending === 0 && i.num_ack_pending === 0 && i.delivered.stream_seq >= BEFORE;
    },
    20_000,
  );
  await nc.close();
  assert.equal(
    hookd.app.store.deliveries.depth().pending,
    BEFORE,
    'every event is stored, none delivered yet',
  );
  assert.equal(receiver.requests.length, 0);

  await nats.kill(true);
  const killedAt = Date.now();
  await waitFor('/readyz to report NATS down', async () => (await readyz()).checks.nats === false, 10_000);
  const down = await readyz();
  assert.equal(down.status, 503);
  assert.equal(down.checks.store, true, 'the store is fine');

  // Resume the webhook: the stored backlog is delivered while NATS is still down.
  hookd.app.setWebhookState(sink.id, 'Active', 'test: deliver during the outage');
  // HTTP ingest keeps working without NATS.
  const r = await fetch(`${hookd.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(
      Array.from({ length: DURING }, (_, i) => ({ id: `during-${i}`, type: 'x.y', source: '/t' })),
    ),
  });
  assert.equal(r.status, 202, await r.text());
  await waitFor(
    'the stored backlog to be delivered while NATS is down',
    () => hasAll('before', BEFORE) && hasAll('during', DURING),
    OUTAGE_MS - 2_000,
  );
  const drainedInMs = Date.now() - killedAt;
  assert.equal((await readyz()).checks.nats, false, 'NATS was still down while the backlog was delivered');

  // Stay down for the full outage, then bring NATS back on the same port and store. (This wait is the
  // outage itself, the scenario under test, not an assertion of timing.)
  await new Promise((r) => setTimeout(r, Math.max(0, killedAt + OUTAGE_MS - Date.now())));
  assert.equal((await readyz()).checks.nats, false, 'still reported down at the end of the outage');
  await nats.start();
  const startedAt = Date.now();
  await waitFor('hookd to reconnect to NATS', async () => (await readyz()).status === 200, 30_000);
  const reconnectMs = Date.now() - startedAt;

  nc = await connect({ servers: nats.url });
  await publish(nc, 'after', AFTER);
  await waitFor('events published after the outage to be delivered', () => hasAll('after', AFTER), 60_000);
  const jsm2 = await jetstreamManager(nc);
  await waitFor(
    'every message to be acknowledged',
    async () => {
      const i = await jsm2.consumers.info('EVENTS', 'hookd');
      return i.num_pending === 0 && i.num_ack_pending === 0;
    },
    20_000,
  );
  await nc.close();

  // Nothing lost, nothing unexpected; any duplicate carries its delivery's webhook-id.
  const got = idsReceived();
  assert.equal(got.size, BEFORE + DURING + AFTER);
  const ids = new Map<string, Set<string>>();
  for (const req of receiver.requests) {
    const id = JSON.parse(req.body).id as string;
    const set = ids.get(id) ?? new Set();
    set.add(String(req.headers['webhook-id']));
    ids.set(id, set);
  }
  for (const [id, set] of ids) assert.equal(set.size, 1, `${id} was sent with different webhook-ids`);
  // Results are written in batches (up to 100 ms later): the queue empties once the last one is.
  await waitFor(
    'the queue to be empty, nothing failed',
    () => {
      const { pending, inflight, failed } = hookd.app.store.deliveries.depth();
      return pending === 0 && inflight === 0 && failed === 0;
    },
    { timeoutMs: 5_000, saw: () => JSON.stringify(hookd.app.store.deliveries.depth()) },
  );
  console.log(
    `# NATS outage: ${BEFORE} stored deliveries + ${DURING} HTTP events delivered ${drainedInMs} ms into a ${OUTAGE_MS / 1000} s outage; ` +
      `reconnected ${reconnectMs} ms after nats-server came back; ${AFTER} later events delivered; ` +
      `${receiver.requests.length - got.size} duplicates, 0 lost`,
  );
});
