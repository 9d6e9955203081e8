/**
 * Gives memory back after a burst. V8 shrinks an idle heap only once a full
 * collection has armed its memory reducer, and a burst of intake can end
 * without one: 200k events for a held webhook left 60–100 MiB of garbage in
 * the heap (RSS 240–280 MiB) for as long as hookd then sat idle. Making the
 * heap grow less instead (`--heap-growing-percent=20`) cost a third of a
 * drain's rate in more full collections. So: every `EVERY_MS`, when the heap
 * has grown well past what the last collection kept and the event loop was
 * idle since the last look, one full collection, on the main thread but only
 * while it has nothing else to do. (Idle is the loop's utilization, not the
 * heap standing still: an idle daemon's timers and pings still allocate a
 * few hundred KB a second into the young generation.)
 *
 * The heap can also hold little but keep much: after a burst, the old space
 * kept 55 MiB for 25 MiB of live objects scattered over its pages, and the
 * young generation its full 32 MiB, with no garbage to speak of (200k held
 * deliveries: RSS 203–240 MiB for as long as hookd held them). So the first
 * idle look after a busy spell also collects when the heap has `SPARE_BYTES`
 * committed beyond what it uses (at most once a `SPARE_EVERY_MS`), twice when
 * the first leaves the old space sparse: the second compacts the pages the
 * first found fragmented. Committed memory going down arms V8's memory
 * reducer, which then shrinks the young generation (RSS 153 MiB).
 */
import { performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const EVERY_MS = 5_000;
/** An event loop busy less than this share of the time between two looks is idle. */
const QUIET_UTILIZATION = 0.05;
/** Collect when the heap holds this much more than the last collection kept. */
const GROWN_BYTES = 32 << 20;
/** After a busy spell, collect when the heap has this much committed beyond what it uses. */
const SPARE_BYTES = 16 << 20;
const SPARE_EVERY_MS = 60_000;

/** Bytes the old space has committed but does not use. */
function oldSpaceSlack(): number {
  const old = getHeapSpaceStatistics().find((s) => s.space_name === 'old_space');
  return old ? old.space_size - old.space_used_size : 0;
}

export interface IdleCollector {
  /** Full collections run so far. */
  readonly collections: number;
  stop(): void;
}

export function collectWhenIdle(everyMs = EVERY_MS): IdleCollector {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const used = () => getHeapStatistics().used_heap_size;
  const spare = () => {
    const h = getHeapStatistics();
    return h.total_heap_size - h.used_heap_size;
  };
  let kept = used();
  /** A busy look since the last collection (starting up counts). */
  let busySpell = true;
  let spareCollectedAt = Number.NEGATIVE_INFINITY;
  let loop = performance.eventLoopUtilization();
  let collections = 0;
  const timer = setInterval(() => {
    const since = performance.eventLoopUtilization(loop);
    loop = performance.eventLoopUtilization();
    if (since.utilization >= QUIET_UTILIZATION) {
      busySpell = true;
      return;
    }
    const afterSpell = busySpell;
    busySpell = false;
    const grown = used() - kept >= GROWN_BYTES;
    const spareAfterSpell =
      afterSpell && spare() >= SPARE_BYTES && Date.now() - spareCollectedAt >= SPARE_EVERY_MS;
    if (!grown && !spareAfterSpell) return;
    gc();
    if (oldSpaceSlack() >= SPARE_BYTES) gc();
    collections++;
    kept = used();
    if (spareAfterSpell) spareCollectedAt = Date.now();
  }, everyMs);
  timer.unref();
  return {
    get collections() {
      return collections;
    },
    stop: () => clearInterval(timer),
  };
}
