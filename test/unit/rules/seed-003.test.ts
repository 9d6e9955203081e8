/**
 * Issue 3, acceptance 2: seed 003's six topics, each proven by an event that
 * matches it and one that does not. The webhook is the seed's own example
 * (loaded from its rule file), the attributes come from the configured
 * pointers, the events are shaped like Contensis events.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../../src/config/load.ts';
import { compileRuleSet } from '../../../src/rules/engine.ts';
import { loadRuleFiles } from '../../../src/rules/load.ts';
import type { Webhook } from '../../../src/rules/webhook-schema.ts';
import { TransportRegistry } from '../../../src/transports/registry.ts';
import { event, FIXTURES, fixtureEvent, ids } from './helpers.ts';

const config = loadConfig(`${FIXTURES}seed-003/hookd.yaml`, {});
const loaded = loadRuleFiles(`${FIXTURES}seed-003/rules`, new TransportRegistry());
assert.deepEqual(loaded.problems, []);
const seed = loaded.webhooks[0]!;
const attributes = config.events.attributes;

/** The seed webhook with only topic `i`: proves which topic does the matching. */
function onlyTopic(i: number): Webhook {
  return { ...seed, id: `topic-${i}`, topics: [seed.topics![i]!] };
}

type Body = Record<string, unknown> & {
  event: Record<string, unknown>;
  resource: { sys: Record<string, unknown> & { workflow: Record<string, unknown> } };
};

const cases: { topic: number; file: string; miss: string; change: (b: Body) => void }[] = [
  {
    topic: 0,
    file: 'topic0-entry-created-blog-fr.json',
    miss: 'language en-gb instead of fr-fr',
    change: (b) => {
      b.resource.sys.language = 'en-gb';
    },
  },
  {
    topic: 1,
    file: 'topic1-entry-published-news.json',
    miss: 'a published blog entry, not news',
    change: (b) => {
      b.resource.sys.contentTypeId = 'blog';
    },
  },
  {
    topic: 2,
    file: 'topic2-content-type-created.json',
    miss: 'contentType.updated instead of created',
    change: (b) => {
      b.type = 'contentType.updated';
    },
  },
  {
    topic: 3,
    file: 'topic3-workflow-submit-blog.json',
    miss: 'a workflow event raised by another owner',
    change: (b) => {
      b.resource.sys.owner = 'm.singer';
    },
  },
  {
    topic: 4,
    file: 'topic4-workflow-declined-news.json',
    miss: 'news approved rather than declined',
    change: (b) => {
      b.event.workflowEvent = 'contensisentryapproval.awaitingApproval.approve';
    },
  },
  {
    topic: 5,
    file: 'topic5-workflow-state-blog.json',
    miss: 'a blog entry whose workflow moved to another state',
    change: (b) => {
      b.resource.sys.workflow.state = 'contensisentryapproval.published';
    },
  },
];

describe('seed 003: the six topics', () => {
  const full = compileRuleSet([seed], { attributes });
  const singles = compileRuleSet(
    cases.map((c) => onlyTopic(c.topic)),
    { attributes },
  );

  it('the seed webhook has the six topics of the seed', () => {
    assert.equal(seed.topics?.length, 6);
    assert.deepEqual(seed.topics![0]!.owner, ['t.durden']);
  });

  for (const c of cases) {
    it(`topic #${c.topic} matches ${c.file}, and only topic #${c.topic} does`, () => {
      const e = fixtureEvent(`seed-003/events/${c.file}`);
      assert.deepEqual(ids(full.select(e)), [seed.id]);
      assert.deepEqual(ids(singles.select(e)), [`topic-${c.topic}`]);
    });

    it(`topic #${c.topic} does not match ${c.miss}`, () => {
      const body = structuredClone(fixtureEvent(`seed-003/events/${c.file}`).body) as Body;
      c.change(body);
      const e = event(body);
      assert.deepEqual(ids(singles.select(e)), []);
      assert.deepEqual(ids(full.select(e)), []);
      const why = full.explain(e).entries[0]!;
      assert.equal(why.reason?.code, 'topics');
    });
  }

  it('explain names the failing key of each topic', () => {
    const body = structuredClone(
      fixtureEvent('seed-003/events/topic0-entry-created-blog-fr.json').body,
    ) as Body;
    body.resource.sys.language = 'en-gb';
    const reason = full.explain(event(body)).entries[0]!.reason;
    assert.ok(reason?.code === 'topics');
    assert.deepEqual(
      reason.failures.map((f) => [f.topic, f.key, f.actual]),
      [
        [0, 'language', 'en-gb'],
        [1, 'event', 'created'],
        [2, 'resourceType', 'entry'],
        [3, 'event', 'created'],
        [4, 'event', 'created'],
        [5, 'event', 'created'],
      ],
    );
  });

  it('without the configured pointers the seed-specific keys are missing and nothing matches', () => {
    const bare = compileRuleSet([seed]);
    assert.deepEqual(ids(bare.select(fixtureEvent('seed-003/events/topic0-entry-created-blog-fr.json'))), []);
    // Topic #2 uses only built-in keys.
    assert.deepEqual(ids(bare.select(fixtureEvent('seed-003/events/topic2-content-type-created.json'))), [
      seed.id,
    ]);
  });
});
