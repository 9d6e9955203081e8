/**
 * Issue 3, acceptance 1: seed 000's example (same identifier and group, the
 * condition `data['contract']['balance'] > 0`) plus a fallback in the group.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ConditionErrorInfo, compileRuleSet } from '../../../src/rules/engine.ts';
import type { Webhook } from '../../../src/rules/webhook-schema.ts';
import { event, ids, webhook } from './helpers.ts';

// The seed's request body, unchanged.
const seedExample = webhook({
  id: 'conditional',
  identifier: 'my-webhook',
  type: 'sftp-document',
  priority: 1,
  data: {
    host: 'sftp.example.com',
    user: 'sftp-user',
    password: 'sftp-password',
    directory: 'sftp-directory/sub-directory',
    port: 22,
  },
  active: true,
  activeFrom: '2024-01-01',
  groupIdentifier: 'my_group',
  groupCondition: "data['contract']['balance'] > 0",
});

const fallback = webhook({
  id: 'fallback',
  identifier: 'my-webhook',
  type: 'webhook',
  priority: 2,
  url: 'https://billing.example.com/hooks',
  groupIdentifier: 'my_group',
});

const rendered = (data: Record<string, unknown>) =>
  event({
    specversion: '1.0',
    id: 'doc-1',
    type: 'document.rendered',
    source: 'renderer',
    webhook: 'my-webhook',
    data,
  });

function setup() {
  const errors: { webhook: Webhook; error: Error; info: ConditionErrorInfo }[] = [];
  const rules = compileRuleSet([fallback, seedExample], {
    now: () => Date.parse('2026-03-01T00:00:00Z'),
    onConditionError: (w, error, info) => errors.push({ webhook: w, error, info }),
  });
  return { rules, errors };
}

describe('seed 000: group with condition and fallback', () => {
  it('balance 5 goes only to the conditional webhook', () => {
    const { rules, errors } = setup();
    assert.deepEqual(ids(rules.select(rendered({ contract: { balance: 5 } }))), ['conditional']);
    assert.equal(errors.length, 0);
  });

  it('balance 0 goes only to the fallback', () => {
    const { rules, errors } = setup();
    assert.deepEqual(ids(rules.select(rendered({ contract: { balance: 0 } }))), ['fallback']);
    assert.equal(errors.length, 0);
  });

  it('an event without contract goes only to the fallback, and the condition error is counted', () => {
    const { rules, errors } = setup();
    assert.deepEqual(ids(rules.select(rendered({ document: 'letter.pdf' }))), ['fallback']);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.webhook.id, 'conditional');
    assert.match(errors[0]!.error.message, /No such key: contract/);
    assert.deepEqual(errors[0]!.info, { log: true, suppressed: 0 });
  });

  it('counts every failing event', () => {
    const { rules, errors } = setup();
    for (let i = 0; i < 3; i++) rules.select(rendered({ contract: {} }));
    assert.equal(errors.length, 3);
    assert.deepEqual(
      errors.map((e) => e.info.log),
      [true, false, false],
    );
  });

  it('the seed example alone is not selected before its activeFrom', () => {
    const rules = compileRuleSet([seedExample, fallback], { now: () => Date.parse('2023-12-31T23:59:59Z') });
    assert.deepEqual(ids(rules.select(rendered({ contract: { balance: 5 } }))), ['fallback']);
  });
});
