/** Condition errors: counted every time, logged once per webhook and burst. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newThrottleState, throttleConditionError } from '../../../src/rules/condition-errors.ts';
import { type ConditionErrorInfo, compileRuleSet } from '../../../src/rules/engine.ts';
import { event, webhook } from './helpers.ts';

describe('throttleConditionError', () => {
  it('logs the first error, mutes the burst, then logs again with the number muted', () => {
    const s = newThrottleState();
    assert.deepEqual(throttleConditionError(s, 0, 60_000), { log: true, suppressed: 0 });
    assert.deepEqual(throttleConditionError(s, 1_000, 60_000), { log: false, suppressed: 1 });
    assert.deepEqual(throttleConditionError(s, 59_999, 60_000), { log: false, suppressed: 2 });
    assert.deepEqual(throttleConditionError(s, 60_000, 60_000), { log: true, suppressed: 2 });
    assert.deepEqual(throttleConditionError(s, 60_001, 60_000), { log: false, suppressed: 1 });
  });

  it('a clock that goes backwards starts a new burst', () => {
    const s = newThrottleState();
    throttleConditionError(s, 10_000, 60_000);
    assert.deepEqual(throttleConditionError(s, 5_000, 60_000), { log: true, suppressed: 0 });
  });
});

describe('onConditionError', () => {
  it('throttles per webhook: one webhook failing does not mute another', () => {
    let now = 0;
    const calls: [string, ConditionErrorInfo][] = [];
    const http = { type: 'webhook', url: 'https://example.com/h' } as const;
    const rules = compileRuleSet(
      [
        webhook({ ...http, id: 'a', groupCondition: 'data.a > 0' }),
        webhook({ ...http, id: 'b', groupCondition: 'data.b > 0' }),
      ],
      {
        now: () => now,
        onConditionError: (w, _e, info) => calls.push([w.id, info]),
        conditionErrorLogIntervalMs: 1000,
      },
    );
    const e = (data: Record<string, unknown>) => event({ id: 'e', type: 'x.y', data });
    rules.select(e({ b: 1 })); // a fails
    rules.select(e({ b: 1 })); // a fails, muted
    rules.select(e({ a: 1 })); // b fails: its first
    now = 1500;
    rules.select(e({})); // both fail: a's burst is over
    assert.deepEqual(calls, [
      ['a', { log: true, suppressed: 0 }],
      ['a', { log: false, suppressed: 1 }],
      ['b', { log: true, suppressed: 0 }],
      ['a', { log: true, suppressed: 1 }],
      ['b', { log: true, suppressed: 0 }],
    ]);
  });

  it('explain reports condition errors but does not call onConditionError', () => {
    let calls = 0;
    const rules = compileRuleSet(
      [webhook({ type: 'webhook', url: 'https://example.com/h', groupCondition: 'data.a > 0' })],
      {
        onConditionError: () => calls++,
      },
    );
    const r = rules.explain(event({ id: 'e', type: 'x.y', data: {} }));
    assert.equal(r.entries[0]!.reason?.code, 'condition-error');
    assert.equal(calls, 0);
  });
});
