/**
 * Issue 3, acceptance 3: conditions cannot reach prototypes, constructors,
 * globals or host functions; very deep or long expressions are refused; one
 * malicious condition cannot affect another webhook.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CONDITION_LIMITS,
  type ConditionContext,
  ConditionEvalError,
  ConditionSyntaxError,
  compileCondition,
} from '../../../src/rules/condition.ts';
import { compileRuleSet } from '../../../src/rules/engine.ts';
import { event, ids, webhook } from './helpers.ts';

const ctx = (data: unknown): ConditionContext => ({
  data,
  event: { id: 'e', type: 'x.y', data } as Record<string, unknown>,
  attributes: { type: 'x.y' },
});

function refused(expr: string): ConditionSyntaxError {
  try {
    compileCondition(expr);
  } catch (err) {
    assert.ok(err instanceof ConditionSyntaxError, `expected a ConditionSyntaxError, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${JSON.stringify(expr.slice(0, 80))} to be refused`);
}

function failsAtRun(expr: string, data: unknown): ConditionEvalError {
  const c = compileCondition(expr);
  try {
    c.evaluate(ctx(data));
  } catch (err) {
    assert.ok(err instanceof ConditionEvalError, `expected a ConditionEvalError, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${JSON.stringify(expr)} to fail`);
}

describe('conditions: the seed expression', () => {
  it("evaluates data['contract']['balance'] > 0 as written (JSON numbers are doubles)", () => {
    const c = compileCondition("data['contract']['balance'] > 0");
    assert.equal(c.evaluate(ctx({ contract: { balance: 5 } })), true);
    assert.equal(c.evaluate(ctx({ contract: { balance: 0 } })), false);
    assert.equal(c.evaluate(ctx({ contract: { balance: -0.5 } })), false);
  });

  it('a missing key is an evaluation error that suggests has()', () => {
    const err = failsAtRun("data['contract']['balance'] > 0", {});
    assert.match(err.message, /No such key: contract \(guard it with has\(\)\) at column \d+/);
    assert.equal(
      compileCondition("has(data.contract) && data['contract']['balance'] > 0").evaluate(ctx({})),
      false,
    );
  });

  it('a type mismatch is an evaluation error', () => {
    assert.match(failsAtRun('data.name > 0', { name: 'x' }).message, /no such overload/);
  });

  it('a dyn expression that is not a boolean fails at run time; a typed one at compile time', () => {
    assert.match(failsAtRun('data.name', { name: 'x' }).message, /gave a string instead of true or false/);
    assert.match(refused('1 + 2').message, /must be true or false, but this one gives int/);
  });
});

describe('conditions: the sandbox', () => {
  const data = { a: 'x', list: [1, 2, 3], nested: { k: 1 } };

  for (const expr of [
    'data.constructor == null',
    "data['constructor'] == null",
    'data.__proto__ == null',
    "data['__proto__'] == null",
    'data.nested.constructor == null',
    'data.list.constructor == null',
    'data.a.constructor == null',
    'data.list.length == 3',
    'data.valueOf == null',
  ]) {
    it(`${expr}: a missing key, not the host object`, () => {
      assert.match(failsAtRun(expr, data).message, /No such key/);
    });
  }

  it('has() on prototype members is false', () => {
    for (const k of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      assert.equal(compileCondition(`has(data.${k})`).evaluate(ctx(data)), false, k);
    }
  });

  for (const expr of [
    '"".constructor == null',
    'process.exit(1)',
    'globalThis.x == 1',
    'require("fs") == null',
    'eval("1") == 1',
    'Function("return 1")() == 1',
    'data.toString() == ""',
    'data.hasOwnProperty("a")',
    'data.a.constructor("1") == null',
    'import("fs") == null',
    'this.x == 1',
  ]) {
    it(`${expr}: refused when the rules are loaded`, () => {
      refused(expr);
    });
  }

  it('an own __proto__ key in the event is plain data and pollutes nothing', () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": true}}') as unknown;
    assert.equal(compileCondition("data['__proto__'].polluted == true").evaluate(ctx(parsed)), true);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('a map literal with __proto__ pollutes nothing', () => {
    const c = compileCondition('size({"__proto__": {"polluted": true}, "a": {"b": false}}) > 0');
    assert.doesNotThrow(() => c.evaluate(ctx({})));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).includes('polluted'), false);
  });

  it('evaluating conditions never changes the event they see', () => {
    const doc = { a: 'x', list: [1, 2, 3], nested: { k: 1 } };
    const before = structuredClone(doc);
    for (const expr of [
      'data.list.map(x, x * 2.0).size() > 0',
      'cel.bind(a, data.nested, has(a.k))',
      'data.list.filter(x, x > 1.0).size() == 2',
    ]) {
      compileCondition(expr).evaluate(ctx(doc));
    }
    assert.deepEqual(doc, before);
  });
});

describe('conditions: limits', () => {
  it(`refuses expressions longer than ${CONDITION_LIMITS.maxLength} characters`, () => {
    const long = `data.a == "${'x'.repeat(CONDITION_LIMITS.maxLength)}"`;
    assert.match(refused(long).message, /characters long; the limit is 2048/);
  });

  it('refuses very deep nesting', () => {
    const deep = `${'('.repeat(200)}data.a${')'.repeat(200)} == "x"`;
    assert.match(refused(deep).message, /Exceeded maxDepth/);
    const deepIndex = `data${'["k"]'.repeat(100)} == 1`;
    assert.match(refused(deepIndex).message, /Exceeded maxDepth/);
  });

  it('refuses very large expressions', () => {
    const wide = `1${' + 1'.repeat(400)} > 0`;
    assert.match(refused(wide).message, /Exceeded maxAstNodes/);
    const bigList = `data.a in [${Array.from({ length: 300 }, (_, i) => `"${i}"`).join(',')}]`;
    assert.match(refused(bigList).message, /invalid CEL/);
  });

  it('refuses matches(): regular expressions can backtrack for seconds', () => {
    assert.match(refused('data.a.matches("(a+)+$")').message, /matches\(\) is not allowed/);
    assert.match(refused('matches(data.a, "a")').message, /matches\(\) is not allowed/);
  });

  it('refuses nested comprehensions but allows one level', () => {
    assert.match(
      refused('data.list.exists(x, data.list.all(y, y >= x))').message,
      /inside another comprehension/,
    );
    assert.equal(compileCondition('data.list.exists(x, x > 2.0)').evaluate(ctx({ list: [1, 2, 3] })), true);
  });

  it('a string that grows past what the host allows is an evaluation error, not a crash', () => {
    const grow = 'cel.bind(a, data.s + data.s, cel.bind(b, a + a, cel.bind(c, b + b, size(c + c) > 0)))';
    const c = compileCondition(grow);
    assert.equal(c.evaluate(ctx({ s: 'ab' })), true);
    assert.throws(() => c.evaluate(ctx({ s: 'x'.repeat(100_000_000) })), ConditionEvalError);
  });
});

describe('conditions: isolation between webhooks', () => {
  it('a malicious or failing condition does not change what other webhooks see or get', () => {
    const errors: string[] = [];
    const http = { type: 'webhook', url: 'https://example.com/h' } as const;
    const ws = [
      webhook({ ...http, id: 'a-proto', identifier: 'a', groupCondition: 'data.__proto__.polluted == true' }),
      webhook({ ...http, id: 'b-ctor', identifier: 'b', groupCondition: 'data.constructor == null' }),
      webhook({ ...http, id: 'c-type', identifier: 'c', groupCondition: 'data.n + "s" == "s"' }),
      webhook({
        ...http,
        id: 'd-good',
        identifier: 'd',
        groupCondition: 'data.n > 1 && !has(data.polluted)',
      }),
    ];
    const rules = compileRuleSet(ws, { onConditionError: (w) => errors.push(w.id) });
    const e = event({ id: 'e', type: 'x.y', data: { n: 2 } });
    assert.deepEqual(ids(rules.select(e)), ['d-good']);
    assert.deepEqual(errors.sort(), ['a-proto', 'b-ctor', 'c-type']);
    assert.deepEqual(e.data, { n: 2 });
  });
});
