import assert from 'node:assert/strict';
import { test } from 'node:test';
import { leaseKey } from '../../../src/source/consumer-lease.ts';

test('lease keys are valid KV keys, and different stream/consumer names never share one', () => {
  const names = [
    'hookd',
    'a.b',
    'a=2eb',
    'a=b',
    'a/b',
    'é',
    'e\u0301',
    '日本',
    'a b',
    'a_b',
    'a-b',
    '=00002e',
  ];
  const keys = new Set<string>();
  for (const stream of ['EVENTS', 'EV.ENTS', ...names])
    for (const consumer of names) {
      const key = leaseKey(stream, consumer);
      assert.match(key, /^[-/_=.a-zA-Z0-9]+$/, key);
      keys.add(key);
    }
  assert.equal(keys.size, (2 + names.length) * names.length);
});
