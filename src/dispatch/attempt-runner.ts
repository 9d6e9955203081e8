/**
 * One attempt through a transport: the per-attempt timeout, cancellation
 * (shutdown), and the outcome when there is no transport or the transport
 * throws. Used by the dispatcher and by the test send, so both time out and
 * classify the same way.
 */
import type { Delivery, SendResult, TransportInstance } from '../transports/index.ts';
import { escaped } from './delivery-policy.ts';

export interface AttemptRun {
  result: SendResult;
  /** Wall-clock start (ms since the epoch), from the injected clock. */
  startedAt: number;
  durationMs: number;
}

export interface AttemptOptions {
  /** Undefined: the webhook's type has no transport (a permanent failure). */
  transport: TransportInstance | undefined;
  /** The request may be built lazily (parsed from the store): a failure there counts as the attempt's. */
  delivery: Omit<Delivery, 'request'> & { request: Delivery['request'] | (() => Delivery['request']) };
  timeoutMs: number;
  /**
   * Aborts the attempt, at its timeout and at shutdown (the dispatcher's
   * `Deadlines`); absent: a controller and timer of its own (the test send).
   */
  signal?: AbortSignal;
  now: () => number;
}

export async function runAttempt(opts: AttemptOptions): Promise<AttemptRun> {
  const { transport, delivery, timeoutMs } = opts;
  const startedAt = opts.now();
  const t0 = performance.now();
  if (!transport) {
    const type = delivery.webhook.type;
    return {
      result: { outcome: 'permanent', error: `no transport for type "${type}"` },
      startedAt,
      durationMs: 0,
    };
  }
  let signal = opts.signal;
  let timer: NodeJS.Timeout | undefined;
  if (!signal) {
    const controller = new AbortController();
    timer = setTimeout(
      () => controller.abort(new DOMException(`no response within ${timeoutMs} ms`, 'TimeoutError')),
      timeoutMs,
    );
    signal = controller.signal;
  }
  let result: SendResult;
  try {
    const request = typeof delivery.request === 'function' ? delivery.request() : delivery.request;
    result = await transport.send({ ...delivery, request }, signal);
  } catch (err) {
    result = escaped(err);
  } finally {
    clearTimeout(timer);
  }
  return { result, startedAt, durationMs: performance.now() - t0 };
}
