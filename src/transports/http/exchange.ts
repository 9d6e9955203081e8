/**
 * One HTTP exchange of an attempt: the request, then redirects followed by
 * hand (so each hop goes back through the guarded connector), then the
 * classified outcome. Credentials are not carried to another origin.
 */
import type { Readable } from 'node:stream';
import { type Agent, request } from 'undici';
import { abortedResult } from '../abort.ts';
import { permanent, type SendResult } from '../contract.ts';
import { findRefusal } from '../net/guard.ts';
import { classifyError, classifyStatus } from './classify.ts';

/** How much of a response body is kept on the attempt record. */
export const RESPONSE_SNIPPET_BYTES = 1024;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export interface ExchangeRequest {
  agent: Agent;
  url: URL;
  method: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** Header names holding credentials: dropped when a redirect leaves the origin. */
  credentials: string[];
  body: string | undefined;
  maxRedirects: number;
  signal: AbortSignal;
}

export interface ExchangeResult {
  result: SendResult;
  /** Final status, when a response arrived. */
  status?: number;
  /** Whether the final request still carried the credentials (a 401 then means they were rejected). */
  sentCredentials: boolean;
}

/**
 * The first `RESPONSE_SNIPPET_BYTES` of a response body, read to its end so
 * the connection is reused (a huge one is cut off). Listeners, not an async
 * iterator: one per response was 1 % of a drain's main thread.
 */
function readSnippet(body: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      body.off('data', onData);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks).subarray(0, RESPONSE_SNIPPET_BYTES).toString('utf8'));
    };
    const onData = (chunk: Buffer) => {
      if (size < RESPONSE_SNIPPET_BYTES) chunks.push(chunk);
      size += chunk.length;
      // Drain modest bodies so the connection can be reused; give up on huge ones.
      if (size > 64 * 1024) {
        settle();
        body.destroy();
      }
    };
    body.on('data', onData);
    body.once('end', () => settle());
    body.on('error', (err: Error) => settle(err));
    body.once('close', () => settle(new Error('the response body closed before its end')));
  });
}

export async function exchange(x: ExchangeRequest): Promise<ExchangeResult> {
  let url = x.url;
  let method = x.method;
  let body = x.body;
  const headers = { ...x.headers };
  let sentCredentials = true;
  for (let hop = 0; ; hop++) {
    const where = hop === 0 ? '' : `redirect ${hop} to ${url.origin}${url.pathname}: `;
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, {
        method: method as 'POST',
        headers,
        body,
        signal: x.signal,
        dispatcher: x.agent,
      });
    } catch (err) {
      if (x.signal.aborted) return { result: abortedResult(x.signal), sentCredentials };
      const refused = findRefusal(err);
      if (refused) return { result: permanent(`${where}${refused.message}`), sentCredentials };
      return { result: classifyError(err, false, where), sentCredentials };
    }
    const status = res.statusCode;
    const location = res.headers.location;
    if (REDIRECTS.has(status) && typeof location === 'string') {
      await res.body.dump().catch(() => {});
      if (hop >= x.maxRedirects) {
        return {
          result: permanent(`too many redirects (more than ${x.maxRedirects})`, { status }),
          status,
          sentCredentials,
        };
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        return {
          result: permanent(`HTTP ${status} redirect to an invalid location`, { status }),
          status,
          sentCredentials,
        };
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        return {
          result: permanent(`HTTP ${status} redirect to unsupported scheme ${next.protocol}`, { status }),
          status,
          sentCredentials,
        };
      }
      if (status === 303 && method !== 'HEAD') {
        method = 'GET';
        body = undefined;
        delete headers['content-type'];
      }
      if (next.origin !== url.origin) {
        for (const name of x.credentials) delete headers[name];
        sentCredentials = false;
      }
      url = next;
      continue;
    }
    try {
      const snippet = await readSnippet(res.body);
      return { result: classifyStatus(status, snippet, res.headers['retry-after']), status, sentCredentials };
    } catch (err) {
      if (x.signal.aborted) return { result: abortedResult(x.signal), status, sentCredentials };
      return { result: classifyError(err, false), status, sentCredentials };
    }
  }
}
