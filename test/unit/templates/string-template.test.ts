import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TemplateCompileError } from '../../../src/templates/errors.ts';
import { compileStringTemplate, parseTemplateString } from '../../../src/templates/string-template.ts';

const doc = {
  name: 'Ada',
  n: 3,
  ok: true,
  nothing: null,
  obj: { a: 1, b: [1, 2] },
  'a/b': 'slash',
  'm~n': 'tilde',
};

const text = (tpl: string, d: unknown = doc) => compileStringTemplate(tpl, ['t']).text(d);

describe('string templates', () => {
  it('replaces placeholders inside longer strings, stringifying values', () => {
    assert.equal(text('Hi {/name}, you have {/n} items ({/ok})'), 'Hi Ada, you have 3 items (true)');
    assert.equal(text('obj={/obj}'), 'obj={"a":1,"b":[1,2]}');
    assert.equal(text('{/name}{/name}'), 'AdaAda');
  });

  it('unescapes ~0 and ~1 inside placeholders', () => {
    assert.equal(text('{/a~1b} {/m~0n}'), 'slash tilde');
  });

  it('treats one trailing slash as the whole value, and {/} as the whole document', () => {
    const t = compileStringTemplate('{/obj/}', ['t']);
    assert.equal(t.single?.source, '/obj');
    assert.deepEqual(t.single?.get(doc), doc.obj);
    assert.equal(compileStringTemplate('{/}', ['t']).single?.get(doc), doc);
  });

  it('marks a string that is exactly one placeholder, so it can keep its JSON type', () => {
    assert.equal(compileStringTemplate('{/n}', ['t']).single?.get(doc), 3);
    assert.equal(compileStringTemplate(' {/n}', ['t']).single, undefined);
  });

  it('makes the whole string missing when any value is missing or null', () => {
    const t = compileStringTemplate('{/name} {/nothing} {/absent}', ['t']);
    assert.equal(t.text(doc), undefined);
    assert.deepEqual(
      t.missing(doc).map((p) => p.text),
      ['{/nothing}', '{/absent}'],
    );
  });

  it('applies the encoder to substituted values only', () => {
    const t = compileStringTemplate('/x/{/v}?q={/v}', ['t']);
    assert.equal(t.text({ v: 'a b/c' }, encodeURIComponent), '/x/a%20b%2Fc?q=a%20b%2Fc');
  });

  it('keeps literal braces that are not placeholders', () => {
    assert.equal(text('{name}'), '{name}');
    assert.equal(text('{}'), '{}');
    assert.equal(text('{ /name }'), '{ /name }');
    assert.equal(text('{"a": {"b": 1}}'), '{"a": {"b": 1}}');
    assert.equal(text('{"id": {/n}, "who": "{/name}"}'), '{"id": 3, "who": "Ada"}');
    assert.equal(compileStringTemplate('{"a": 1}', ['t']).placeholders.length, 0);
  });

  it('refuses unbalanced braces with the character position and the field path', () => {
    const cases: [string, RegExp][] = [
      ['{/resource/entryTitle', /placeholder "\{" at character 1 is never closed/],
      ['abc {', /"\{" at character 5 is never closed/],
      ['a } b', /"\}" at character 3 has no matching "\{"/],
      ['{a}}', /"\}" at character 4 has no matching/],
      ['{{a}', /"\{" at character 1 is never closed/],
      ['{/a{b}}', /placeholder at character 1 contains "\{"/],
    ];
    for (const [tpl, message] of cases) {
      assert.throws(
        () => parseTemplateString(tpl, ['templates', 'entry', 'title']),
        (err: unknown) =>
          err instanceof TemplateCompileError &&
          message.test(err.message) &&
          err.message.includes(tpl) &&
          err.path.join('.') === 'templates.entry.title',
        tpl,
      );
    }
  });

  it('refuses a placeholder with a bad pointer escape', () => {
    assert.throws(
      () => compileStringTemplate('x {/a~2b}', ['headers', 'h', 'value']),
      (err: unknown) =>
        err instanceof TemplateCompileError &&
        /bad placeholder \{\/a~2b\}/.test(err.message) &&
        err.path.join('.') === 'headers.h.value',
    );
  });
});
