/**
 * The dispatcher's signal combines the attempt timeout (`AbortSignal.timeout`,
 * reason named `TimeoutError`) with shutdown. Both end the send as retryable;
 * the message says which one it was.
 */
import { retryable, type SendResult } from './contract.ts';

export function isTimeout(signal: AbortSignal): boolean {
  return signal.aborted && (signal.reason as Error | undefined)?.name === 'TimeoutError';
}

/** The outcome of a send the signal ended. */
export function abortedResult(signal: AbortSignal): SendResult {
  return isTimeout(signal)
    ? retryable('timeout: no answer within the delivery timeout')
    : retryable('aborted: the send was cancelled (hookd is shutting down)');
}

/** An error carrying the signal's reason, for code that has to throw. */
export class SendAbortedError extends Error {
  readonly code = 'HOOKD_SEND_ABORTED';
  constructor(readonly signal: AbortSignal) {
    super(isTimeout(signal) ? 'timeout' : 'aborted');
    this.name = 'SendAbortedError';
  }
}

/** Waits for `promise` unless the signal fires first (the work itself is not cancelled: the caller cleans up). */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new SendAbortedError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new SendAbortedError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
