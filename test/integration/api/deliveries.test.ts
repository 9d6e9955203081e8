/**
 * Issue 7: the run-time routes of the native API against a real hookd and
 * real receivers: `POST /v1/webhooks/{id}/test` sends through the real
 * transport and returns the attempt; `PUT /v1/webhooks/{id}/state` holds
 * and resumes deliveries; `GET /v1/webhooks/{id}/deliveries` lists them
 * with their attempts; `POST /v1/deliveries/{id}/retry` and
 * `POST /v1/webhooks/{id}/retry-failed` put dead letters back in the queue
 * and the dispatcher picks them up.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import type { RunningHookd } from '../../helpers/hookd.ts';
import { usePeers } from '../../helpers/peers.ts';
import type { Receiver } from '../../helpers/receiver.ts';
import {
  Client,
  type DeliveryView,
  deliveriesWhen,
  publish,
  tokens,
  undocumentedStatuses,
} from './helpers.ts';

const SECRET = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';

let receiver: Receiver;
let hookd: RunningHookd;
let api: Client;
/** Answer per path prefix; default 200. */
const answers = new Map<string, number>();

const peers = usePeers();

before(async () => {
  receiver = await peers.receiver();
  receiver.respond((req) => {
    for (const [prefix, status] of answers)
      if (req.url.startsWith(prefix)) return { status, body: `status ${status}` };
    return { status: 200, body: 'ok' };
  });
  hookd = await peers.hookd({ config: { api: { tokens: tokens() } } });
  api = new Client(hookd.url);
});

async function create(body: Record<string, unknown>): Promise<string> {
  const r = await api.post<{ id: string }>('/v1/webhooks', body);
  assert.equal(r.status, 201, r.text);
  return r.body.id;
}

test('test sends a dummy event through the real transport, signed, and returns the attempt', async () => {
  const id = await create({
    identifier: 'tested',
    url: `${receiver.url}/tested/{/type}`,
    events: ['order.created', 'order.*'],
    secret: SECRET,
  });
  const n = receiver.requests.length;
  const r = await api.post(`/v1/webhooks/${id}/test`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.outcome, 'success');
  assert.equal(r.body.status, 200);
  assert.equal(r.body.response, 'ok');
  assert.equal(r.body.eventType, 'order.created');
  const got = receiver.requests[n]!;
  assert.equal(got.url, '/tested/order.created');
  const event = JSON.parse(got.body) as { id: string; data: unknown };
  assert.equal(event.id, r.body.eventId);
  assert.deepEqual(event.data, { test: true, webhook: 'tested' });
  // Verifiable with the Standard Webhooks library: it went through the real http transport.
  new StandardWebhook(SECRET).verify(got.body, got.headers as Record<string, string>);
  assert.equal(got.headers['webhook-id'], r.body.deliveryId);

  answers.set('/failing-test', 503);
  const bad = await create({ identifier: 'tested-bad', url: `${receiver.url}/failing-test` });
  const f = await api.post(`/v1/webhooks/${bad}/test`);
  assert.equal(f.status, 200);
  assert.equal(f.body.outcome, 'retryable');
  assert.equal(f.body.status, 503);
  assert.equal(f.body.response, 'status 503');
  // A test is not an event: nothing is stored for it.
  assert.equal((await api.get<{ items: unknown[] }>(`/v1/webhooks/${bad}/deliveries`)).body.items.length, 0);
});

test('a 410 to a test send stops the webhook, as it does for a delivery (one delivery policy decides)', async () => {
  answers.set('/gone-test', 410);
  const gone = await create({ identifier: 'tested-gone', url: `${receiver.url}/gone-test` });
  const r = await api.post(`/v1/webhooks/${gone}/test`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.outcome, r.body.status], ['permanent', 410]);
  assert.equal((await api.get(`/v1/webhooks/${gone}`)).body.state, 'Stopped');
  // Back to Active: the next test lists the Stopped webhooks.
  assert.equal((await api.put(`/v1/webhooks/${gone}/state`, { state: 'Active' })).status, 200);
});

