/**
 * Issue 12 acceptance 5 (STYLE.md: one concept per file, mostly under 300
 * lines): a source file over 300 lines says in its header why it is still
 * one concept ("over 300 lines").
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

const SRC = resolve(import.meta.dirname, '../../src');

test('every source file over 300 lines says why it is one concept', () => {
  const unexplained = readdirSync(SRC, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts'))
    .filter((f) => {
      const text = readFileSync(join(SRC, f), 'utf8');
      return text.split('\n').length > 301 && !/over 300 lines/i.test(text.slice(0, 3000));
    });
  assert.deepEqual(unexplained, []);
});
