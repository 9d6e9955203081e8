/**
 * Issue 13, failure 9: a non-UTF-8 rule file was accepted with its bytes
 * replaced. Files are decoded strictly; the first bad byte is reported at its
 * line and column. Overlong forms, surrogates and truncated sequences are
 * refused like stray bytes; a BOM is dropped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeUtf8, firstInvalidUtf8 } from '../../../src/config/read-text-file.ts';

const b = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

test('valid UTF-8 (multi-byte, emoji) decodes; a BOM is dropped', () => {
  assert.deepEqual(decodeUtf8('f', b('a: café 🎉\n')), { ok: true, text: 'a: café 🎉\n' });
  assert.deepEqual(decodeUtf8('f', b([0xef, 0xbb, 0xbf], 'a: 1')), { ok: true, text: 'a: 1' });
  assert.equal(firstInvalidUtf8(b('plain ascii')), -1);
});

test('each kind of invalid sequence is found at its offset', () => {
  const cases: [string, Buffer, number][] = [
    ['a Latin-1 byte', b('ab', [0xe9], 'c'), 2],
    ['a stray continuation byte', b('x', [0x80]), 1],
    ['an overlong slash', b('x', [0xc0, 0xaf]), 1],
    ['an overlong 3-byte form', b('x', [0xe0, 0x80, 0xaf]), 1],
    ['an encoded surrogate', b('x', [0xed, 0xa0, 0x80]), 1],
    ['above U+10FFFF', b('x', [0xf4, 0x90, 0x80, 0x80]), 1],
    ['a truncated sequence at the end', b('xy', [0xe2, 0x82]), 2],
  ];
  for (const [name, buf, at] of cases) assert.equal(firstInvalidUtf8(buf), at, name);
});

test('a bad byte is a problem at its line and column, naming the byte', () => {
  const r = decodeUtf8('rules/a.yaml', b('webhooks:\n  - identifier: caf', [0xe9], '\n'));
  assert.equal(r.ok, false);
  assert.deepEqual(!r.ok && r.problem, {
    file: 'rules/a.yaml',
    line: 2,
    col: 20,
    message: 'not UTF-8 (byte 0xe9 at offset 29); save the file as UTF-8',
  });
});
