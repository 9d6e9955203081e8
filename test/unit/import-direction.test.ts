/**
 * Stage boundaries (STYLE.md): a folder of `src/` imports another only
 * through its `index.ts`, and only a folder listed before it here. Data flows
 * source → rules → templates → outbox → dispatch → transports, but the
 * dependencies are what this order records: transports come before outbox and
 * dispatch because the catalog validates webhooks against their schemas and
 * the dispatcher calls them; plugins add transports; secrets (where a
 * webhook keeps them, sealed at rest) know transports and the store's seam; the catalog loads files,
 * API webhooks (from the store) and plugins and compiles rules and templates.
 * sandbox runs conditions and JSONata in workers (it compiles them with rules
 * and templates). config and metrics are base lanes every stage may use; api,
 * open-jetstream.ts (the jetstream store opened before the App), app.ts (the
 * composition root) and commands sit on top.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const ORDER = [
  'config',
  'metrics',
  'source',
  'rules',
  'templates',
  'sandbox',
  'transports',
  'plugins',
  'outbox',
  'secrets',
  'catalog',
  'dispatch',
  'api',
  'logging.ts',
  'open-jetstream.ts',
  'app.ts',
  'commands',
  'cli.ts',
];
const SRC = resolve(import.meta.dirname, '../../src');
const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s+'(\.[^']+)'|\bimport\(\s*'(\.[^']+)'\s*\)/g;

test('no folder imports a later stage or another folder past its index.ts', () => {
  const bad: string[] = [];
  for (const f of readdirSync(SRC, { recursive: true }).map(String)) {
    if (!f.endsWith('.ts')) continue;
    const from = f.split('/')[0]!;
    for (const m of readFileSync(join(SRC, f), 'utf8').matchAll(IMPORT)) {
      const target = relative(SRC, resolve(SRC, dirname(f), m[1] ?? m[2]!));
      const to = target.split('/')[0]!;
      if (to === from) continue;
      assert.ok(ORDER.includes(from) && ORDER.includes(to), `${f} → ${target}: folder missing from ORDER`);
      if (ORDER.indexOf(to) > ORDER.indexOf(from)) bad.push(`${f} → ${target} (backward: ${from} → ${to})`);
      else if (!to.endsWith('.ts') && target !== `${to}/index.ts`)
        bad.push(`${f} → ${target} (past ${to}/index.ts)`);
    }
  }
  assert.deepEqual(bad, []);
});
