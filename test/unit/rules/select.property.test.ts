/**
 * Issue 3, acceptance 4: the indexed `select` returns exactly what a naive
 * scan of every webhook returns, on random webhooks and events.
 *
 * Two references: `explain` (the engine's own scan, src/rules/select-naive.ts)
 * and `reference` below, written straight from DESIGN.md section 3 with
 * regular-expression globs and CEL's plain `evaluate`, sharing no matching
 * code with the engine.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluate } from '@marcbachmann/cel-js';
import fc from 'fast-check';
import { compileAttributeMap } from '../../../src/rules/attributes.ts';
import { byDispatchOrder, compileRuleSet } from '../../../src/rules/engine.ts';
import type { Webhook } from '../../../src/rules/webhook-schema.ts';
import type { HookEvent } from '../../../src/source/event.ts';
import { event, webhook } from './helpers.ts';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const HOUR = 3_600_000;

const RESOURCES = ['a', 'b', 'a.b', 'ping', 'order_created'];
const ACTIONS = ['created', 'updated', 'x', 'ping'];
const TYPES = [
  '',
  'a',
  'ping',
  'order_created',
  ...RESOURCES.flatMap((r) => ACTIONS.map((a) => `${r}.${a}`)),
];
const EXACT = TYPES.filter((t) => t !== '');
const PREFIXES = ['a.*', 'a*', 'a.b.*', 'ping*', 'b.c*'];
const SUFFIXES = ['*.created', '*.ping', '*.x'];
const OTHER_WILDCARDS = ['*', 'a*d', '*b*', '*.*'];
// Mostly patterns the index can key (exact, prefix, `*.event`), sometimes ones it cannot.
const pattern = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...EXACT) },
  { weight: 2, arbitrary: fc.constantFrom(...PREFIXES) },
  { weight: 2, arbitrary: fc.constantFrom(...SUFFIXES) },
  { weight: 1, arbitrary: fc.constantFrom(...OTHER_WILDCARDS) },
);
const IDENTIFIERS = ['c1', 'c2', 'c3'];
const CONDITIONS = [
  'data.n > 1',
  'data.n > 3',
  'data.missing > 0',
  'true',
  'false',
  'attributes.type == "a.created"',
  "has(attributes.lang) && attributes.lang == 'fr'",
];

const topicKey = fc.constantFrom('resourceType', 'event', 'type', 'source', 'lang', 'tenant', 'identifier');
const topicValue = fc.oneof(
  fc.constantFrom(...RESOURCES, ...ACTIONS, 'src1', 'src2', 'fr', 'en', 't1', 'c1', 'fr*'),
  pattern,
);
const values = <T>(arb: fc.Arbitrary<T>) => fc.array(arb, { minLength: 1, maxLength: 2 });
const topic = fc.oneof(
  // Seed 003 shaped: resourceType and event, maybe one more key.
  fc.record(
    {
      resourceType: values(fc.constantFrom(...RESOURCES, 'a*')),
      event: values(fc.constantFrom(...ACTIONS, 'a.b')),
      lang: values(fc.constantFrom('fr', 'en', 'fr*')),
      source: values(fc.constantFrom('src1', 'src2')),
    },
    { requiredKeys: ['resourceType', 'event'] },
  ),
  fc.dictionary(topicKey, values(topicValue), { maxKeys: 3 }),
);

const webhookInput = fc.record(
  {
    identifier: fc.constantFrom(...IDENTIFIERS),
    priority: fc.integer({ min: 0, max: 3 }),
    active: fc.constantFrom(true, true, true, true, false),
    from: fc.option(fc.integer({ min: -2, max: 2 }), { nil: undefined }),
    until: fc.option(fc.integer({ min: -2, max: 3 }), { nil: undefined }),
    events: fc.option(fc.array(pattern, { maxLength: 2 }), { nil: undefined }),
    hooks: fc.option(fc.array(fc.constantFrom(...EXACT, 'created', 'x'), { maxLength: 2 }), {
      nil: undefined,
    }),
    topics: fc.option(fc.array(topic, { maxLength: 2 }), { nil: undefined }),
    group: fc.option(fc.constantFrom('g1', 'g2'), { nil: undefined }),
    condition: fc.option(fc.constantFrom(...CONDITIONS), { nil: undefined }),
  },
  { requiredKeys: ['identifier', 'priority', 'active'] },
);

type WebhookInput = typeof webhookInput extends fc.Arbitrary<infer T> ? T : never;

function toWebhook(input: WebhookInput, i: number): Webhook {
  return webhook({
    id: `w${String(i).padStart(3, '0')}`,
    identifier: input.identifier,
    type: 'webhook',
    url: 'https://example.com/h',
    priority: input.priority,
    active: input.active,
    activeFrom: input.from === undefined ? undefined : new Date(NOW + input.from * HOUR).toISOString(),
    activeUntil: input.until === undefined ? undefined : new Date(NOW + input.until * HOUR).toISOString(),
    events: input.events,
    hooks: input.hooks?.map((type) => ({ type, endpoint: 'https://example.com/h' })),
    topics: input.topics,
    groupIdentifier: input.group,
    groupCondition: input.condition,
  });
}

const eventBody = fc.record(
  {
    type: fc.constantFrom(...TYPES),
    webhook: fc.constantFrom('c1', 'c2', 'zz'),
    source: fc.constantFrom('src1', 'src2'),
    lang: fc.constantFrom('fr', 'en', 'fr-ca'),
    tenant: fc.constantFrom('t1', 't2'),
    ev: fc.constantFrom(...ACTIONS),
    n: fc.integer({ min: 0, max: 5 }),
  },
  { requiredKeys: ['type', 'n'] },
);

type EventBody = typeof eventBody extends fc.Arbitrary<infer T> ? T : never;

function toEvent(b: EventBody, i: number): HookEvent {
  const { n, tenant, ...rest } = b;
  // A tenant makes it a CloudEvent, whose extensions are attributes.
  return event({ id: `e${i}`, ...rest, ...(tenant ? { specversion: '1.0', tenant } : {}), data: { n } });
}

/** Attribute configurations: none, an extra one, and one that overrides a built-in. */
const CONFIGS: Record<string, string>[] = [{}, { lang: '/lang' }, { lang: '/lang', event: '/ev' }];

