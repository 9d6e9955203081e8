/**
 * Issue 13, failure 11: `security.allowList` entries with a port
 * (`127.0.0.3:PORT`) were accepted and never matched. They are config errors
 * naming the entry; hosts, IPs, bracketed IPv6, CIDR ranges and `*.suffix` are
 * accepted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../../src/config/load.ts';
import { ConfigError, formatProblem } from '../../../src/config/problems.ts';

function load(entries: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'hookd-allow-'));
  const file = join(dir, 'hookd.yaml');
  writeFileSync(file, `security:\n  allowList:\n${entries.map((e) => `    - "${e}"`).join('\n')}\n`);
  try {
    return loadConfig(file, {});
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('an allowList entry with a port, a scheme or a path is a config error at its line', () => {
  const bad = [
    '127.0.0.3:8080',
    '[::1]:8080',
    'receiver.internal:443',
    'http://receiver.internal',
    '10.0.0.1/x',
  ];
  try {
    load(bad);
    assert.fail('accepted');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    const lines = err.problems.map(formatProblem);
    assert.equal(lines.length, bad.length, lines.join('\n'));
    bad.forEach((e, i) => {
      assert.match(lines[i]!, new RegExp(`hookd\\.yaml:${3 + i}:\\d+: security\\.allowList\\[${i}\\]: `));
      assert.ok(lines[i]!.includes(JSON.stringify(e)), lines[i]);
    });
    assert.match(lines[0]!, /port/);
  }
});

test('hosts, IPs, IPv6 (bracketed or not), CIDR ranges and *.suffix are accepted', () => {
  const good = ['127.0.0.3', 'receiver.internal', '::1', '[::1]', '10.0.0.0/8', 'fd00::/8', '*.internal'];
  assert.deepEqual(load(good).security.allowList, good);
});
