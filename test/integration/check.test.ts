/**
 * Issue 2, acceptance 5: invalid YAML, an unknown key and a bad type in
 * rules/ each make `hookd check` exit 1 with `file:line:col: message`, and
 * `hookd run` refuse to start with the same message.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCheck } from '../../src/commands/check.ts';
import { makeDirs } from '../helpers/hookd.ts';

const ROOT = join(import.meta.dirname, '../..');

async function check(rules: Record<string, string>) {
  const dirs = makeDirs(rules);
  const lines: string[] = [];
  const code = await runCheck(
    { config: dirs.configPath, rules: dirs.rulesDir },
    { stdout: (s) => lines.push(s), stderr: (s) => lines.push(s) },
    {},
  );
  return { dirs, code, lines };
}

function run(dirs: ReturnType<typeof makeDirs>) {
  return spawnSync(
    process.execPath,
    ['--import', 'tsx', 'src/cli.ts', 'run', '--config', dirs.configPath, '--rules', dirs.rulesDir],
    {
      cwd: ROOT,
      env: { ...process.env, HOOKD_HTTP_PORT: '0', HOOKD_STORE_PATH: join(dirs.dir, 'h.db') },
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
}

const cases = [
  {
    name: 'invalid YAML',
    text: 'webhooks:\n  - identifier: a\n    url: http://example.com\n   events: [x\n',
    expect: /^.*bad\.yaml:4:\d+: invalid YAML/,
  },
  {
    name: 'an unknown key',
    text: 'webhooks:\n  - identifier: a\n    url: http://example.com\n    evnets: [contact.created]\n',
    expect: /^.*bad\.yaml:4:5: webhooks\[0\]\.evnets: unknown key "evnets"$/,
  },
  {
    name: 'a bad type',
    text: 'webhooks:\n  - identifier: a\n    url: http://example.com\n    priority: high\n',
    expect: /^.*bad\.yaml:4:15: webhooks\[0\]\.priority: .*expected number.*$/i,
  },
];

for (const c of cases) {
  test(`${c.name}: check exits 1 with file:line:col, and run refuses to start with the same message`, async () => {
    const { dirs, code, lines } = await check({
      'good.yaml': 'webhooks:\n  - identifier: ok\n    url: http://example.com\n',
      'bad.yaml': c.text,
    });
    try {
      assert.equal(code, 1);
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0]!, c.expect);
      assert.ok(lines[0]!.startsWith(join(dirs.rulesDir, 'bad.yaml')), 'names the file');

      const r = run(dirs);
      assert.equal(r.status, 1, r.stderr);
      assert.ok(r.stderr.includes(lines[0]!), `run prints the same message:\n${r.stderr}`);
      assert.match(r.stderr, /not starting/);
    } finally {
      dirs.cleanup();
    }
  });
}

test('check reports every problem, not just the first', async () => {
  const { dirs, code, lines } = await check({
    'a.yaml':
      'webhooks:\n  - identifier: a\n    type: carrier-pigeon\n  - identifier: b\n    url: http://x\n    events: oops\n',
  });
  dirs.cleanup();
  assert.equal(code, 1);
  assert.equal(lines.length, 2, lines.join('\n'));
  assert.match(
    lines[0]!,
    /a\.yaml:3:11: webhooks\[0\]\.type: unknown webhook type "carrier-pigeon" \(known types: .*http.*\)/,
  );
  assert.match(lines[1]!, /a\.yaml:6:13: webhooks\[1\]\.events: /);
});

test('a valid directory passes', async () => {
  const { dirs, code, lines } = await check({
    'a.yaml': 'webhooks:\n  - identifier: a\n    url: http://example.com/{/id}\n',
  });
  dirs.cleanup();
  assert.equal(code, 0, lines.join('\n'));
  assert.match(lines[0]!, /ok: config valid, 1 webhook/);
});

test('the shipped config and rules are valid', async () => {
  const lines: string[] = [];
  const code = await runCheck(
    { config: join(ROOT, 'config/hookd.yaml'), rules: join(ROOT, 'rules') },
    { stdout: (s) => lines.push(s), stderr: (s) => lines.push(s) },
    {},
  );
  assert.equal(code, 0, lines.join('\n'));
});

test('a bad config key is named with file, line and key', async () => {
  const dirs = makeDirs({});
  writeFileSync(
    dirs.configPath,
    'http:\n  port: 80800\ndelivery:\n  retry:\n    schedule: [0s, 5 minutes]\n',
  );
  const lines: string[] = [];
  const code = await runCheck(
    { config: dirs.configPath, rules: dirs.rulesDir },
    { stdout: (s) => lines.push(s), stderr: (s) => lines.push(s) },
    {},
  );
  dirs.cleanup();
  assert.equal(code, 1);
  assert.match(lines.join('\n'), /hookd\.yaml:2:9: http\.port: /);
  assert.match(
    lines.join('\n'),
    /hookd\.yaml:5:20: delivery\.retry\.schedule\[1\]: "5 minutes" is not a duration/,
  );
});

test('a seed 000 vendor type needs its plugin: refused without plugins.dir, accepted with it', async () => {
  const rules = {
    'v.yaml':
      'webhooks:\n  - identifier: cc\n    type: chargecloud-document\n    data:\n      directory: /tmp\n',
  };
  const without = await check(rules);
  without.dirs.cleanup();
  assert.equal(without.code, 1);
  assert.match(
    without.lines[0]!,
    /v\.yaml:3:11: webhooks\[0\]\.type: type "chargecloud-document" is a vendor type that is not built in; load a plugin/,
  );

  const dirs = makeDirs(rules);
  writeFileSync(dirs.configPath, `plugins:\n  dir: ${join(ROOT, 'test/fixtures/plugins')}\n`);
  const lines: string[] = [];
  const code = await runCheck(
    { config: dirs.configPath, rules: dirs.rulesDir },
    { stdout: (s) => lines.push(s), stderr: (s) => lines.push(s) },
    {},
  );
  dirs.cleanup();
  assert.equal(code, 0, lines.join('\n'));
});
