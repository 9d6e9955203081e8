// Runs the test suite with node:test through tsx. Node 20's runner takes no
// globs, so this finds the files. Usage: node scripts/run-tests.mjs [dir-or-file ...]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const roots = process.argv.slice(2).length ? process.argv.slice(2) : ['test'];
const files = [];
for (const root of roots) {
  if (statSync(root).isFile()) files.push(root);
  else
    for (const f of readdirSync(root, { recursive: true }))
      if (String(f).endsWith('.test.ts')) files.push(join(root, String(f)));
}
files.sort();
const concurrency = process.env.HOOKD_TEST_CONCURRENCY ?? '2';
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
