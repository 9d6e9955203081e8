/**
 * Batches out of a buffer that keeps filling, several being stored at once:
 * while one waits for its sync, the next is decoded and rendered, and
 * batches that reach the store together share one commit (issue 14). A
 * batch that is not full waits until nothing else is being stored: what
 * arrives meanwhile joins it (fewer, larger commits write fewer bytes).
 */
/** Batches being stored at once (each is acknowledged when its own commit returned). */
export const STORING_AT_ONCE = 4;

export async function inBatches<T>(
  /** The buffer as it is now (the caller keeps appending to it). */
  buffer: () => T[],
  size: number,
  store: (batch: T[]) => Promise<void>,
  atOnce = STORING_AT_ONCE,
): Promise<void> {
  const storing = new Set<Promise<void>>();
  while (buffer().length > 0 || storing.size > 0) {
    while (
      storing.size < atOnce &&
      (buffer().length >= size || (buffer().length > 0 && storing.size === 0))
    ) {
      const p: Promise<void> = store(buffer().splice(0, size)).finally(() => storing.delete(p));
      storing.add(p);
    }
    await Promise.race(storing);
  }
}
