/**
 * The `http` transport (alias `webhook`): POSTs (or the configured method)
 * the rendered request with undici, one keep-alive pool per origin, signing
 * with Standard Webhooks when the webhook has a `secret`.
 */
import { Agent, request } from 'undici';
import { z } from 'zod';
import type { Delivery, SendResult, TransportContext, TransportInstance, TransportModule } from '../contract.ts';
import { permanent } from '../contract.ts';
import { classifyError, classifyStatus } from './classify.ts';
import { secretKey, signatureHeaders } from './signature.ts';

/** How much of a response body is kept on the attempt record. */
export const RESPONSE_SNIPPET_BYTES = 1024;

export const HttpDataSchema = z.strictObject({
  /** Content type of the body; JSON by default. */
  contentType: z.string().min(1).optional(),
});

const USER_AGENT = 'hookd/0.1';

async function readSnippet(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size < RESPONSE_SNIPPET_BYTES) chunks.push(chunk);
    size += chunk.length;
    // Drain modest bodies so the connection can be reused; give up on huge ones.
    if (size > 64 * 1024) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, RESPONSE_SNIPPET_BYTES).toString('utf8');
}

function authHeader(d: Delivery): Record<string, string> {
  const a = d.webhook.authentication;
  if (a === undefined || a === 'none' || !('type' in a) || a.type === undefined) return {};
  if (a.type === 'basic') return { authorization: `Basic ${Buffer.from(`${a.username}:${a.password}`).toString('base64')}` };
  if (a.type === 'bearer') return { authorization: `Bearer ${a.token}` };
  return {};
}

function createHttp(ctx: TransportContext): TransportInstance {
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 256 });
  const keys = new Map<string, Buffer>();
  const keyFor = (secret: string) => {
    let k = keys.get(secret);
    if (!k) {
      k = secretKey(secret);
      keys.set(secret, k);
    }
    return k;
  };
  return {
    async send(d: Delivery, signal: AbortSignal): Promise<SendResult> {
      const req = d.request;
      if (!req.url) return permanent('the rendered request has no url');
      const headers: Record<string, string> = {
        'user-agent': USER_AGENT,
        'content-type': req.contentType,
        ...req.headers,
        ...authHeader(d),
      };
      // Secret headers are never stored with the rendered request; they are added per attempt.
      for (const [name, h] of Object.entries(d.webhook.headers)) {
        if (h.secret && h.value !== undefined) headers[name] = h.value;
      }
      if (d.webhook.secret) Object.assign(headers, signatureHeaders(keyFor(d.webhook.secret), d.id, req.body, Date.now()));
      try {
        const res = await request(req.url, {
          method: (req.method ?? 'POST') as 'POST',
          headers,
          body: req.method === 'GET' || req.method === 'HEAD' ? undefined : req.body,
          signal,
          dispatcher: agent,
        });
        const snippet = await readSnippet(res.body);
        return classifyStatus(res.statusCode, snippet, res.headers['retry-after']);
      } catch (err) {
        const timedOut = signal.aborted && (signal.reason as Error | undefined)?.name === 'TimeoutError';
        if (signal.aborted && !timedOut) return { outcome: 'retryable', error: 'aborted: hookd is shutting down' };
        return classifyError(err, timedOut);
      }
    },
    async close() {
      await agent.close();
    },
  };
}

export const httpTransport: TransportModule<z.output<typeof HttpDataSchema>> = {
  types: ['http', 'webhook'],
  dataSchema: HttpDataSchema,
  validate(webhook) {
    if (webhook.url === undefined && (webhook.hooks === undefined || webhook.hooks.length === 0)) {
      return [{ path: ['url'], message: 'an http webhook needs a url (or targetUrl, or hooks[].endpoint)' }];
    }
    return [];
  },
  create: createHttp,
};
