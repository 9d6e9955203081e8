/**
 * `hookd retry` and `hookd explain` with `store.backend: jetstream`
 * (issue 15): they connect to the NATS of the config. `retry --webhook`
 * (id or identifier) requeues that webhook's dead letters from
 * `HOOKD_DEAD_LETTERS` into its queue, where every replica finds them;
 * `explain` sees the API webhooks every replica has (the KV bucket); an
 * unreachable NATS is an error naming the URL, not a stack trace.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { type Report, runExplain, runRetry } from '../../src/commands/index.ts';
import { JetStreamStore, type Retention } from '../../src/outbox/index.ts';
import { DELIVERIES_STREAM, type FinishedRecord, subjects } from '../../src/outbox/jetstream/records.ts';
import type { TestDirs } from '../helpers/hookd.ts';
import { usePeers } from '../helpers/peers.ts';
import { freePort } from '../helpers/ports.ts';
import { newDelivery } from './jetstream-fixtures.ts';

const peers = usePeers();
const RETENTION: Retention = { succeeded: 3_600_000, failed: 3_600_000, rejected: 3_600_000 };
let url: string;
let dirs: TestDirs;

const run = async (fn: (out: { stdout(s: string): void; stderr(s: string): void }) => Promise<number>) => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await fn({ stdout: (s) => out.push(s), stderr: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
};

before(async () => {
  url = (await peers.nats()).url;
  dirs = peers.dirs({
    'r.yaml':
      'webhooks:\n  - identifier: from-file\n    url: http://127.0.0.1:9/x\n    events: [orders.created]\n',
  });
  writeFileSync(dirs.configPath, `nats:\n  url: ${url}\nstore:\n  backend: jetstream\n`);
});

test('hookd retry --webhook IDENTIFIER requeues that webhook’s dead letters from NATS', async () => {
  const nc = await peers.start(
    'writer',
    () => connect({ servers: url }),
    (c) => c.close(),
  );
  const js = jetstream(nc);
  // The streams exist once a store opened them.
  await (await JetStreamStore.connect(url, { name: 't', replicas: 1, retention: RETENTION })).close();
  const dead = async (eventId: string, webhookId: string, identifier: string) => {
    const { renderError: _r, nextAttemptAt: _n, ...d } = newDelivery(eventId, webhookId);
    const r: FinishedRecord = {
      ...d,
      identifier,
      state: 'failed',
      attempts: [],
      finishedAt: Date.now(),
      lastError: 'HTTP 500',
    };
    await js.publish(subjects.dead(webhookId, r.id), JSON.stringify(r));
  };
  await dead('e1', 'wh_1', 'orders');
  await dead('e2', 'wh_1', 'orders');
  await dead('e3', 'wh_2', 'billing');
  const r = await run((o) => runRetry({ config: dirs.configPath, webhook: 'orders' }, o));
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'requeued 2 failed deliveries');
  const jsm = await jetstreamManager(nc);
  const queued = await jsm.streams.info(DELIVERIES_STREAM, { subjects_filter: subjects.delivery('wh_1') });
  assert.equal(queued.state.messages, 2);
  // By id, the other webhook's one.
  const again = await run((o) => runRetry({ config: dirs.configPath, webhook: 'wh_2' }, o));
  assert.equal(again.out, 'requeued 1 failed delivery');
});

test('hookd explain sees the API webhooks every replica has (the KV bucket)', async () => {
  const store = await JetStreamStore.connect(url, { name: 't', replicas: 1, retention: RETENTION });
  store.webhooks.insert(
    'wh_api',
    { type: 'http', identifier: 'from-api', url: 'http://127.0.0.1:9/y', events: ['orders.created'] },
    Date.now(),
  );
  // Closing flushes the write to the bucket.
  await store.close();
  const event = join(dirs.dir, 'event.json');
  writeFileSync(event, JSON.stringify({ id: 'evt-1', type: 'orders.created', data: {} }));
  const r = await run((o) =>
    runExplain(['--config', dirs.configPath, '--rules', dirs.rulesDir, '--event', event, '--json'], o),
  );
  assert.equal(r.code, 0, r.err);
  const report = JSON.parse(r.out) as Report;
  assert.deepEqual(report.winners.map((w) => w.identifier).sort(), ['from-api', 'from-file']);
});

test('an unreachable NATS is an error naming the URL', async () => {
  const nowhere = join(dirs.dir, 'nowhere.yaml');
  const dead = `nats://127.0.0.1:${await freePort()}`;
  writeFileSync(nowhere, `nats:\n  url: ${dead}\nstore:\n  backend: jetstream\n`);
  const r = await run((o) => runRetry({ config: nowhere, webhook: 'orders' }, o));
  assert.equal(r.code, 1);
  assert.match(r.err, new RegExp(`cannot reach NATS at ${dead.replace(/[.]/g, '\\.')}`));
  const event = join(dirs.dir, 'event.json');
  const e = await run((o) =>
    runExplain(['--config', nowhere, '--rules', dirs.rulesDir, '--event', event], o),
  );
  assert.equal(e.code, 1);
  assert.match(e.err, /cannot reach NATS at/);
});
