/**
 * Attempt timeouts without an AbortController and a timer per attempt
 * (issue 14): attempts with the same timeout that start within one `slotMs`
 * share a controller, aborted by one timer when the last of them is due, so
 * a timed-out attempt is still aborted, at most `slotMs` after its own
 * deadline, never before it. Shutdown aborts every slot still open.
 */
import { setMaxListeners } from 'node:events';

/** The width of a slot: how late a timeout may fire. */
const SLOT_MS = 50;

interface Slot {
  controller: AbortController;
  timer: NodeJS.Timeout;
}

export class Deadlines {
  /** Open slots by timeout, then by slot number. */
  private readonly slots = new Map<number, Map<number, Slot>>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly slotMs = SLOT_MS,
  ) {}

  /** The signal of an attempt starting now with `timeoutMs`: aborted with a `TimeoutError` once it is over. */
  signal(timeoutMs: number): AbortSignal {
    const n = Math.floor(this.now() / this.slotMs);
    let byTimeout = this.slots.get(timeoutMs);
    if (!byTimeout) {
      byTimeout = new Map();
      this.slots.set(timeoutMs, byTimeout);
    }
    let slot = byTimeout.get(n);
    if (!slot) {
      const controller = new AbortController();
      // Every attempt of the slot listens on it (undici does): no leak, so no warning.
      setMaxListeners(0, controller.signal);
      const end = (n + 1) * this.slotMs + timeoutMs - this.now();
      const timer = setTimeout(() => {
        byTimeout.delete(n);
        if (byTimeout.size === 0 && this.slots.get(timeoutMs) === byTimeout) this.slots.delete(timeoutMs);
        controller.abort(new DOMException(`no response within ${timeoutMs} ms`, 'TimeoutError'));
      }, end);
      // A pending deadline never keeps the process alive on its own.
      timer.unref?.();
      slot = { controller, timer };
      byTimeout.set(n, slot);
    }
    return slot.controller.signal;
  }

  /** Aborts every open slot with `reason` (shutdown). */
  abortAll(reason: Error): void {
    for (const byTimeout of this.slots.values())
      for (const slot of byTimeout.values()) {
        clearTimeout(slot.timer);
        slot.controller.abort(reason);
      }
    this.slots.clear();
  }
}
