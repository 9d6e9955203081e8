/** Webhook ids as KV key tokens (`jetstream` backend): only allowed characters, and distinct ids never share one. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { idToken, tokenId } from '../../../src/outbox/jetstream/index.ts';

test('an id becomes one token of allowed characters, and distinct ids stay distinct', () => {
  const ids = [
    'orders-hook',
    'a.b',
    'a=2e',
    'a=',
    'a b',
    'ä',
    'a/b',
    'a*',
    'a>',
    '=3d',
    'A',
    'a',
    '🦆',
    'a_b',
  ];
  const tokens = ids.map(idToken);
  assert.deepEqual(tokens.map(tokenId), ids, 'a token gives its id back (outcome subjects name the webhook)');
  for (const bad of ['a.b', 'a=2', 'a=zz', 'a=2E', '=ff'])
    assert.equal(tokenId(bad), undefined, `${bad} is no token of an id`);
  for (const t of tokens) assert.match(t, /^[-_=a-zA-Z0-9]+$/);
  assert.equal(new Set(tokens).size, ids.length, `tokens: ${tokens.join(' ')}`);
  assert.equal(idToken('orders-hook'), 'orders-hook', 'plain ids stay readable');
  assert.equal(idToken('a.b'), 'a=2eb');
});
