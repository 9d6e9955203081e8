/**
 * Issue 2, acceptance 2: 1,000 CloudEvents published to JetStream reach two
 * HTTP webhooks (one filtered by `events: [contact.*]`), each exactly once,
 * with a `webhook-signature` that the standardwebhooks library verifies.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import type { RunningHookd } from '../helpers/hookd.ts';
import { type NatsServer, waitForConsumer } from '../helpers/nats-server.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

const SECRET_ALL = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const SECRET_CONTACTS = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';

let nats: NatsServer;
let all: Receiver;
let contacts: Receiver;
let hookd: RunningHookd;

const peers = usePeers();

before(async () => {
  nats = await peers.nats();
  all = await peers.receiver();
  contacts = await peers.receiver();
  hookd = await peers.hookd({
    rules: {
      'hooks.yaml': `
webhooks:
  - identifier: everything
    url: ${all.url}/all
    secret: ${SECRET_ALL}
  - identifier: contacts
    url: ${contacts.url}/contacts/{/data/id}
    events: [contact.*]
    secret: ${SECRET_CONTACTS}
    headers:
      X-Tenant: "{/tenant}"
`,
    },
    config: { nats: { url: nats.url } },
  });
});

test('1,000 CloudEvents reach both webhooks exactly once, signed', async () => {
  await waitForConsumer(nats.url);
  const nc = await connect({ servers: nats.url });
  const js = jetstream(nc);
  const N = 1000;
  const types = ['contact.created', 'contact.updated', 'sale.changed', 'order.created'];
  let contactEvents = 0;
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < N; i++) {
    const type = types[i % types.length]!;
    if (type.startsWith('contact.')) contactEvents++;
    const ce = { specversion: '1.0', id: `evt-${i}`, type, source: '/crm', tenant: 't1', data: { id: i } };
    pending.push(js.publish(`events.${type}`, JSON.stringify(ce)));
    if (pending.length >= 200) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  await nc.close();

  await all.waitFor(N, 60_000);
  await contacts.waitFor(contactEvents, 60_000);
  // Nothing more can arrive once every stored delivery has settled: then count.
  await waitFor(
    'every delivery to settle',
    () => {
      const d = hookd.app.store.deliveries.depth();
      return d.pending + d.inflight === 0;
    },
    { saw: () => hookd.app.store.deliveries.depth() },
  );

  assert.equal(all.requests.length, N);
  assert.equal(contacts.requests.length, contactEvents);
  assert.equal(
    new Set(all.requests.map((r) => JSON.parse(r.body).id)).size,
    N,
    'each event once at the catch-all webhook',
  );
  const contactIds = contacts.requests.map((r) => JSON.parse(r.body).id as string);
  assert.equal(new Set(contactIds).size, contactEvents, 'each contact event once');

  const verifyAll = new StandardWebhook(SECRET_ALL);
  const verifyContacts = new StandardWebhook(SECRET_CONTACTS);
  for (const r of all.requests) verifyAll.verify(r.body, r.headers as Record<string, string>);
  for (const r of contacts.requests) {
    verifyContacts.verify(r.body, r.headers as Record<string, string>);
    const body = JSON.parse(r.body);
    assert.match(body.type, /^contact\./);
    assert.equal(r.url, `/contacts/${body.data.id}`, 'templated url');
    assert.equal(r.headers['x-tenant'], 't1', 'templated header');
  }
  // A signature made with the other webhook's secret must not verify.
  assert.throws(() =>
    verifyContacts.verify(all.requests[0]!.body, all.requests[0]!.headers as Record<string, string>),
  );

  const metrics = await (await fetch(`${hookd.url}/metrics`)).text();
  assert.match(metrics, /hookd_events_received_total\{source="nats"\} 1000/);
  assert.match(
    metrics,
    /hookd_deliveries_total\{webhook="everything",type="http",outcome="succeeded"\} 1000/,
  );
});
