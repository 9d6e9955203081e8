/**
 * DESIGN.md section 7 / issue 6 scope: SIGTERM while thousands of deliveries
 * are backlogged and some attempts hang at the receiver. hookd stops taking
 * events, lets quick attempts finish, aborts the hung ones when
 * `delivery.shutdownTimeoutMs` is up (they go back to the queue without using
 * a retry), and exits 0. After a restart everything arrives; events
 * published to NATS while hookd was stopping or down arrive too; duplicates
 * carry the same webhook-id.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Database } from '../../src/outbox/sqlite/driver.ts';
import type { HookdProcess, TestDirs } from '../helpers/hookd.ts';
import { type NatsServer, waitForConsumer } from '../helpers/nats-server.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Received, Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

const BACKLOG = 3000;
const LATER = 500;
const SHUTDOWN_TIMEOUT_MS = 3000;
/** Allowance on top of shutdownTimeoutMs: aborted attempts settle, acks flush, the process exits (2 busy cores). */
const EXIT_MARGIN_MS = 5000;
const HANG_MS = 20_000;

let nats: NatsServer;
let receiver: Receiver;
let dirs: TestDirs;
let proc: HookdProcess;
const peers = usePeers();

before(async () => {
  nats = await peers.nats();
  receiver = await peers.receiver();
  dirs = peers.dirs({
    'r.yaml': `
webhooks:
  - identifier: a
    url: ${receiver.url}/a
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
  - identifier: b
    url: ${receiver.url}/b
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
`,
  });
});

test('SIGTERM with thousands of deliveries queued and attempts hanging: clean exit in time, nothing lost', async () => {
  const env = {
    HOOKD_NATS_URL: nats.url,
    HOOKD_NATS_ACK_WAIT_MS: '5000',
    HOOKD_DELIVERY_SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    HOOKD_DELIVERY_TIMEOUT_MS: '60000',
    HOOKD_DELIVERY_PER_WEBHOOK_CONCURRENCY: '16',
  };
  // A slow-ish receiver; in "hang" mode it holds new requests well past the shutdown timeout and margin
  // (not much longer: a pending reply timer keeps the test process alive).
  let hang = false;
  const hung = new Set<Received>();
  receiver.respond((req) => {
    if (!hang) return { status: 200, delayMs: 20 };
    hung.add(req);
    return { status: 200, delayMs: HANG_MS };
  });
  proc = await peers.spawnHookd(dirs, env);

  await waitForConsumer(nats.url);
  const nc = await connect({ servers: nats.url });
  const js = jetstream(nc);
  const publish = async (id: string) => {
    await js.publish('events.x', JSON.stringify({ specversion: '1.0', id, type: 'x.y', source: '/t' }), {
      msgID: id,
    });
  };
  const pending: Promise<void>[] = [];
  for (let i = 0; i < BACKLOG; i++) {
    pending.push(publish(`e-${i}`));
    if (pending.length >= 256) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  // More events keep coming while hookd stops, is down and starts again.
  let later = 0;
  const feeding = (async () => {
    for (; later < LATER; later++) {
      await publish(`e-${BACKLOG + later}`);
      // Paces the publisher so events keep arriving across the stop and restart; asserts nothing.
      await new Promise((r) => setTimeout(r, 10));
    }
  })();

  await receiver.waitFor(600, 60_000);
  hang = true;
  await waitFor('attempts to hang at the receiver', () => hung.size >= 16, {
    saw: () => `${hung.size} hanging`,
  });
  const delivered = receiver.requests.length - hung.size;
  const termAt = Date.now();
  proc.child.kill('SIGTERM');
  const code = await proc.exited;
  const exitMs = Date.now() - termAt;
  assert.equal(code, 0, `a clean exit:\n${proc.output()}`);
  assert.ok(
    exitMs < SHUTDOWN_TIMEOUT_MS + EXIT_MARGIN_MS,
    `exited ${exitMs} ms after SIGTERM (shutdownTimeoutMs ${SHUTDOWN_TIMEOUT_MS})`,
  );
  const hungAtExit = hung.size;
  const expected = 2 * (BACKLOG + LATER);
  assert.ok(delivered + hungAtExit < expected, 'deliveries were still queued at SIGTERM');

  hang = false;
  proc = await peers.spawnHookd(dirs, env);
  await feeding;
  await nc.close();

  // Delivered: answered normally (hung requests were cut off by hookd and must be sent again).
  const pairs = () => {
    const s = new Set<string>();
    for (const r of receiver.requests) if (!hung.has(r)) s.add(`${r.url} ${JSON.parse(r.body).id}`);
    return s;
  };
  await waitFor(`all ${expected} (event, webhook) pairs`, () => pairs().size >= expected, {
    timeoutMs: 120_000,
    saw: () => `${pairs().size} pairs`,
  });
  const got = pairs();
  for (let i = 0; i < BACKLOG + LATER; i++)
    for (const w of ['/a', '/b']) assert.ok(got.has(`${w} e-${i}`), `${w} e-${i} arrived`);
  assert.equal(got.size, expected, 'no unexpected pairs');

  const ids = new Map<string, Set<string>>();
  for (const r of receiver.requests) {
    const k = `${r.url} ${JSON.parse(r.body).id}`;
    const set = ids.get(k) ?? new Set();
    set.add(String(r.headers['webhook-id']));
    ids.set(k, set);
  }
  for (const [k, set] of ids) assert.equal(set.size, 1, `${k} was sent with different webhook-ids`);

  proc.child.kill('SIGTERM');
  assert.equal(await proc.exited, 0);
  // The store agrees: everything succeeded, and the attempts cut short by shutdown used no retry.
  const db = new Database(dirs.storePath, { readonly: true });
  try {
    const states = db.prepare(`SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state`).all();
    assert.deepEqual(states, [{ state: 'succeeded', n: expected }]);
    const notOk = db.prepare(`SELECT COUNT(*) FROM attempts WHERE outcome != 'success'`).pluck().get();
    assert.equal(notOk, 0, 'aborted attempts were released, not recorded as failures');
  } finally {
    db.close();
  }
  console.log(
    `# shutdown: SIGTERM with ${expected - delivered - hungAtExit} of ${expected} deliveries not yet done ` +
      `(${hungAtExit} attempts hanging); exit 0 after ${exitMs} ms (shutdownTimeoutMs ${SHUTDOWN_TIMEOUT_MS}); ` +
      `after restart all delivered, ${receiver.requests.length - hungAtExit - expected} duplicates, 0 lost`,
  );
});
