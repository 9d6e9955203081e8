/**
 * The one poller tests wait through: polls `check` until it returns a value
 * other than `undefined`/`false` or a deadline passes, then fails saying what
 * it waited for and what it last saw. A check that throws counts as "not yet"
 * (its error is what it last saw), except `GiveUp`, which ends the wait at once
 * (the process being waited for has exited, say). Never a bare sleep as an
 * assertion.
 */
import { inspect } from 'node:util';

export interface WaitOptions {
  /** Give up after this long (default 30 s: generous, a loaded machine must not make tests flaky). */
  timeoutMs?: number;
  /** Pause between checks (default 50 ms). */
  intervalMs?: number;
  /** Describes the state on expiry (may be async), when the check's own value (often `false`) says too little. */
  saw?: () => unknown;
}

export class WaitTimeout extends Error {
  readonly code = 'WAIT_TIMEOUT';
}

/** Thrown by a check: waiting longer cannot help. */
export class GiveUp extends Error {
  readonly code = 'WAIT_GIVE_UP';
}

const describe = (v: unknown): string =>
  v instanceof Error
    ? `${v.name}: ${v.message}`
    : typeof v === 'string'
      ? v
      : inspect(v, { depth: 4, breakLength: Number.POSITIVE_INFINITY, maxArrayLength: 20 });

export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  opts: WaitOptions | number = {},
): Promise<T> {
  const { timeoutMs = 30_000, intervalMs = 50, saw } = typeof opts === 'number' ? { timeoutMs: opts } : opts;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (err) {
      if (err instanceof GiveUp) throw new GiveUp(`gave up waiting for ${what}: ${err.message}`);
      last = err;
    }
    if (Date.now() >= deadline) {
      let seen: unknown = last;
      if (saw) {
        try {
          seen = await saw();
        } catch (err) {
          seen = err;
        }
      }
      throw new WaitTimeout(`waited ${timeoutMs} ms for ${what}; last saw ${describe(seen)}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
