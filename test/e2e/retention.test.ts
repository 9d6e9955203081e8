/**
 * Issue 14, acceptance 3 (the real run): with `store.retention.succeeded: 3s`
 * delivered deliveries and their attempts disappear from the store and from
 * `GET /v1/webhooks/{id}/deliveries` within a minute, while a held
 * (pending) delivery of a stopped webhook stays. The window logic itself is
 * unit-tested on explicit times (test/unit/outbox/retention.test.ts).
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { RunningHookd } from '../helpers/hookd.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

let receiver: Receiver;
let hookd: RunningHookd;
const peers = usePeers();

before(async () => {
  receiver = await peers.receiver();
  hookd = await peers.hookd({
    rules: {
      'r.yaml': `
webhooks:
  - id: kept
    identifier: kept
    url: ${receiver.url}/kept
    events: [order.created]
  - id: held
    identifier: held
    url: ${receiver.url}/held
    events: [order.created]
    state: Stopped
`,
    },
    config: { store: { retention: { succeeded: '3s' } } },
  });
});

async function listed(webhook: string): Promise<{ id: string; state: string }[]> {
  const r = await fetch(`${hookd.url}/v1/webhooks/${webhook}/deliveries?limit=100`);
  assert.equal(r.status, 200);
  return ((await r.json()) as { items: { id: string; state: string }[] }).items;
}

test('delivered deliveries and their attempts are pruned after store.retention.succeeded; held ones stay', async () => {
  const r = await fetch(`${hookd.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([1, 2, 3].map((n) => ({ id: `ord-${n}`, type: 'order.created' }))),
  });
  assert.equal(r.status, 202);
  await receiver.waitFor(3);
  const delivered = await waitFor(
    'three succeeded deliveries listed',
    async () => {
      const items = await listed('kept');
      return items.length === 3 && items.every((d) => d.state === 'succeeded') && items;
    },
    { saw: () => 'fewer than three succeeded' },
  );
  const first = delivered[0]!.id;
  assert.equal((await hookd.app.store.attempts.of(first)).length, 1, 'the success is in the attempt log');

  await waitFor('the delivered deliveries to be pruned', async () => (await listed('kept')).length === 0, {
    timeoutMs: 60_000,
    saw: () => 'still listed',
  });
  assert.equal(await hookd.app.store.deliveries.get(first), undefined, 'gone from the store');
  assert.deepEqual(await hookd.app.store.attempts.of(first), [], 'with its attempts');
  const held = await listed('held');
  assert.deepEqual(
    held.map((d) => d.state),
    ['pending', 'pending', 'pending'],
    'the held deliveries of the stopped webhook are never pruned',
  );
  assert.match(
    await (await fetch(`${hookd.url}/metrics`)).text(),
    /^hookd_store_bytes [1-9]\d*$/m,
    'the store size is a metric',
  );
});
