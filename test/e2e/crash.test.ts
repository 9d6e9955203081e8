/**
 * Issue 2, acceptance 3: while 5,000 events are being delivered, hookd is
 * killed with SIGKILL and started again; the receiver gets every expected
 * (event, webhook) pair, and any duplicate carries the same webhook-id.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { HookdProcess, TestDirs } from '../helpers/hookd.ts';
import { type NatsServer, waitForConsumer } from '../helpers/nats-server.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

const N = 5000;
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
  - identifier: all
    url: ${receiver.url}/all
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
  - identifier: even
    url: ${receiver.url}/even
    events: [even.*]
`,
  });
});

test('SIGKILL during delivery loses nothing; duplicates keep their webhook-id', async () => {
  const env = { HOOKD_NATS_URL: nats.url };
  proc = await peers.spawnHookd(dirs, env);

  await waitForConsumer(nats.url);
  const nc = await connect({ servers: nats.url });
  const js = jetstream(nc);
  const expected = new Set<string>();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < N; i++) {
    const type = i % 2 === 0 ? 'even.created' : 'odd.created';
    expected.add(`/all ${i}`);
    if (i % 2 === 0) expected.add(`/even ${i}`);
    pending.push(
      js.publish(`events.${type}`, JSON.stringify({ specversion: '1.0', id: String(i), type, source: '/t' })),
    );
    if (pending.length >= 256) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  await nc.close();

  // Kill it mid-flight: once a good part, but not all, has arrived.
  await receiver.waitFor(Math.floor(expected.size / 4), 60_000);
  proc.child.kill('SIGKILL');
  await proc.exited;
  const atKill = receiver.requests.length;
  assert.ok(atKill < expected.size, `killed while delivering (${atKill} of ${expected.size})`);

  proc = await peers.spawnHookd(dirs, env);
  const seen = () => new Set(receiver.requests.map((r) => `${r.url} ${JSON.parse(r.body).id}`));
  await waitFor(
    `all ${expected.size} (event, webhook) pairs after the restart`,
    () => seen().size >= expected.size,
    {
      timeoutMs: 120_000,
      intervalMs: 200,
      saw: () => {
        const got = seen();
        const missing = [...expected].filter((k) => !got.has(k));
        return `${got.size} pairs in ${receiver.requests.length} requests; missing ${missing.length}, e.g. ${missing.slice(0, 10).join(', ')}`;
      },
    },
  );

  const got = seen();
  const missing = [...expected].filter((k) => !got.has(k));
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} (event, webhook) pairs never arrived`);
  assert.equal(got.size, expected.size, 'no unexpected pairs');

  // Duplicates are allowed only with the same webhook-id.
  const idsByPair = new Map<string, Set<string>>();
  for (const r of receiver.requests) {
    const k = `${r.url} ${JSON.parse(r.body).id}`;
    const set = idsByPair.get(k) ?? new Set();
    set.add(String(r.headers['webhook-id'] ?? r.headers['x-hookd-delivery'] ?? ''));
    idsByPair.set(k, set);
  }
  const duplicates = receiver.requests.length - expected.size;
  for (const [k, ids] of idsByPair)
    if (k.startsWith('/all')) assert.equal(ids.size, 1, `${k} was sent with different webhook-ids`);
  console.log(
    `# crash test: ${expected.size} pairs expected, ${atKill} delivered before SIGKILL, ${duplicates} duplicates after restart, 0 lost`,
  );

  proc.child.kill('SIGTERM');
  assert.equal(await proc.exited, 0, 'a clean SIGTERM exit');
});
