/**
 * Issue 4 acceptance through the real loader: rule files under
 * test/fixtures/templates/ loaded with loadRuleFiles and the built-in
 * transports, compiled by the catalog as hookd run compiles them, rendered against event
 * fixtures and compared with hand-written expected requests.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadCatalog } from '../../../src/catalog/index.ts';
import { ConfigError, formatProblem } from '../../../src/config/problems.ts';
import { ConfigSchema } from '../../../src/config/schema.ts';
import type { Webhook } from '../../../src/rules/webhook-schema.ts';
import { RenderError, type WebhookTemplates } from '../../../src/templates/index.ts';
import type { RenderedRequest } from '../../../src/transports/contract.ts';
import { TransportRegistry } from '../../../src/transports/registry.ts';
import { FIXTURES, fixture, hookEvent, readable } from './helpers.ts';

const registry = new TransportRegistry();
const config = ConfigSchema.parse({});
const loadDir = (dir: string) => loadCatalog({ config, rulesDir: `${FIXTURES}${dir}`, registry });

function load(dir: string) {
  const { catalog, fileWebhooks } = loadDir(dir);
  const byFile = (file: string): [Webhook, WebhookTemplates] => {
    const w = fileWebhooks.find((x) => x.file === file);
    assert.ok(w, `a webhook from ${file}`);
    const t = catalog.templates.get(w.id);
    assert.ok(t, `compiled templates for ${file}`);
    return [w, t];
  };
  return { fileWebhooks, catalog, byFile };
}

const rules = load('rules');

/** Renders an event fixture and checks it against an expected fixture: values and exact body bytes. */
async function expectRendered(
  t: WebhookTemplates,
  eventFile: string,
  expectedFile: string,
): Promise<RenderedRequest> {
  const expected = fixture<{ body: unknown }>(`expected/${expectedFile}`);
  const req = await t.render(hookEvent(fixture(`events/${eventFile}`)));
  assert.deepEqual(readable(req), expected);
  assert.equal(req.body, JSON.stringify(expected.body), 'the body bytes, keys in template order');
  return req;
}

describe('seed 003 subscription, loaded unchanged from a rule file', () => {
  const [w, t] = rules.byFile('seed-003.yaml');

  it('loads with every rule file valid and every template compiled', () => {
    assert.equal(rules.catalog.templates.size, rules.fileWebhooks.length);
    assert.equal(t.usesJsonata, false);
  });

  it('renders an entry event with the entry template, templated url and department header', async () => {
    await expectRendered(t, 'entry-blog-created.json', 'seed-003-entry-blog-created.json');
  });

  it('renders a news entry with the entry.news template and a percent-encoded url', async () => {
    await expectRendered(t, 'entry-news-published.json', 'seed-003-entry-news-published.json');
  });

  it('renders a contentType event as the whole resource, without the department header it lacks', async () => {
    await expectRendered(t, 'content-type-created.json', 'seed-003-content-type-created.json');
  });

  it('sends the event itself for a resource type without a template', async () => {
    await expectRendered(t, 'asset-created.json', 'seed-003-asset-created.json');
  });

  it('keeps secret header values out of the rendered request; the webhook keeps them for the transport', async () => {
    const req = await t.render(hookEvent(fixture('events/entry-blog-created.json')));
    assert.ok(!JSON.stringify(req).includes('cs7vdsdvj~8'));
    assert.deepEqual(w.headers.secretHeaderSet, { value: 'cs7vdsdvj~8', secret: true });
  });

  it('reads {/resource/sys.id} as RFC 6901 does: the key "sys.id", not sys then id', () => {
    const event = fixture<{ resource: Record<string, unknown> }>('events/entry-blog-created.json');
    delete event.resource['sys.id'];
    assert.throws(
      () => t.render(hookEvent(event)),
      (err: unknown) =>
        err instanceof RenderError &&
        err.message.startsWith('url needs {/resource/sys.id} but the event has no value there') &&
        err.path.join('.') === 'url',
    );
  });
});

describe('seed 001 properties', () => {
  it('merges the properties into the event body', async () => {
    const [, t] = rules.byFile('seed-001.yaml');
    await expectRendered(t, 'contact-created.json', 'seed-001-contact-created.json');
  });
});

describe('seed 004 hooks', () => {
  const [, t] = rules.byFile('seed-004.yaml');

  it('sends order_cancelled to its own endpoint with its own method', async () => {
    await expectRendered(t, 'order-cancelled.json', 'seed-004-order-cancelled.json');
  });

  it('sends the other hook types to theirs', async () => {
    const req = await t.render(hookEvent({ id: 'e', type: 'order_created', data: {} }));
    assert.deepEqual([req.method, req.url], ['POST', 'https://requestb.in/123']);
  });
});

describe('JSONata rule file', () => {
  it('reshapes an order with a computed total', async () => {
    const [, t] = rules.byFile('orders-jsonata.yaml');
    assert.equal(t.usesJsonata, true);
    await expectRendered(t, 'order-created.json', 'orders-jsonata-order-created.json');
  });
});

describe('bad templates in a rule file', () => {
  const problems = (() => {
    try {
      loadDir('bad-rules');
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
  })();
  const lines = problems.map((p) => formatProblem({ ...p, file: p.file.slice(FIXTURES.length) }));

  it('are refused with file:line:col of the broken value and the field path', () => {
    assert.deepEqual(lines, [
      'bad-rules/bad.yaml:8:16: webhooks[0].templates.entry.title: unbalanced braces: placeholder "{" at character 1 is never closed in template "{/resource/entryTitle"',
      'bad-rules/bad.yaml:13:16: webhooks[1].headers.department.value: bad placeholder {/resource/~2department}: JSON pointer "/resource/~2department" has "~" not followed by 0 or 1',
      'bad-rules/bad.yaml:18:18: webhooks[2].body.total.jsonata: JSONata syntax error: S0203 Expected ")" before end of expression (at character 21)',
      'bad-rules/bad.yaml:20:16: webhooks[3].targetUrl: unbalanced braces: "}" at character 27 has no matching "{" in template "https://example.com/hooks/}{/data/id}"',
    ]);
  });
});
