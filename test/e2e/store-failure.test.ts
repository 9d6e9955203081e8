/**
 * Issue 6, acceptance 5 (store half): when the outbox cannot be written
 * (a real SQLITE_FULL, produced by capping the database's page count),
 * hookd stops acknowledging, reports it on /readyz, and resumes when writes
 * work again, losing nothing.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { SqliteStore } from '../../src/outbox/index.ts';
import type { RunningHookd } from '../helpers/hookd.ts';
import { type NatsServer, waitForConsumer } from '../helpers/nats-server.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

let nats: NatsServer;
let receiver: Receiver;
let hookd: RunningHookd;

const peers = usePeers();

before(async () => {
  nats = await peers.nats();
  receiver = await peers.receiver();
  hookd = await peers.hookd({
    rules: { 'r.yaml': `webhooks:\n  - identifier: sink\n    url: ${receiver.url}/in\n` },
    config: { nats: { url: nats.url } },
  });
});

test('a full disk stops acknowledging, shows on /readyz, and recovers without loss', async () => {
  await waitForConsumer(nats.url);
  const nc = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await js.publish('events.a', JSON.stringify({ id: 'before', type: 'x.y' }));
  await receiver.waitFor(1, 10_000);

  // Fill the disk: the writing connection (the writer thread's) may add no page any more.
  const store = hookd.app.store as SqliteStore;
  const pages = store.sqlite.db.pragma('page_count', { simple: true }) as number;
  await store.writerPragma(`max_page_count = ${pages}`);
  const big = 'x'.repeat(2000);
  for (let i = 0; i < 60; i++)
    await js.publish('events.a', JSON.stringify({ id: `during-${i}`, type: 'x.y', pad: big }));

  await waitFor(
    'the store to fail',
    () => hookd.logs.some((l) => l.msg === 'could not store events; not acknowledging them'),
    10_000,
  );
  await waitFor(
    '/readyz to report the store',
    async () => (await fetch(`${hookd.url}/readyz`)).status === 503,
    10_000,
  );
  const ready = (await (await fetch(`${hookd.url}/readyz`)).json()) as { checks: Record<string, boolean> };
  assert.equal(ready.checks.store, false);
  const info = await jsm.consumers.info('EVENTS', 'hookd');
  assert.ok(
    info.num_ack_pending + info.num_pending > 0,
    'the events that could not be stored are not acknowledged',
  );
  assert.ok(
    hookd.logs.some((l) => l.msg === 'could not store events; not acknowledging them'),
    'logged',
  );

  // Free the disk again.
  await store.writerPragma('max_page_count = 4294967294');
  await receiver.waitFor(61, 30_000);
  const ids = new Set(receiver.requests.map((r) => JSON.parse(r.body).id));
  for (let i = 0; i < 60; i++) assert.ok(ids.has(`during-${i}`), `during-${i} arrived`);
  await waitFor(
    '/readyz to recover',
    async () => (await fetch(`${hookd.url}/readyz`)).status === 200,
    10_000,
  );
  await waitFor(
    'all acknowledged',
    async () => (await jsm.consumers.info('EVENTS', 'hookd')).num_ack_pending === 0,
    10_000,
  );
  await nc.close();
});