function glob(pattern: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    's',
  );
  return re.test(value);
}

/** Selection exactly as DESIGN.md section 3 words it, one webhook at a time. */
function reference(webhooks: readonly Webhook[], e: HookEvent, cfg: Record<string, string>): string[] {
  const attrs = compileAttributeMap(cfg).of(e);
  const type = attrs.type ?? '';
  const won = new Set<string>();
  const out: string[] = [];
  for (const w of [...webhooks].sort(byDispatchOrder)) {
    if (!w.active) continue;
    if (w.activeFrom !== undefined && NOW < w.activeFrom) continue;
    if (w.activeUntil !== undefined && NOW >= w.activeUntil) continue;
    if (attrs.identifier !== undefined && w.identifier !== attrs.identifier) continue;
    if (w.events?.length) {
      if (!w.events.some((p) => glob(p, type))) continue;
    } else if (w.hooks?.length) {
      const last = type.split('.').pop();
      if (!w.hooks.some((h) => h.type === type || h.type === last)) continue;
    }
    if (w.topics?.length) {
      const any = w.topics.some((t) =>
        Object.entries(t).every(([k, vs]) => vs.some((v) => glob(v, attrs[k]))),
      );
      if (!any) continue;
    }
    if (w.groupIdentifier !== undefined && won.has(w.groupIdentifier)) continue;
    if (w.groupCondition !== undefined) {
      let ok = false;
      try {
        ok = evaluate(w.groupCondition, { data: e.data, event: e.body, attributes: attrs }) === true;
      } catch {
        ok = false;
      }
      if (!ok) continue;
    }
    if (w.groupIdentifier !== undefined) won.add(w.groupIdentifier);
    out.push(w.id);
  }
  return out;
}

describe('indexed selection equals a naive scan', () => {
  it('on random webhooks and events, under each attribute configuration', () => {
    fc.assert(
      fc.property(
        fc.array(webhookInput, { maxLength: 120, size: 'large' }),
        fc.array(eventBody, { minLength: 1, maxLength: 12, size: 'medium' }),
        fc.constantFrom(...CONFIGS, CONFIGS[2]!),
        (inputs, bodies, cfg) => {
          const webhooks = inputs.map(toWebhook);
          const rules = compileRuleSet(webhooks, { attributes: cfg, now: () => NOW });
          bodies.forEach((b, i) => {
            const e = toEvent(b, i);
            const got = rules.select(e).map((w) => w.id);
            const scanned = rules.explain(e).winners.map((w) => w.id);
            assert.deepEqual(got, scanned, 'select vs explain');
            assert.deepEqual(got, reference(webhooks, e, cfg), 'select vs reference');
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('with many webhooks per identifier (the per-identifier index)', () => {
    fc.assert(
      fc.property(
        fc.array(webhookInput, { minLength: 100, maxLength: 160 }),
        fc.array(eventBody, { minLength: 1, maxLength: 6 }),
        (inputs, bodies) => {
          const webhooks = inputs.map(toWebhook);
          const rules = compileRuleSet(webhooks, { now: () => NOW });
          bodies.forEach((b, i) => {
            const e = toEvent({ ...b, webhook: 'c1' }, i);
            assert.deepEqual(
              rules.select(e).map((w) => w.id),
              reference(webhooks, e, {}),
            );
          });
        },
      ),
      { numRuns: 100 },
    );
  });
});
