/**
 * The `jetstream` backend's messages as text (records.ts `queuedText`,
 * taken.ts): a queued delivery ends with its request, and the records that
 * follow it (a retry with its attempts, the end record) are cut from that
 * text rather than serialized again. Each record must parse to exactly what
 * building it as an object gives, whatever the message looks like (written
 * by hookd, or by an older one with the request elsewhere).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Msg } from '@nats-io/transport-node';
import type { AttemptRow, NewDelivery } from '../../../src/outbox/contract.ts';
import { queuedText } from '../../../src/outbox/jetstream/records.ts';
import { TakenMessage } from '../../../src/outbox/jetstream/taken.ts';

/** A message as a pull hands it over: the reply subject carries the stream sequence. */
function pulled(text: string, attempt = 0): TakenMessage {
  const headers = new Map([
    ['Hookd-Attempt', String(attempt)],
    ['Hookd-Not-Before', '0'],
  ]);
  const msg = {
    subject: 'hookd.deliveries.hook',
    reply: '$JS.ACK.HOOKD_DELIVERIES.hookd-hook.1.7.7.1700000000000000000.0',
    data: new TextEncoder().encode(text),
    headers: { get: (k: string) => headers.get(k) ?? '' },
    respond: () => true,
  } as unknown as Msg;
  return new TakenMessage(msg, Date.now());
}

function delivery(request: NewDelivery['request'], requestHead?: string): NewDelivery {
  return {
    id: 'msg_abc',
    eventId: 'ev-1',
    eventType: 'order.created',
    webhookId: 'hook',
    identifier: 'hook',
    transport: 'http',
    priority: 0,
    receivedAt: 1_700_000_000_000,
    nextAttemptAt: 1_700_000_000_000,
    request,
    requestHead,
  };
}

const row = (attempt: number, outcome: AttemptRow['outcome']): AttemptRow => ({
  attempt,
  started_at: 1_700_000_000_100 + attempt,
  duration_ms: 3,
  outcome,
  status: outcome === 'success' ? 200 : 500,
  error: outcome === 'success' ? null : 'HTTP 500 "request": no, "\\"request\\":" either',
  response: null,
});

/** What a first attempt's success ends as: the delivery without its request, and the outcome. */
const succeededFirstTime = (withoutRequest: object) => ({
  ...withoutRequest,
  state: 'succeeded',
  attempts: [row(1, 'success')],
  finishedAt: 5,
  lastError: null,
});

/** Members in the order the text has them. */
const keysOf = (text: string) => Object.keys(JSON.parse(text) as object);

// A request whose header is named "request" and whose body holds `,"request":` itself.
const request = {
  url: 'http://127.0.0.1:1/in',
  method: 'POST',
  headers: { request: 'x', 'content-type': 'application/json' },
  body: '{"a":1,"request":{"b":2}}',
};
const { body: _, ...head } = request;

test('a queued delivery has every field of the delivery and its request last, with or without the head given', () => {
  for (const text of [queuedText(delivery(request, JSON.stringify(head)))!, queuedText(delivery(request))]) {
    const { nextAttemptAt: _n, requestHead: _h, ...expected } = delivery(request);
    assert.deepEqual(JSON.parse(text), expected);
    assert.equal(keysOf(text).at(-1), 'request');
  }
  const bare = queuedText(delivery({ body: '' }, '{}'));
  assert.deepEqual(JSON.parse(bare).request, { body: '' });
});

test('records cut from a first attempt parse to what building them as objects gives', () => {
  const d = delivery(request, JSON.stringify(head));
  const { nextAttemptAt: _n, requestHead: _h, ...queued } = d;
  const attempts = [row(1, 'retryable')];

  const retry = pulled(queuedText(d)).queuedWith(attempts);
  assert.deepEqual(JSON.parse(retry), { ...queued, attempts });
  assert.equal(keysOf(retry).at(-1), 'request', 'the retry keeps its request last');

  const { request: _r, ...withoutRequest } = queued;
  const ok = pulled(queuedText(d)).finished('succeeded', [row(1, 'success')], 5, null);
  assert.deepEqual(JSON.parse(ok), succeededFirstTime(withoutRequest));

  const dead = pulled(queuedText(d)).finished('failed', [row(1, 'permanent')], 6, 'gone');
  assert.deepEqual(JSON.parse(dead), {
    ...queued,
    state: 'failed',
    attempts: [row(1, 'permanent')],
    finishedAt: 6,
    lastError: 'gone',
  });
});

test('a later attempt replaces the attempts (one member, not two) and keeps the request last', () => {
  const d = delivery(request, JSON.stringify(head));
  const { nextAttemptAt: _n, requestHead: _h, ...queued } = d;
  const first = pulled(queuedText(d)).queuedWith([row(1, 'retryable')]);
  const both = [row(1, 'retryable'), row(2, 'retryable')];
  const second = pulled(first, 1).queuedWith(both);
  assert.equal(second.split('"attempts":').length, 2, second);
  assert.deepEqual(JSON.parse(second), { ...queued, attempts: both });
  assert.equal(keysOf(second).at(-1), 'request');

  const { request: _r, ...withoutRequest } = queued;
  const ended = pulled(second, 2).finished('succeeded', [...both, row(3, 'success')], 9, null);
  assert.equal(ended.split('"attempts":').length, 2, ended);
  assert.deepEqual(JSON.parse(ended), {
    ...withoutRequest,
    state: 'succeeded',
    attempts: [...both, row(3, 'success')],
    finishedAt: 9,
    lastError: null,
  });
});

test('a message with its request elsewhere (an older hookd wrote it) is rebuilt, not cut', () => {
  const d = delivery(request);
  const { nextAttemptAt: _n, requestHead: _h, ...queued } = d;
  const { request: r, ...rest } = queued;
  const older = JSON.stringify({ request: r, ...rest });
  const retry = pulled(older).queuedWith([row(1, 'retryable')]);
  assert.deepEqual(JSON.parse(retry), { ...queued, attempts: [row(1, 'retryable')] });
  const ok = pulled(older).finished('succeeded', [row(1, 'success')], 5, null);
  assert.deepEqual(JSON.parse(ok), succeededFirstTime(rest));
});
