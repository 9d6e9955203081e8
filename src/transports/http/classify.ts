/**
 * Maps an HTTP response or error to the dispatcher's outcome (DESIGN.md
 * section 4): 2xx success; 408, 425, 429, 5xx, timeouts and connection
 * errors retryable (honouring Retry-After); 410 stops the webhook; other
 * 4xx (and 1xx/3xx left after redirects) permanent.
 */
import { permanent, retryable, type SendResult, success } from '../contract.ts';

const RETRYABLE_4XX = new Set([408, 425, 429]);

/** Parses Retry-After (seconds or an HTTP date) into milliseconds from now. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function classifyStatus(status: number, response: string, retryAfter?: string | string[]): SendResult {
  if (status >= 200 && status < 300) return success(status, response);
  const error = `HTTP ${status}`;
  if (status === 410)
    return permanent(`${error}: the receiver asked to stop (410 Gone)`, {
      status,
      response,
      stopWebhook: true,
    });
  if (status >= 500 || RETRYABLE_4XX.has(status)) {
    return retryable(error, { status, response, retryAfterMs: parseRetryAfter(retryAfter) });
  }
  return permanent(error, { status, response });
}

/** Errors from undici / the network. Everything that may succeed on another try is retryable. */
export function classifyError(err: unknown, timedOut: boolean, context = ''): SendResult {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code;
  if (timedOut) return retryable(`${context}timeout: no response within the delivery timeout`);
  const message = e.cause?.message ?? e.message ?? String(err);
  return retryable(context + (code ? `${code}: ${message}` : message));
}
