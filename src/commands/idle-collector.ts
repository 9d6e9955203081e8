/**
 * Gives memory back after a burst. V8 shrinks an idle heap only once a full
 * collection has armed its memory reducer, and a burst of intake can end
 * without one: 200k events for a held webhook left 60–100 MiB of garbage in
 * the heap (RSS 240–280 MiB) for as long as hookd then sat idle. Making the
 * heap grow less instead (`--heap-growing-percent=20`) cost a third of a
 * drain's rate in more full collections. So: every `EVERY_MS`, when the heap
 * has grown well past what the last collection kept and almost nothing was
 * allocated since the last look (idle), one full collection, on the main
 * thread but only while it has nothing else to do.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const EVERY_MS = 5_000;
/** Less heap movement than this between two looks is idle (a busy hookd allocates megabytes a second). */
const QUIET_BYTES = 1 << 20;
/** Collect only when the heap holds this much more than the last collection kept. */
const GROWN_BYTES = 32 << 20;

export interface IdleCollector {
  /** Full collections run so far. */
  readonly collections: number;
  stop(): void;
}

export function collectWhenIdle(everyMs = EVERY_MS): IdleCollector {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const used = () => getHeapStatistics().used_heap_size;
  let kept = used();
  let last = kept;
  let collections = 0;
  const timer = setInterval(() => {
    const now = used();
    const idle = Math.abs(now - last) < QUIET_BYTES;
    last = now;
    if (!idle || now - kept < GROWN_BYTES) return;
    gc();
    collections++;
    kept = last = used();
  }, everyMs);
  timer.unref();
  return {
    get collections() {
      return collections;
    },
    stop: () => clearInterval(timer),
  };
}
