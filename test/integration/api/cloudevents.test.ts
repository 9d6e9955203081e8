/**
 * Issue 16, acceptance 1 (HTTP half): the `cloudevents` npm SDK's own
 * emitters deliver through `POST /v1/events` in structured, binary and
 * batch mode; binary data with a non-JSON `datacontenttype` is kept as
 * sent; event identity is (`source`, `id`), compared as exact code units
 * (issue 13 failure 5).
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { CloudEvent, CONSTANTS, emitterFor, type Message, Mode } from 'cloudevents';
import type { RunningHookd } from '../../helpers/hookd.ts';
import { usePeers } from '../../helpers/peers.ts';
import type { Received, Receiver } from '../../helpers/receiver.ts';
import { waitFor } from '../../helpers/wait.ts';

let receiver: Receiver;
let hookd: RunningHookd;

const peers = usePeers();

before(async () => {
  receiver = await peers.receiver();
  hookd = await peers.hookd({
    rules: { 'ce.yaml': `webhooks:\n  - identifier: ce\n    url: ${receiver.url}/ce/{/type}\n` },
  });
});

/** Posts what the SDK serialized, unchanged, and returns hookd's answer. */
async function post(message: Message): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(message.headers)) headers[k] = String(v);
  const r = await fetch(`${hookd.url}/v1/events`, {
    method: 'POST',
    headers,
    body: message.body as string | Uint8Array,
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

/** Waits until `n` requests for `type` arrived. */
function received(type: string, n: number): Promise<Received[]> {
  const got = () => receiver.requests.filter((r) => r.url === `/ce/${type}`);
  return waitFor(`${n} deliveries of ${type}`, () => (got().length >= n ? got() : undefined), {
    saw: () => got().map((r) => r.body),
  });
}

function emitter(mode: Mode) {
  let answer: Promise<{ status: number; body: Record<string, unknown> }> | undefined;
  const emit = emitterFor(
    (message: Message) => {
      answer = post(message);
      return answer;
    },
    { mode },
  );
  return async (event: CloudEvent<unknown>) => {
    await emit(event);
    return answer!;
  };
}

test('the SDK structured emitter delivers', async () => {
  const send = emitter(Mode.STRUCTURED);
  const r = await send(new CloudEvent({ id: 's-1', type: 'ce.structured', source: '/sdk', data: { n: 1 } }));
  assert.equal(r.status, 202, JSON.stringify(r.body));
  const [d] = await received('ce.structured', 1);
  const body = JSON.parse(d!.body);
  assert.equal(body.id, 's-1');
  assert.equal(body.source, '/sdk');
  assert.deepEqual(body.data, { n: 1 });
});

test('the SDK binary emitter delivers, and the data’s own id stays data', async () => {
  const send = emitter(Mode.BINARY);
  const r = await send(
    new CloudEvent({ id: 'b-1', type: 'ce.binary', source: '/sdk', subject: 's', data: { id: 'contact-9' } }),
  );
  assert.equal(r.status, 202, JSON.stringify(r.body));
  assert.equal(r.body.deliveries, 1);
  const [d] = await received('ce.binary', 1);
  const body = JSON.parse(d!.body);
  assert.equal(body.id, 'b-1');
  assert.equal(body.type, 'ce.binary');
  assert.equal(body.subject, 's');
  assert.deepEqual(body.data, { id: 'contact-9' });
});

test('binary mode without ce-id answers 400 naming the header', async () => {
  const r = await fetch(`${hookd.url}/v1/events`, {
    method: 'POST',
    headers: {
      'ce-specversion': '1.0',
      'ce-type': 'ce.binary',
      'ce-source': '/x',
      'content-type': 'application/json',
    },
    body: '{"id":"not-the-event-id"}',
  });
  assert.equal(r.status, 400);
  const body = (await r.json()) as { problems: { path: string }[] };
  assert.equal(body.problems[0]?.path, 'ce-id');
});

test('binary mode with a non-JSON datacontenttype delivers the data as sent', async () => {
  const xml = '<order id="7">Grüße &amp; more</order>';
  const r = await emitter(Mode.BINARY)(
    new CloudEvent({
      id: 'x-1',
      type: 'ce.xml',
      source: '/sdk',
      datacontenttype: 'application/xml',
      data: xml,
    }),
  );
  assert.equal(r.status, 202, JSON.stringify(r.body));
  const [d] = await received('ce.xml', 1);
  const body = JSON.parse(d!.body);
  assert.equal(body.data, xml);
  assert.equal(body.datacontenttype, 'application/xml');
});

test('a batch (application/cloudevents-batch+json) of SDK events delivers each', async () => {
  const events = [1, 2, 3].map(
    (i) => new CloudEvent({ id: `batch-${i}`, type: 'ce.batch', source: '/sdk', data: { i } }),
  );
  const r = await post({
    headers: { 'content-type': CONSTANTS.MIME_CE_BATCH },
    body: JSON.stringify(events),
  });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  assert.equal(r.body.accepted, 3);
  const got = await received('ce.batch', 3);
  assert.deepEqual(got.map((d) => JSON.parse(d.body).id).sort(), ['batch-1', 'batch-2', 'batch-3']);
  const single = await post({
    headers: { 'content-type': CONSTANTS.MIME_CE_BATCH },
    body: JSON.stringify(events[0]),
  });
  assert.equal(single.status, 400, 'a batch must be an array');
});

test('the same id from two sources is two events; the same (source, id) is one', async () => {
  const send = emitter(Mode.STRUCTURED);
  for (const source of ['/crm', '/shop', '/crm']) {
    const r = await send(new CloudEvent({ id: 'same-id', type: 'ce.identity', source, data: {} }));
    assert.equal(r.status, 202, JSON.stringify(r.body));
  }
  const got = await received('ce.identity', 2);
  assert.deepEqual(got.map((d) => JSON.parse(d.body).source).sort(), ['/crm', '/shop']);
  // The third post (a repeat of /crm) added no delivery.
  const r = await send(new CloudEvent({ id: 'same-id', type: 'ce.identity', source: '/crm', data: {} }));
  assert.equal(r.body.deliveries, 0);
});

test('issue 13 failure 5: ids that differ only in lone surrogates are two events', async () => {
  // JSON escapes carry lone surrogates through; UTF-8 would turn both into U+FFFD.
  for (const id of ['lone-\\ud800', 'lone-\\udbff']) {
    const r = await fetch(`${hookd.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"id":"${id}","type":"ce.lone"}`,
    });
    const body = (await r.json()) as { deliveries: number };
    assert.equal(r.status, 202);
    assert.equal(body.deliveries, 1, `${id} got its own delivery`);
  }
  await received('ce.lone', 2);
});
