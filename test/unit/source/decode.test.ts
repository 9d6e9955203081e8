import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeEvent } from '../../../src/source/decode.ts';

const base = { subject: 'events.x', maxBytes: 1000, receivedAt: 1 };

test('CloudEvents structured mode: attributes, data and extensions', () => {
  const d = decodeEvent({
    ...base,
    payload: JSON.stringify({
      specversion: '1.0',
      id: 'a',
      type: 'contact.created',
      source: '/crm',
      webhook: 'crm',
      tenant: 't',
      data: { id: 7 },
    }),
  });
  assert.ok(d.ok);
  assert.equal(d.event.id, 'a');
  assert.equal(d.event.type, 'contact.created');
  assert.equal(d.event.source, '/crm');
  assert.deepEqual(d.event.data, { id: 7 });
  assert.deepEqual(d.event.extensions, { webhook: 'crm', tenant: 't' });
});

test('binary mode: ce-* headers are the attributes, the payload is the data', () => {
  const headers = new Map([
    ['ce-id', 'b1'],
    ['ce-type', 'order.created'],
    ['ce-source', '/shop'],
    ['ce-region', 'eu'],
    ['content-type', 'application/json'],
  ]);
  const d = decodeEvent({ ...base, headers, payload: '{"total":3}' });
  assert.ok(d.ok);
  assert.equal(d.event.id, 'b1');
  assert.equal(d.event.type, 'order.created');
  assert.deepEqual(d.event.data, { total: 3 });
  assert.deepEqual(d.event.extensions, { region: 'eu' });
  assert.equal(d.event.body.type, 'order.created');
});

test('identity: id, else Nats-Msg-Id, else the stream sequence', () => {
  const withMsgId = decodeEvent({
    ...base,
    payload: '{"type":"x"}',
    headers: new Map([['nats-msg-id', 'm-1']]),
    fallbackId: 'EVENTS:9',
  });
  assert.ok(withMsgId.ok && withMsgId.event.id === 'm-1');
  const withSeq = decodeEvent({ ...base, payload: '{"type":"x"}', fallbackId: 'EVENTS:9' });
  assert.ok(withSeq.ok && withSeq.event.id === 'EVENTS:9');
  const numeric = decodeEvent({ ...base, payload: '{"id":12,"type":"x"}' });
  assert.ok(numeric.ok && numeric.event.id === '12');
});

test('rejections carry their reason', () => {
  const reason = (payload: string, extra = {}) => {
    const d = decodeEvent({ ...base, payload, ...extra });
    return d.ok ? 'accepted' : d.reason;
  };
  assert.equal(reason('nope'), 'invalid_json');
  assert.equal(reason('[1]'), 'not_object');
  assert.equal(reason('"s"'), 'not_object');
  assert.equal(reason(JSON.stringify({ id: 'x', pad: 'y'.repeat(2000) })), 'too_large');
  assert.equal(reason('{"type":"x"}', { requireId: true }), 'missing_id');
  assert.equal(reason('{"id":"","type":"x"}'), 'invalid_id');
  assert.equal(reason('{"id":{"a":1}}'), 'invalid_id');
});

test('binary mode with a non-JSON datacontenttype keeps the data as sent', () => {
  const headers = (ct: string) =>
    new Map([
      ['ce-specversion', '1.0'],
      ['ce-id', 'x1'],
      ['ce-type', 'doc.created'],
      ['ce-source', '/docs'],
      ['content-type', ct],
    ]);
  const xml = decodeEvent({ ...base, headers: headers('application/xml'), payload: '<doc id="1">ü</doc>' });
  assert.ok(xml.ok, xml.ok ? '' : xml.detail);
  assert.equal(xml.event.data, '<doc id="1">ü</doc>');
  assert.equal(xml.event.body.datacontenttype, 'application/xml');
  const bytes = Uint8Array.from([0xff, 0x00, 0xfe]);
  const bin = decodeEvent({ ...base, headers: headers('application/octet-stream'), payload: bytes });
  assert.ok(bin.ok);
  assert.equal(bin.event.body.data_base64, '/wD+');
  assert.equal('data' in bin.event.body, false);
  // JSON content types are still parsed, and bad JSON is still rejected.
  const json = decodeEvent({
    ...base,
    headers: headers('application/vnd.x+json; charset=utf-8'),
    payload: '{"a":1}',
  });
  assert.ok(json.ok && (json.event.data as { a: number }).a === 1);
  const bad = decodeEvent({ ...base, headers: headers('application/json'), payload: '<a/>' });
  assert.ok(!bad.ok && bad.reason === 'invalid_json');
});

test('binary mode: the data’s own id is data, not the event id', () => {
  const headers = new Map([
    ['ce-specversion', '1.0'],
    ['ce-id', 'evt-1'],
    ['ce-type', 'contact.created'],
    ['ce-source', '/crm'],
  ]);
  const d = decodeEvent({ ...base, headers, payload: '{"id":"contact-9"}', requireId: true });
  assert.ok(d.ok);
  assert.equal(d.event.id, 'evt-1');
  assert.equal(d.event.type, 'contact.created');
  assert.equal(d.event.source, '/crm');
  assert.deepEqual(d.event.data, { id: 'contact-9' });
});
