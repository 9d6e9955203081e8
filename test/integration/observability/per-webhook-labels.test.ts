/**
 * `metrics.perWebhookLabels: false` (for very large installations): a
 * running hookd exports no identifier in any label; every per-webhook
 * series says `all`, and the state gauge counts webhooks per state.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { RunningHookd } from '../../helpers/hookd.ts';
import { usePeers } from '../../helpers/peers.ts';
import type { Receiver } from '../../helpers/receiver.ts';
import { waitFor } from '../../helpers/wait.ts';

let receiver: Receiver;
let hookd: RunningHookd;

const peers = usePeers();

before(async () => {
  receiver = await peers.receiver();
  receiver.respond((req) => ({ status: req.url === '/fine' ? 200 : 500 }));
  hookd = await peers.hookd({
    rules: {
      'r.yaml': `webhooks:
  - identifier: billing-fine
    url: ${receiver.url}/fine
    events: [t.fine]
  - identifier: crm-broken
    url: ${receiver.url}/broken
    events: [t.broken]
    breaker: {failures: 1, cooldownMs: 60000}
`,
    },
    config: { metrics: { perWebhookLabels: false } },
  });
});

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('no identifier appears in any label; series say all and add up', async () => {
  const r = await fetch(`${hookd.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([
      { id: 'f1', type: 't.fine' },
      { id: 'f2', type: 't.fine' },
      { id: 'b1', type: 't.broken' },
    ]),
  });
  assert.equal(r.status, 202);
  await receiver.waitFor(3, 10_000);
  let text = '';
  await waitFor(
    'the "all" webhook in TooManyErrors on /metrics',
    async () => {
      text = await (await fetch(`${hookd.url}/metrics`)).text();
      return value(text, 'hookd_webhook_state{webhook="all",state="TooManyErrors"}') === 1;
    },
    { saw: () => text },
  );
  assert.doesNotMatch(text, /billing-fine|crm-broken/);
  assert.equal(value(text, 'hookd_deliveries_total{webhook="all",type="http",outcome="succeeded"}'), 2);
  assert.equal(
    value(text, 'hookd_delivery_attempts_total{webhook="all",type="http",outcome="retryable"}'),
    1,
  );
  assert.equal(value(text, 'hookd_breaker_transitions_total{webhook="all",to="open"}'), 1);
  assert.equal(value(text, 'hookd_webhook_state{webhook="all",state="TooManyErrors"}'), 1);
  assert.equal(value(text, 'hookd_webhook_state{webhook="all",state="Active"}'), 1);
});
