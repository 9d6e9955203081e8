/**
 * The idle collector (commands/idle-collector.ts): garbage a burst left in
 * the heap is collected once hookd goes idle, never while it is allocating.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getHeapStatistics } from 'node:v8';
import { collectWhenIdle } from '../../../src/commands/idle-collector.ts';

const used = () => getHeapStatistics().used_heap_size;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** About `mb` MiB of objects that live long enough to reach the old generation, then are dropped. */
async function burst(mb: number): Promise<void> {
  let keep: object[] = [];
  for (let i = 0; i < mb * 8; i++) {
    keep.push(Array.from({ length: 1024 }, (_, j) => ({ i, j, s: `x${j}` })));
    if (i % 64 === 0) await sleep(0);
  }
  keep = [];
}

test('a burst of garbage is collected once the process is idle, and only then', async () => {
  const collector = collectWhenIdle(200);
  try {
    // Busy: allocating all the time, the heap moves more than the quiet threshold between looks.
    const busyUntil = Date.now() + 1000;
    let churn: unknown[] = [];
    while (Date.now() < busyUntil) {
      churn = Array.from({ length: 20_000 }, (_, i) => ({ i, s: `y${i}` }));
      await sleep(1);
    }
    churn = [];
    assert.equal(collector.collections, 0, 'no collection while allocating');

    await burst(64);
    const before = used();
    for (let i = 0; i < 50 && collector.collections === 0; i++) await sleep(100);
    assert.ok(collector.collections >= 1, 'collected once idle');
    assert.ok(used() < before - (32 << 20), `heap ${before >> 20} MiB before, ${used() >> 20} MiB after`);
    const n = collector.collections;
    await sleep(1000);
    assert.equal(collector.collections, n, 'idle and nothing new: no further collection');
    void churn;
  } finally {
    collector.stop();
  }
});
