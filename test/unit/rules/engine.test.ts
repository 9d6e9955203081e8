/** Selection semantics (DESIGN.md section 3, "Selection") through `compileRuleSet`. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { byDispatchOrder, compileRuleSet, RuleCompileError } from '../../../src/rules/engine.ts';
import type { Webhook } from '../../../src/rules/webhook-schema.ts';
import { event, ids, webhook } from './helpers.ts';

const T0 = Date.parse('2026-03-01T12:00:00Z');
const at = (t: number) => ({ now: () => t });
const http = { type: 'webhook', url: 'https://example.com/h' } as const;

const ev = (type: string, extra: Record<string, unknown> = {}) => event({ id: 'e1', type, ...extra });

describe('candidates', () => {
  it('skips inactive webhooks (active and its alias enabled)', () => {
    const a = webhook({ ...http, id: 'a', active: false });
    const b = webhook({ ...http, id: 'b', enabled: false });
    const c = webhook({ ...http, id: 'c' });
    assert.deepEqual(ids(compileRuleSet([a, b, c], at(T0)).select(ev('x.y'))), ['c']);
  });

  it('honours the activeFrom / activeUntil window: from inclusive, until exclusive', () => {
    const w = webhook({
      ...http,
      id: 'w',
      activeFrom: '2026-03-01T12:00:00Z',
      activeUntil: '2026-03-02T00:00:00Z',
    });
    const sel = (t: number) => ids(compileRuleSet([w], at(t)).select(ev('x.y')));
    assert.deepEqual(sel(T0 - 1), []);
    assert.deepEqual(sel(T0), ['w']);
    assert.deepEqual(sel(Date.parse('2026-03-02T00:00:00Z') - 1), ['w']);
    assert.deepEqual(sel(Date.parse('2026-03-02T00:00:00Z')), []);
  });

  it('reads the clock per event, not once at compile time', () => {
    let now = T0;
    const w = webhook({ ...http, id: 'w', activeUntil: '2026-03-01T12:00:01Z' });
    const rules = compileRuleSet([w], { now: () => now });
    assert.deepEqual(ids(rules.select(ev('x.y'))), ['w']);
    now += 1000;
    assert.deepEqual(ids(rules.select(ev('x.y'))), []);
  });

  it('selects webhooks whatever their state: Stopped and TooManyErrors deliveries are held, not dropped', () => {
    const ws = (['Active', 'Stopped', 'TooManyErrors'] as const).map((state) =>
      webhook({ ...http, id: state, state }),
    );
    assert.deepEqual(ids(compileRuleSet(ws, at(T0)).select(ev('x.y'))).sort(), [
      'Active',
      'Stopped',
      'TooManyErrors',
    ]);
  });

  it('only considers webhooks with the identifier the event names (/webhook or the webhook extension)', () => {
    const a = webhook({ ...http, id: 'a', identifier: 'cust-a' });
    const b = webhook({ ...http, id: 'b', identifier: 'cust-b' });
    const rules = compileRuleSet([a, b], at(T0));
    assert.deepEqual(ids(rules.select(ev('x.y', { webhook: 'cust-a' }))), ['a']);
    assert.deepEqual(ids(rules.select(ev('x.y', { specversion: '1.0', webhook: 'cust-b' }))), ['b']);
    assert.deepEqual(ids(rules.select(ev('x.y', { webhook: 'nobody' }))), []);
    assert.deepEqual(ids(rules.select(ev('x.y'))), ['a', 'b']);
  });

  it('an identifier with many webhooks is indexed by type too, and still exact', () => {
    const ws: Webhook[] = [];
    for (let i = 0; i < 50; i++)
      ws.push(webhook({ ...http, id: `t${i}`, identifier: 'big', events: [`r${i % 10}.created`] }));
    ws.push(webhook({ ...http, id: 'other', identifier: 'small', events: ['r1.created'] }));
    const rules = compileRuleSet(ws, at(T0));
    const got = ids(rules.select(ev('r1.created', { webhook: 'big' })));
    assert.deepEqual(got, ['t1', 't11', 't21', 't31', 't41']);
  });
});

describe('topic match', () => {
  it('events: exact, prefix, suffix and * patterns', () => {
    const ws = [
      webhook({ ...http, id: 'exact', events: ['contact.created'] }),
      webhook({ ...http, id: 'prefix', events: ['contact.*'] }),
      webhook({ ...http, id: 'suffix', events: ['*.created'] }),
      webhook({ ...http, id: 'any', events: ['*'] }),
      webhook({ ...http, id: 'other', events: ['order.created', 'contact.deleted'] }),
    ];
    const rules = compileRuleSet(ws, at(T0));
    assert.deepEqual(ids(rules.select(ev('contact.created'))).sort(), ['any', 'exact', 'prefix', 'suffix']);
    assert.deepEqual(ids(rules.select(ev('contact.deleted'))).sort(), ['any', 'other', 'prefix']);
    assert.deepEqual(ids(rules.select(ev('invoice.paid'))), ['any']);
  });

  it('a webhook with neither events nor topics (or empty lists) matches every event', () => {
    const ws = [webhook({ ...http, id: 'none' }), webhook({ ...http, id: 'empty', events: [], topics: [] })];
    assert.deepEqual(ids(compileRuleSet(ws, at(T0)).select(ev('whatever'))).sort(), ['empty', 'none']);
  });

  it('events AND topics must both match', () => {
    const w = webhook({ ...http, id: 'w', events: ['entry.*'], topics: [{ source: 'cms' }] });
    const rules = compileRuleSet([w], at(T0));
    assert.deepEqual(ids(rules.select(ev('entry.created', { source: 'cms' }))), ['w']);
    assert.deepEqual(ids(rules.select(ev('entry.created', { source: 'crm' }))), []);
    assert.deepEqual(ids(rules.select(ev('asset.created', { source: 'cms' }))), []);
  });

  it('topics: OR over topics, AND over keys, OR over values', () => {
    const w = webhook({
      ...http,
      id: 'w',
      topics: [
        { resourceType: 'entry', event: ['created', 'updated'], source: 'cms' },
        { resourceType: 'asset', event: 'deleted' },
      ],
    });
    const rules = compileRuleSet([w], at(T0));
    const sel = (type: string, source?: string) => ids(rules.select(ev(type, source ? { source } : {})));
    assert.deepEqual(sel('entry.updated', 'cms'), ['w']);
    assert.deepEqual(sel('entry.updated', 'crm'), []);
    assert.deepEqual(sel('entry.deleted', 'cms'), []);
    assert.deepEqual(sel('asset.deleted'), ['w']);
  });

  it('a type without a dot is its own resourceType and event', () => {
    const w = webhook({ ...http, id: 'w', topics: [{ resourceType: 'ping', event: 'ping' }] });
    const rules = compileRuleSet([w], at(T0));
    assert.deepEqual(ids(rules.select(ev('ping'))), ['w']);
    assert.deepEqual(ids(rules.select(ev('ping.ping'))), ['w']);
    assert.deepEqual(ids(rules.select(ev('ping.pong'))), []);
  });

  it('seed 004 hooks without events: only the hook types match (whole type or its part after the last dot)', () => {
    const w = webhook({
      id: 'w',
      type: 'webhook',
      hooks: [
        { type: 'order_created', endpoint: 'https://example.com/o' },
        { type: 'order_cancelled', endpoint: 'https://example.com/c' },
      ],
    });
    const rules = compileRuleSet([w], at(T0));
    assert.deepEqual(ids(rules.select(ev('order_created'))), ['w']);
    assert.deepEqual(ids(rules.select(ev('shop.order_cancelled'))), ['w']);
    assert.deepEqual(ids(rules.select(ev('order_updated'))), []);
    assert.deepEqual(ids(rules.select(ev('order_created.extra'))), []);
  });

  it('events, when given, take precedence over hooks types', () => {
    const w = webhook({
      id: 'w',
      type: 'webhook',
      url: 'https://example.com/all',
      events: ['order.*'],
      hooks: [{ type: 'order_created', endpoint: 'https://example.com/o' }],
    });
    const rules = compileRuleSet([w], at(T0));
    assert.deepEqual(ids(rules.select(ev('order.shipped'))), ['w']);
    assert.deepEqual(ids(rules.select(ev('order_created'))), []);
  });

  it('topic keys can be configured attributes and CloudEvents extensions', () => {
    const w = webhook({ ...http, id: 'w', topics: [{ tenant: 't1', region: ['eu-*'] }] });
    const rules = compileRuleSet([w], { ...at(T0), attributes: { tenant: '/data/tenant' } });
    assert.deepEqual(
      ids(rules.select(ev('x.y', { specversion: '1.0', region: 'eu-west', data: { tenant: 't1' } }))),
      ['w'],
    );
    assert.deepEqual(
      ids(rules.select(ev('x.y', { specversion: '1.0', region: 'us-east', data: { tenant: 't1' } }))),
      [],
    );
    assert.deepEqual(ids(rules.select(ev('x.y', { specversion: '1.0', region: 'eu-west', data: {} }))), []);
  });
});

describe('groups and conditions', () => {
  const member = (id: string, priority: number, extra: Record<string, unknown> = {}) =>
    webhook({ ...http, id, identifier: id, priority, groupIdentifier: 'g', ...extra });

  it('tries members in priority order; the first true condition wins and the rest are skipped', () => {
    const ws = [
      member('p1', 1, { groupCondition: 'data.tier == "gold"' }),
      member('p2', 2, { groupCondition: 'data.amount > 100' }),
      member('p3', 3, { groupCondition: 'true' }),
      member('p4', 4),
    ];
    const rules = compileRuleSet(ws, at(T0));
    const sel = (data: Record<string, unknown>) => ids(rules.select(ev('x.y', { data })));
    assert.deepEqual(sel({ tier: 'gold', amount: 500 }), ['p1']);
    assert.deepEqual(sel({ tier: 'silver', amount: 500 }), ['p2']);
    assert.deepEqual(sel({ tier: 'silver', amount: 5 }), ['p3']);
  });

  it('ties in priority are broken by identifier', () => {
    const ws = [member('b', 1), member('a', 1)];
    assert.deepEqual(ids(compileRuleSet(ws, at(T0)).select(ev('x.y'))), ['a']);
  });

  it('a member that does not match the topics does not take part', () => {
    const ws = [member('first', 1, { events: ['other.type'] }), member('second', 2)];
    assert.deepEqual(ids(compileRuleSet(ws, at(T0)).select(ev('x.y'))), ['second']);
  });

  it('an inactive or out-of-window member does not take part', () => {
    const ws = [
      member('off', 1, { active: false }),
      member('late', 2, { activeFrom: '2099-01-01' }),
      member('on', 3),
    ];
    assert.deepEqual(ids(compileRuleSet(ws, at(T0)).select(ev('x.y'))), ['on']);
  });

  it('no member true and no fallback: nobody in the group is selected', () => {
    const ws = [
      member('p1', 1, { groupCondition: 'false' }),
      member('p2', 2, { groupCondition: 'data.n > 1' }),
    ];
    assert.deepEqual(ids(compileRuleSet(ws, at(T0)).select(ev('x.y', { data: { n: 0 } }))), []);
  });

  it('groups are independent, and each select starts afresh', () => {
    const ws = [
      member('g1', 1),
      webhook({ ...http, id: 'h1', priority: 1, groupIdentifier: 'h', groupCondition: 'data.n > 1' }),
      webhook({ ...http, id: 'h2', priority: 2, groupIdentifier: 'h' }),
      webhook({ ...http, id: 'free', priority: 5 }),
    ];
    const rules = compileRuleSet(ws, at(T0));
    assert.deepEqual(ids(rules.select(ev('x.y', { data: { n: 5 } }))), ['g1', 'h1', 'free']);
    assert.deepEqual(ids(rules.select(ev('x.y', { data: { n: 0 } }))), ['g1', 'h2', 'free']);
    assert.deepEqual(ids(rules.select(ev('x.y', { data: { n: 5 } }))), ['g1', 'h1', 'free']);
  });

  it('a condition without a group is a plain filter', () => {
    const ws = [
      webhook({ ...http, id: 'big', groupCondition: 'data.amount >= 100' }),
      webhook({
        ...http,
        id: 'also-big',
        groupCondition: "attributes.type == 'order.paid' && data.amount >= 100",
      }),
    ];
    const rules = compileRuleSet(ws, at(T0));
    assert.deepEqual(ids(rules.select(ev('order.paid', { data: { amount: 150 } }))), ['also-big', 'big']);
    assert.deepEqual(ids(rules.select(ev('order.paid', { data: { amount: 50 } }))), []);
  });

  it('conditions see data (the whole event when it has none), event and attributes', () => {
    const ws = [
      webhook({ ...http, id: 'data', groupCondition: 'data.n == 1.0' }),
      webhook({ ...http, id: 'event', groupCondition: 'event.source == "crm"' }),
      webhook({ ...http, id: 'attrs', groupCondition: 'attributes.resourceType == "contact"' }),
    ];
    const rules = compileRuleSet(ws, at(T0));
    assert.deepEqual(ids(rules.select(ev('contact.created', { source: 'crm', data: { n: 1 } }))), [
      'attrs',
      'data',
      'event',
    ]);
    // No `data` member: data is the whole event.
    assert.deepEqual(ids(rules.select(ev('order.created', { n: 1 }))), ['data']);
  });

  it('a failing condition in one webhook leaves the others alone', () => {
    const errors: string[] = [];
    const ws = [
      webhook({ ...http, id: 'evil', priority: 0, groupCondition: 'data.constructor.name == "Object"' }),
      webhook({ ...http, id: 'proto', priority: 0, groupCondition: 'has(data.__proto__)' }),
      webhook({ ...http, id: 'good', priority: 1, groupCondition: 'data.n > 0' }),
      webhook({ ...http, id: 'plain', priority: 2 }),
    ];
    const rules = compileRuleSet(ws, { ...at(T0), onConditionError: (w) => errors.push(w.id) });
    assert.deepEqual(ids(rules.select(ev('x.y', { data: { n: 3 } }))), ['good', 'plain']);
    assert.deepEqual(errors, ['evil']);
  });

  it('calls onConditionError after selection is done, so the callback may select again', () => {
    const ws = [
      webhook({ ...http, id: 'bad', priority: 0, groupIdentifier: 'g', groupCondition: 'data.missing > 0' }),
      webhook({ ...http, id: 'fallback', priority: 1, groupIdentifier: 'g' }),
    ];
    const inner: string[][] = [];
    let depth = 0;
    const rules = compileRuleSet(ws, {
      ...at(T0),
      onConditionError: () => {
        if (depth++ === 0) inner.push(ids(rules.select(ev('x.y', { data: {} }))));
      },
    });
    assert.deepEqual(ids(rules.select(ev('x.y', { data: {} }))), ['fallback']);
    assert.deepEqual(inner, [['fallback']]);
  });
});

describe('dispatch order', () => {
  it('returns winners by priority, then identifier, then id', () => {
    const ws = [
      webhook({ ...http, id: 'z', identifier: 'b', priority: 1 }),
      webhook({ ...http, id: 'y', identifier: 'a', priority: 1 }),
      webhook({ ...http, id: 'x', identifier: 'c', priority: -5 }),
      webhook({ ...http, id: 'w2', identifier: 'a', priority: 1 }),
      webhook({ ...http, id: 'v', identifier: 'a', priority: 10, events: ['x.*'] }),
    ];
    const got = compileRuleSet(ws, at(T0)).select(ev('x.y'));
    assert.deepEqual(ids(got), ['x', 'w2', 'y', 'z', 'v']);
    assert.deepEqual(ids([...got].sort(byDispatchOrder)), ids(got));
  });
});

function compileProblems(ws: Webhook[]) {
  try {
    compileRuleSet(ws);
  } catch (err) {
    assert.ok(err instanceof RuleCompileError);
    return err.problems;
  }
  assert.fail('compileRuleSet did not throw');
}

describe('compile errors', () => {
  it('a CEL syntax error names the webhook, the path groupCondition and the column', () => {
    const ws = [
      webhook({ ...http, id: 'ok', groupCondition: 'data.a > 1' }),
      webhook({ ...http, id: 'bad', groupCondition: "data['contract' > 0" }),
      webhook({ ...http, id: 'worse', groupCondition: 'process.exit(1)' }),
    ];
    const problems = compileProblems(ws);
    assert.deepEqual(
      problems.map((p) => [p.webhookId, p.path]),
      [
        ['bad', ['groupCondition']],
        ['worse', ['groupCondition']],
      ],
    );
    assert.match(problems[0]!.message, /invalid CEL: .*\(at column \d+\)/);
    assert.match(
      problems[1]!.message,
      /Unknown variable: process; conditions can use data, event and attributes/,
    );
  });

  it('rejects duplicate webhook ids', () => {
    const ws = [webhook({ ...http, id: 'same' }), webhook({ ...http, id: 'same' })];
    assert.deepEqual(compileProblems(ws)[0]!.path, ['id']);
  });
});

describe('rule set surface', () => {
  it('get(id) finds webhooks, including inactive ones; webhooks keeps the given list', () => {
    const ws = [webhook({ ...http, id: 'a' }), webhook({ ...http, id: 'b', active: false })];
    const rules = compileRuleSet(ws);
    assert.equal(rules.get('b')?.id, 'b');
    assert.equal(rules.get('nope'), undefined);
    assert.equal(rules.webhooks, ws);
  });
});
