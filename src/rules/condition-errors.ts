/**
 * Condition errors are counted every time but logged once per webhook and
 * burst: the first error is logged, later ones are only counted until
 * `intervalMs` has passed since the last logged one; the next logged error
 * then says how many were not logged in between. A webhook whose condition
 * fails on every event thus logs about once a minute, not once per event.
 */

/** What the engine passes to `onConditionError` alongside the error. */
export interface ConditionErrorInfo {
  /** Log this one: the first error of a burst. */
  log: boolean;
  /** Errors of this webhook that were not logged since the last logged one. */
  suppressed: number;
}

/** Per-webhook throttle state, kept on the compiled rule. */
export interface ThrottleState {
  lastLoggedAt: number;
  suppressed: number;
}

/** Default quiet time between two logged errors of one webhook. */
export const CONDITION_ERROR_LOG_INTERVAL_MS = 60_000;

export function newThrottleState(): ThrottleState {
  return { lastLoggedAt: Number.NEGATIVE_INFINITY, suppressed: 0 };
}

/** Records one error at time `now` and says whether to log it. */
export function throttleConditionError(
  state: ThrottleState,
  now: number,
  intervalMs: number,
): ConditionErrorInfo {
  // A clock that went backwards (tests, NTP) starts a new burst rather than muting forever.
  if (now - state.lastLoggedAt >= intervalMs || now < state.lastLoggedAt) {
    const info = { log: true, suppressed: state.suppressed };
    state.lastLoggedAt = now;
    state.suppressed = 0;
    return info;
  }
  state.suppressed++;
  return { log: false, suppressed: state.suppressed };
}
