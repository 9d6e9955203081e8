import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nestingDepth, parseBoundedJson } from '../../../src/source/bounded-json.ts';

const limits = { maxBytes: 1024, maxDepth: 3 };

test('nesting depth counts objects and arrays, not brackets inside strings', () => {
  assert.equal(nestingDepth('1', 10).depth, 0);
  assert.equal(nestingDepth('{"a":[{"b":1}]}', 10).depth, 3);
  assert.equal(nestingDepth('{"a":"[[[{{{","b":"\\"[[["}', 10).depth, 1);
  assert.equal(nestingDepth('["\\\\",[[1]]]', 10).depth, 3, 'an escaped backslash ends before the quote');
});

test('within the limits the value is parsed', () => {
  assert.deepEqual(parseBoundedJson('{"a":[{"b":1}]}', limits), { ok: true, value: { a: [{ b: 1 }] } });
  assert.deepEqual(parseBoundedJson(Buffer.from('[1,2]'), limits), { ok: true, value: [1, 2] });
});

test('too deep: rejected before parsing, naming the limit and the position', () => {
  const r = parseBoundedJson('{"a":[{"b":[1]}]}', limits);
  assert.equal(r.ok, false);
  assert.ok(!r.ok);
  assert.equal(r.reason, 'too_deep');
  assert.match(r.detail, /at character 12; events\.maxDepth is 3/);
  const huge = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
  assert.equal(
    (parseBoundedJson(huge, { maxBytes: 1e6, maxDepth: 128 }) as { reason: string }).reason,
    'too_deep',
  );
});

test('too large is measured in UTF-8 bytes; malformed text is invalid_json', () => {
  const r = parseBoundedJson(`"${'é'.repeat(600)}"`, limits);
  assert.ok(!r.ok);
  assert.equal(r.reason, 'too_large');
  assert.match(r.detail, /event is 1202 bytes; events\.maxBytes is 1024/);
  const bad = parseBoundedJson('{"a":', limits);
  assert.ok(!bad.ok);
  assert.equal(bad.reason, 'invalid_json');
});
