/**
 * Transport plugins from `plugins.dir`: seed 000's vendor type
 * `chargecloud-document` is a config error without its plugin and delivers
 * with it (example plugin in test/fixtures/plugins); broken plugins are
 * refused with errors naming the file, and nothing is registered then.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { loadPlugins, PluginLoadError } from '../../../src/plugins/index.ts';
import { loadRuleFiles } from '../../../src/rules/load.ts';
import type { HookEvent } from '../../../src/source/event.ts';
import { compileWebhookTemplates } from '../../../src/templates/index.ts';
import { instantiate, TransportRegistry } from '../../../src/transports/registry.ts';

const EXAMPLE_DIR = resolve(import.meta.dirname, '../../fixtures/plugins');

describe('plugins: seed 000 vendor type', () => {
  let rules: string;
  let out: string;
  before(() => {
    rules = mkdtempSync(join(tmpdir(), 'hookd-plugin-rules-'));
    out = mkdtempSync(join(tmpdir(), 'hookd-plugin-out-'));
    writeFileSync(
      join(rules, 'vendor.yaml'),
      [
        'webhooks:',
        '  - identifier: my-webhook',
        '    type: chargecloud-document',
        '    data:',
        `      directory: ${out}`,
        '      fileName: "doc-{/id}.json"',
        '',
      ].join('\n'),
    );
  });
  after(() => {
    rmSync(rules, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  });

  it('without the plugin, the rule file is a config error saying a plugin is needed', () => {
    const loaded = loadRuleFiles(rules, new TransportRegistry());
    assert.equal(loaded.webhooks.length, 0);
    assert.equal(loaded.problems.length, 1);
    assert.match(
      loaded.problems[0].message,
      /type "chargecloud-document" is a vendor type that is not built in; load a plugin for it from plugins\.dir/,
    );
  });

  it('with the example plugin loaded, the webhook validates and delivers', async () => {
    const registry = new TransportRegistry();
    await loadPlugins(EXAMPLE_DIR, registry);
    assert.equal(registry.resolveType('chargecloud-document'), 'chargecloud-document');
    const loaded = loadRuleFiles(rules, registry);
    assert.deepEqual(loaded.problems, []);
    const [webhook] = loaded.webhooks;
    const module = registry.get(webhook.type)!;
    const event: HookEvent = {
      id: 'evt-9',
      type: 'document.rendered',
      subject: 'events.doc',
      body: { id: 'evt-9', type: 'document.rendered', data: { pages: 2 } },
      data: { pages: 2 },
      extensions: {},
      receivedAt: Date.now(),
    };
    const request = await compileWebhookTemplates(webhook, { templateFields: module.templateFields }).render(
      event,
    );
    const t = instantiate(module, {
      logger: pino({ level: 'silent' }),
      timeoutMs: 5_000,
      security: { allowPrivateNetworks: false, allowList: [] },
    });
    try {
      const r = await t.send(
        { id: 'd-1', eventId: event.id, eventType: event.type, attempt: 1, webhook, request },
        AbortSignal.timeout(5_000),
      );
      assert.equal(r.outcome, 'success', JSON.stringify(r));
      assert.deepEqual(JSON.parse(readFileSync(join(out, 'doc-evt-9.json'), 'utf8')), event.body);
    } finally {
      await t.close();
    }
  });

  it('the plugin validates its data with its own schema', async () => {
    const registry = new TransportRegistry();
    await loadPlugins(EXAMPLE_DIR, registry);
    writeFileSync(
      join(rules, 'bad.yaml'),
      'webhooks:\n  - identifier: b\n    type: chargecloud-document\n    data: {directory: relative/dir}\n',
    );
    try {
      const loaded = loadRuleFiles(rules, registry);
      assert.equal(loaded.problems.length, 1);
      assert.match(loaded.problems[0].message, /directory/);
      assert.match(loaded.problems[0].message, /absolute path/);
    } finally {
      rmSync(join(rules, 'bad.yaml'));
    }
  });
});

describe('plugins: loading', () => {
  let dir: string;
  const SCHEMA = '{ safeParse: (v) => ({ success: true, data: v }) }';
  const plugin = (type: string, exportAs = 'export default') =>
    `${exportAs} { types: ['${type}'], dataSchema: ${SCHEMA}, create: () => ({ send: async () => ({ outcome: 'success' }), close: async () => {} }) };\n`;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hookd-plugins-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function fresh(files: Record<string, string>): string {
    const d = mkdtempSync(join(dir, 'case-'));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
    return d;
  }

  it('loads .mjs and .js modules exporting default or transport; ignores other files', async () => {
    const d = fresh({
      'a.mjs': plugin('binect-document'),
      'b.mjs': plugin('binect-email', 'export const transport ='),
      'README.md': '# not a plugin',
      'types.d.ts': 'export {};',
    });
    const registry = new TransportRegistry();
    await loadPlugins(d, registry);
    assert.equal(registry.resolveType('binect-document'), 'binect-document');
    assert.equal(registry.resolveType('binect-email'), 'binect-email');
  });

  it('names every broken file and registers nothing', async () => {
    const d = fresh({
      '1-good.mjs': plugin('epostbusiness-document'),
      '2-syntax.mjs': 'export default {',
      '3-empty.mjs': 'export const x = 1;\n',
      '4-shape.mjs': 'export default { types: [], create() {} };\n',
      '5-builtin.mjs': plugin('webhook'),
      '6-dup.mjs': plugin('epostbusiness-document'),
      '7-throws.mjs': "throw new Error('plugin exploded on import');\n",
    });
    const registry = new TransportRegistry();
    const err = await loadPlugins(d, registry).then(
      () => assert.fail('loading should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof PluginLoadError);
    const byFile = Object.fromEntries(err.problems.map((p) => [p.file.split('/').pop(), p.message]));
    assert.deepEqual(Object.keys(byFile).sort(), [
      '2-syntax.mjs',
      '3-empty.mjs',
      '4-shape.mjs',
      '5-builtin.mjs',
      '6-dup.mjs',
      '7-throws.mjs',
    ]);
    assert.match(byFile['2-syntax.mjs'], /^failed to load: /);
    assert.match(
      byFile['3-empty.mjs'],
      /exports no transport module \(export it as "default" or "transport"\)/,
    );
    assert.match(byFile['4-shape.mjs'], /is not a valid transport module: "types" must be a non-empty list/);
    assert.match(byFile['5-builtin.mjs'], /type "webhook" is already provided by a built-in transport/);
    assert.match(
      byFile['6-dup.mjs'],
      new RegExp(`type "epostbusiness-document" is already provided by ${d}/1-good\\.mjs`),
    );
    assert.match(byFile['7-throws.mjs'], /failed to load: plugin exploded on import/);
    assert.match(err.message, /^plugins\.dir: /);
    assert.match(err.message, /2-syntax\.mjs: failed to load/);
    assert.equal(
      registry.resolveType('epostbusiness-document'),
      undefined,
      'a failed load registers nothing',
    );
  });

  it('a missing directory is an error naming it', async () => {
    const missing = join(dir, 'does-not-exist');
    await assert.rejects(loadPlugins(missing, new TransportRegistry()), (e: unknown) => {
      assert.ok(e instanceof PluginLoadError);
      assert.match(e.message, new RegExp(`${missing}: cannot read the directory`));
      return true;
    });
  });
});
