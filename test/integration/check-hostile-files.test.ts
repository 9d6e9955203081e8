/**
 * Issue 13, failures 6, 8, 9 and acceptance 3: `hookd check` never prints a
 * stack trace, never hangs, whatever is in `rules/` or given as `--config`:
 * a FIFO, a directory, a symlink loop, a dangling symlink, a YAML alias bomb,
 * invalid UTF-8, binary garbage, a huge file, nesting 100,000 deep... Each
 * problem is one line naming the file (`file:line:col: message` or
 * `file: message`). Legitimate files around them (empty, a BOM, 111 aliases of
 * one anchor) are accepted. `hookd check` runs as a process with a deadline,
 * so a hang fails the test instead of stalling it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeDirs, type TestDirs } from '../helpers/hookd.ts';

const ROOT = join(import.meta.dirname, '../..');

/** Runs `hookd check`; kills it after a generous deadline and says so. */
function check(dirs: TestDirs, configPath = dirs.configPath) {
  return new Promise<{ code: number | null; stdout: string; stderr: string; hung: boolean }>((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', 'check', '--config', configPath, '--rules', dirs.rulesDir],
      { cwd: ROOT, env: { ...process.env, HOOKD_API_TOKENS: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    let hung = false;
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, hung });
    });
  });
}

const billionLaughs = [
  'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
  ...'bcdefghi'.split('').map((c, i) => {
    const prev = 'abcdefghi'[i]!;
    return `${c}: &${c} [${Array(9).fill(`*${prev}`).join(',')}]`;
  }),
  'webhooks: []',
].join('\n');

/** A plain file: 111 webhooks share the first one's headers through one anchor (yaml's default limit is 100). */
const manyAliases = [
  'webhooks:',
  '  - {identifier: w0, url: "http://example.com/0", headers: &h {X-Team: crm}}',
  ...Array.from(
    { length: 111 },
    (_, i) => `  - {identifier: w${i + 1}, url: "http://example.com/${i + 1}", headers: *h}`,
  ),
].join('\n');

/** The nasty rule files, by name, with the problem each must be reported with. */
function corpus(dir: string): Record<string, RegExp> {
  const w = (name: string, data: string | Buffer) => writeFileSync(join(dir, name), data);
  spawnSync('mkfifo', [join(dir, 'fifo.yaml')]);
  mkdirSync(join(dir, 'dir.yaml'));
  symlinkSync('loop.yaml', join(dir, 'loop.yaml'));
  symlinkSync('nowhere/target.yaml', join(dir, 'dangling.yaml'));
  w('bomb.yaml', billionLaughs);
  w(
    'latin1.yaml',
    Buffer.concat([Buffer.from('webhooks:\n  - identifier: caf'), Buffer.from([0xe9]), Buffer.from('\n')]),
  );
  w('garbage.yaml', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256)));
  w('nul.yaml', 'webhooks:\n  - identifier: a\0b\n');
  w('huge.yaml', '');
  truncateSync(join(dir, 'huge.yaml'), 200 * 1024 * 1024); // sparse: costs no disk
  w('deep-flow.yaml', `x: ${'['.repeat(100_000)}${']'.repeat(100_000)}\nwebhooks: []\n`);
  w('deep-block.yaml', `${Array.from({ length: 3000 }, (_, i) => `${' '.repeat(i)}k:`).join('\n')} 1\n`);
  w('not-a-map.yaml', '- just\n- a list\n');
  w('complex-key.yaml', 'webhooks:\n  - ? [a, b]\n    : 1\n');
  return {
    'fifo.yaml': /: not a regular file \(a FIFO\)/,
    'dir.yaml': /: not a regular file \(a directory\)/,
    'loop.yaml': /: symbolic link loop/,
    'dangling.yaml': /: dangling symbolic link to nowhere\/target\.yaml/,
    'bomb.yaml': /:\d+:\d+: .*alias/i,
    'latin1.yaml': /:2:\d+: not UTF-8/,
    'garbage.yaml': /:\d+:\d+: not UTF-8/,
    'nul.yaml': /:\d+:\d+: /,
    'huge.yaml': /: too large/,
    'deep-flow.yaml': /:\d+:\d+: .*nest/i,
    'deep-block.yaml': /:\d+:\d+: .*nest/i,
    'not-a-map.yaml': /:1:1: /,
    'complex-key.yaml': /:\d+:\d+: .*unknown key/,
  };
}

function assertReported(r: Awaited<ReturnType<typeof check>>, expected: Record<string, RegExp>, dir: string) {
  const all = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  assert.equal(r.hung, false, `hookd check hung (killed after 60 s)\n${all}`);
  assert.equal(r.code, 1, all);
  assert.doesNotMatch(all, /^\s+at /m, 'no stack trace');
  assert.equal(r.stderr, '', 'problems go to stdout, nothing else is printed');
  const lines = r.stdout.trim().split('\n');
  for (const line of lines) assert.match(line, /^\S.*?(:\d+:\d+)?: \S/, `a located problem: ${line}`);
  for (const [name, pattern] of Object.entries(expected)) {
    const mine = lines.filter((l) => l.startsWith(`${join(dir, name)}:`));
    assert.equal(mine.length, 1, `one problem for ${name}, got:\n${mine.join('\n') || all}`);
    assert.match(mine[0]!.slice(join(dir, name).length), pattern, name);
  }
}

test('check reports every hostile rule file with its path, without a stack trace or a hang', async () => {
  const dirs = makeDirs({
    'empty.yaml': '',
    'bom.yaml': '\ufeffwebhooks:\n  - {identifier: bom, url: "http://example.com/bom"}\n',
    'aliases.yaml': manyAliases,
  });
  try {
    const expected = corpus(dirs.rulesDir);
    const r = await check(dirs);
    assertReported(r, expected, dirs.rulesDir);
    for (const ok of ['empty.yaml', 'bom.yaml', 'aliases.yaml']) {
      assert.ok(!r.stdout.includes(join(dirs.rulesDir, ok)), `${ok} is valid:\n${r.stdout}`);
    }
  } finally {
    dirs.cleanup();
  }
});

test('check reports a hostile --config file with its path, without a stack trace or a hang', async () => {
  const dirs = makeDirs({});
  const configs = join(dirs.dir, 'configs');
  mkdirSync(configs);
  try {
    const expected = corpus(configs);
    for (const [name, pattern] of Object.entries(expected)) {
      const r = await check(dirs, join(configs, name));
      assertReported(r, { [name]: pattern }, configs);
    }
  } finally {
    dirs.cleanup();
  }
});

test('a plugin whose validate throws is a problem at the webhook entry, not a stack trace', async () => {
  const dirs = makeDirs({ 'p.yaml': 'webhooks:\n  - identifier: p\n    type: throwing\n' });
  const plugins = join(dirs.dir, 'plugins');
  mkdirSync(plugins);
  writeFileSync(
    join(plugins, 'throwing.mjs'),
    [
      'export default {',
      "  types: ['throwing'],",
      '  dataSchema: { safeParse: (data) => ({ success: true, data }) },',
      "  validate() { throw new TypeError('plugin bug: cannot read x of undefined'); },",
      "  create: () => ({ send: async () => ({ outcome: 'success' }), close: async () => {} }),",
      '};',
    ].join('\n'),
  );
  writeFileSync(dirs.configPath, `plugins:\n  dir: ${JSON.stringify(plugins)}\n`);
  try {
    const r = await check(dirs);
    assertReported(r, { 'p.yaml': /:2:\d+: webhooks\[0\]: cannot be validated: plugin bug/ }, dirs.rulesDir);
  } finally {
    dirs.cleanup();
  }
});