test('state Stopped holds deliveries; Active resumes them; the state shows in the webhook', async () => {
  const held = await create({ identifier: 'held', url: `${receiver.url}/held`, events: ['hold.*'] });
  const free = await create({ identifier: 'free', url: `${receiver.url}/free`, events: ['hold.*'] });
  const s = await api.put(`/v1/webhooks/${held}/state`, { state: 'Stopped', reason: 'maintenance' });
  assert.equal(s.status, 200, s.text);
  assert.equal(s.body.state, 'Stopped');
  assert.equal((await api.get(`/v1/webhooks/${held}`)).body.state, 'Stopped');
  assert.deepEqual(
    (await api.get<{ items: { id: string }[] }>('/v1/webhooks?state=Stopped')).body.items.map((w) => w.id),
    [held],
  );

  await publish(hookd, [{ id: 'hold-1', type: 'hold.now', data: {} }]);
  // The same event reached the other webhook; the stopped one's delivery is kept, not attempted.
  await deliveriesWhen(api, free, (d) => d.length === 1 && d[0]!.state === 'succeeded');
  const kept = (await api.get<{ items: DeliveryView[] }>(`/v1/webhooks/${held}/deliveries`)).body.items;
  assert.equal(kept.length, 1);
  assert.equal(kept[0]!.state, 'pending');
  assert.equal(kept[0]!.attemptCount, 0);
  assert.ok(!receiver.requests.some((r) => r.url === '/held'));

  const bad = await api.put(`/v1/webhooks/${held}/state`, { state: 'Paused' });
  assert.equal(bad.status, 400);
  assert.deepEqual(
    (bad.body.problems as { path: string }[]).map((p) => p.path),
    ['state'],
  );

  const a = await api.put(`/v1/webhooks/${held}/state`, { state: 'Active' });
  assert.equal(a.status, 200);
  assert.equal(a.body.state, 'Active');
  await deliveriesWhen(api, held, (d) => d.length === 1 && d[0]!.state === 'succeeded');
  assert.ok(receiver.requests.some((r) => r.url === '/held'));
});

test('deliveries list attempts; one failed delivery is retried; retry-failed requeues the rest', async () => {
  answers.set('/dead', 400);
  const id = await create({ identifier: 'dead', url: `${receiver.url}/dead/{/id}`, events: ['dead.*'] });
  await publish(hookd, [
    { id: 'dead-1', type: 'dead.x', data: {} },
    { id: 'dead-2', type: 'dead.x', data: {} },
    { id: 'dead-3', type: 'dead.x', data: {} },
  ]);
  const failed = await deliveriesWhen(api, id, (d) => d.length === 3 && d.every((x) => x.state === 'failed'));
  for (const d of failed) {
    assert.equal(d.attempts.length, 1);
    assert.equal(d.attempts[0]!.outcome, 'permanent');
    assert.equal(d.attempts[0]!.status, 400);
  }
  // Pages: newest first, two then one, nothing repeated.
  const p1 = await api.get<{ items: DeliveryView[]; next: string }>(`/v1/webhooks/${id}/deliveries?limit=2`);
  assert.equal(p1.body.items.length, 2);
  const p2 = await api.get<{ items: DeliveryView[]; next: string | null }>(
    `/v1/webhooks/${id}/deliveries?limit=2&before=${p1.body.next}`,
  );
  assert.equal(p2.body.items.length, 1);
  assert.deepEqual(
    [...p1.body.items, ...p2.body.items].map((d) => d.id).sort(),
    failed.map((d) => d.id).sort(),
  );
  assert.equal((await api.get(`/v1/webhooks/${id}/deliveries?state=failed&limit=9999`)).status, 400);

  answers.set('/dead', 200);
  const one = failed.find((d) => d.eventId === 'dead-1')!;
  const r = await api.post(`/v1/deliveries/${one.id}/retry`);
  assert.equal(r.status, 202, r.text);
  assert.equal(r.body.state, 'pending');
  await deliveriesWhen(api, id, (d) => d.find((x) => x.id === one.id)?.state === 'succeeded');
  const again = await api.post(`/v1/deliveries/${one.id}/retry`);
  assert.equal(again.status, 409, 'only failed deliveries are retried');

  const rf = await api.post(`/v1/webhooks/${id}/retry-failed`, {});
  assert.equal(rf.status, 202, rf.text);
  assert.deepEqual(rf.body, { requeued: 2 });
  const done = await deliveriesWhen(api, id, (d) => d.every((x) => x.state === 'succeeded'));
  assert.equal(done.length, 3);
  const d2 = done.find((d) => d.eventId === 'dead-2')!;
  assert.deepEqual(
    d2.attempts.map((a) => a.outcome),
    ['permanent', 'success'],
  );
  const none = await api.post(`/v1/webhooks/${id}/retry-failed`, { since: '2000-01-01T00:00:00Z' });
  assert.deepEqual(none.body, { requeued: 0 });
  const badSince = await api.post(`/v1/webhooks/${id}/retry-failed`, { since: 'yesterday' });
  assert.equal(badSince.status, 400);
});

test('every status answered in this file is in /openapi.json for its route (issue 16)', async () => {
  assert.deepEqual(await undocumentedStatuses(hookd.url), []);
});
