import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePointer, PointerSyntaxError } from '../../../src/source/pointer.ts';

// The example document of RFC 6901, section 5.
const rfcDoc = {
  foo: ['bar', 'baz'],
  '': 0,
  'a/b': 1,
  'c%d': 2,
  'e^f': 3,
  'g|h': 4,
  'i\\j': 5,
  'k"l': 6,
  ' ': 7,
  'm~n': 8,
};

describe('compilePointer (RFC 6901)', () => {
  it('resolves every example of RFC 6901 section 5', () => {
    const cases: [string, unknown][] = [
      ['', rfcDoc],
      ['/foo', ['bar', 'baz']],
      ['/foo/0', 'bar'],
      ['/', 0],
      ['/a~1b', 1],
      ['/c%d', 2],
      ['/e^f', 3],
      ['/g|h', 4],
      ['/i\\j', 5],
      ['/k"l', 6],
      ['/ ', 7],
      ['/m~0n', 8],
    ];
    for (const [p, expected] of cases) assert.deepEqual(compilePointer(p).get(rfcDoc), expected, p);
  });

  it('unescapes ~1 before ~0, so ~01 is the key "~1"', () => {
    assert.deepEqual(compilePointer('/~01').tokens, ['~1']);
    assert.equal(compilePointer('/~01').get({ '~1': 'yes', '/': 'no' }), 'yes');
  });

  it('follows deep paths of any length', () => {
    const doc = { a: { b: { c: { d: { e: [0, { f: 'deep' }] } } } } };
    assert.equal(compilePointer('/a/b/c/d/e/1/f').get(doc), 'deep');
    assert.equal(compilePointer('/a/b/c/d/e/2/f').get(doc), undefined);
  });

  it('reads keys with dots literally: /resource/sys.id is the key "sys.id"', () => {
    const p = compilePointer('/resource/sys.id');
    assert.deepEqual(p.tokens, ['resource', 'sys.id']);
    assert.equal(p.get({ resource: { sys: { id: 'nested' } } }), undefined);
    assert.equal(p.get({ resource: { 'sys.id': 'flat' } }), 'flat');
  });

  it('indexes arrays only with canonical decimal indexes', () => {
    const doc = { list: ['a', 'b'] };
    assert.equal(compilePointer('/list/1').get(doc), 'b');
    assert.equal(compilePointer('/list/01').get(doc), undefined);
    assert.equal(compilePointer('/list/-').get(doc), undefined);
    assert.equal(compilePointer('/list/2').get(doc), undefined);
    assert.equal(compilePointer('/list/length').get(doc), undefined);
    assert.equal(compilePointer('/list/1e0').get(doc), undefined);
  });

  it('keeps numeric keys of objects as keys', () => {
    assert.equal(compilePointer('/m/01').get({ m: { '01': 'x' } }), 'x');
  });

  it('never reaches the prototype chain or into strings', () => {
    const doc = { a: {}, s: 'text' };
    assert.equal(compilePointer('/a/constructor').get(doc), undefined);
    assert.equal(compilePointer('/a/__proto__').get(doc), undefined);
    assert.equal(compilePointer('/a/toString').get(doc), undefined);
    assert.equal(compilePointer('/s/0').get(doc), undefined);
    assert.equal(compilePointer('/s/length').get(doc), undefined);
  });

  it('reads keys that are awkward inside generated code as plain keys', () => {
    const keys = [
      '"',
      "'",
      '\\',
      '\n',
      '\u2028',
      '$' + '{x}',
      '*/',
      '`',
      ')',
      '};return 1;//',
      'a b',
      '\u0000',
    ];
    for (const key of keys) {
      const source = `/${key.replace(/~/g, '~0').replace(/\//g, '~1')}/v`;
      assert.equal(compilePointer(source).get({ [key]: { v: key } }), key, JSON.stringify(key));
      assert.equal(compilePointer(source).get({ other: { v: 1 } }), undefined);
    }
  });

  it('reads inherited names only as own keys, on objects and never on arrays', () => {
    assert.equal(compilePointer('/o/length').get({ o: { length: 3 } }), 3);
    assert.equal(compilePointer('/o/constructor').get({ o: JSON.parse('{"constructor": "own"}') }), 'own');
    assert.equal(compilePointer('/list/map').get({ list: [1] }), undefined);
    assert.equal(compilePointer('/list/length').get({ list: [1] }), undefined);
    assert.equal(compilePointer('/o/hasOwnProperty').get({ o: {} }), undefined);
    assert.equal(compilePointer('/o/__proto__/x').get(JSON.parse('{"o": {"__proto__": {"x": 1}}}')), 1);
  });

  it('returns null values as null and missing ones as undefined', () => {
    assert.equal(compilePointer('/a').get({ a: null }), null);
    assert.equal(compilePointer('/a/b').get({ a: null }), undefined);
    assert.equal(compilePointer('/b').get({ a: 1 }), undefined);
  });

  it('refuses pointers that do not start with / and bad ~ escapes', () => {
    assert.throws(() => compilePointer('a/b'), PointerSyntaxError);
    assert.throws(() => compilePointer('/a~2'), /"~" not followed by 0 or 1/);
    assert.throws(() => compilePointer('/a~'), PointerSyntaxError);
  });
});
