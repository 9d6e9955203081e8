/**
 * Intake batches several at a time (issue 14): full batches are stored up
 * to `atOnce` together; a batch that is not full waits until nothing else
 * is being stored, and what arrives meanwhile joins it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inBatches } from '../../../src/source/batches.ts';

test('full batches go several at once; a partial one waits and grows', async () => {
  const buffer = Array.from({ length: 10 }, (_, i) => i);
  const open: { batch: number[]; done: () => void }[] = [];
  const seen: number[][] = [];
  const draining = inBatches(
    () => buffer,
    4,
    (batch) =>
      new Promise<void>((done) => {
        seen.push(batch);
        open.push({ batch, done });
      }),
    2,
  );
  await Promise.resolve();
  assert.deepEqual(seen, [
    [0, 1, 2, 3],
    [4, 5, 6, 7],
  ]);
  // Two more arrive; [8, 9] is not full and others are being stored: it waits.
  buffer.push(10, 11, 12);
  open.shift()!.done();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen.at(-1), [8, 9, 10, 11], 'a full batch again, up to two at once');
  assert.equal(open.length, 2);
  open.shift()!.done();
  open.shift()!.done();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen.at(-1), [12], 'alone now: a partial batch goes');
  open.shift()!.done();
  await draining;
  assert.equal(buffer.length, 0);
});
