/**
 * A delivery's id is derived from the event's identity and the webhook
 * (DESIGN.md section 2): the same pair always gets the same id, and any two
 * identities that differ get different ids.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deliveryId } from '../../../src/outbox/delivery-id.ts';

test('the same (event identity, webhook) always gets the same id', () => {
  assert.equal(deliveryId({ id: 'e1' }, 'w1'), deliveryId({ id: 'e1' }, 'w1'));
  assert.equal(deliveryId({ source: '/a', id: 'e1' }, 'w1'), deliveryId({ source: '/a', id: 'e1' }, 'w1'));
  assert.notEqual(deliveryId({ id: 'e1' }, 'w1'), deliveryId({ id: 'e1' }, 'w2'));
  assert.match(deliveryId({ id: 'e1' }, 'w1'), /^msg_[A-Za-z0-9_-]{27}$/);
});

test('issue 13 failure 5: ids that differ only in lone surrogates are two events', () => {
  // UTF-8 turns every lone surrogate into U+FFFD, so hashing the UTF-8 form made these equal.
  const a = deliveryId({ id: 'evt-\ud800' }, 'w1');
  const b = deliveryId({ id: 'evt-\udbff' }, 'w1');
  const c = deliveryId({ id: 'evt-\ufffd' }, 'w1');
  assert.notEqual(a, b);
  assert.notEqual(a, c);
  assert.notEqual(b, c);
  assert.notEqual(
    deliveryId({ source: '\udc00', id: 'x' }, 'w1'),
    deliveryId({ source: '\udc01', id: 'x' }, 'w1'),
  );
});

test('identity is (source, id): the same id from two sources is two events', () => {
  const ids = new Set([
    deliveryId({ id: 'e1' }, 'w1'),
    deliveryId({ source: '/crm', id: 'e1' }, 'w1'),
    deliveryId({ source: '/shop', id: 'e1' }, 'w1'),
    deliveryId({ source: '', id: 'e1' }, 'w1'),
  ]);
  assert.equal(ids.size, 4);
});

test('parts never run into each other', () => {
  // A separator could be forged by a value containing it; lengths cannot.
  assert.notEqual(deliveryId({ source: 'a', id: 'b\0c' }, 'w'), deliveryId({ source: 'a\0b', id: 'c' }, 'w'));
  assert.notEqual(deliveryId({ id: 'a\0b' }, 'c'), deliveryId({ id: 'a' }, 'b\0c'));
});

test('ids of plain well-formed event ids are unchanged (stable across an upgrade)', () => {
  // Computed by the earlier formula sha256(utf8(id) NUL webhook): deliveries stored
  // before an upgrade and redelivered after it keep their id.
  assert.equal(deliveryId({ id: 'e1' }, 'w1'), 'msg_WD25eSQvBl6fEOkk7AVq3NUkpl1');
});
