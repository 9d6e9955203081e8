/**
 * A webhook with `rateLimit: {perSecond, burst}` is paced: events posted at
 * once reach its receiver no faster than the limit, asserted on the attempt
 * start times hookd records (a lower bound, so a slow machine cannot make it
 * fail; an unlimited hookd sends all of them at once, which fails it).
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { RunningHookd } from '../helpers/hookd.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

const PER_SECOND = 5;
const BURST = 2;
const N = 12;

let paced: Receiver;
let hookd: RunningHookd;
const peers = usePeers();

before(async () => {
  paced = await peers.receiver();
  hookd = await peers.hookd({
    rules: {
      'r.yaml': `
webhooks:
  - identifier: paced
    url: ${paced.url}/in
    events: [order.*]
    rateLimit: {perSecond: ${PER_SECOND}, burst: ${BURST}}
`,
    },
  });
});

test(`a webhook with rateLimit ${PER_SECOND}/s (burst ${BURST}) is paced`, async () => {
  const r = await fetch(`${hookd.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(Array.from({ length: N }, (_, i) => ({ id: `o-${i}`, type: 'order.created' }))),
  });
  assert.equal(r.status, 202);
  const ids = ((await r.json()) as { events: { deliveries: string[] }[] }).events.flatMap(
    (e) => e.deliveries,
  );
  const { deliveries, attempts } = hookd.app.store;
  await waitFor(
    `all ${N} deliveries to succeed`,
    async () =>
      (await Promise.all(ids.map((id) => deliveries.get(id)))).every((d) => d?.state === 'succeeded'),
    { saw: () => deliveries.depth() },
  );
  const rows = await Promise.all(
    ids.map(async (id) => ({ d: (await deliveries.get(id))!, a: await attempts.of(id) })),
  );
  assert.equal(paced.requests.length, N);

  const starts = (identifier: string) =>
    rows
      .filter((r) => r.d.identifier === identifier)
      .map((r) => r.a[0]!.started_at)
      .sort((a, b) => a - b);
  const pacedStarts = starts('paced');
  // The bucket starts full when the first attempt is due: attempt k (0-based) may start once
  // k + 1 - burst tokens have come in since, one every 1/perSecond. The bucket counts from the
  // dispatcher's decision, a few ms before the attempt records its start: SLACK_MS allows for that.
  const every = 1000 / PER_SECOND;
  const SLACK_MS = every / 4;
  for (const [k, at] of pacedStarts.entries()) {
    const earliest = pacedStarts[0]! + Math.max(0, k + 1 - BURST) * every - SLACK_MS;
    assert.ok(
      at >= earliest,
      `attempt ${k + 1} started ${at - pacedStarts[0]!} ms after the first; the limit allows it at ${earliest - pacedStarts[0]!} ms`,
    );
  }
});
