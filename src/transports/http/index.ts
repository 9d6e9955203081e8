/**
 * The `http` transport (alias `webhook`): sends the rendered request with
 * undici, one keep-alive pool per origin, signing with Standard Webhooks when
 * the webhook has a `secret`, authenticating as configured (basic, bearer,
 * OAuth2 client credentials). Every connection, redirect hop and token
 * request passes the SSRF guard.
 */
import { z } from 'zod';
import { parseSigningSecret, type SigningKey } from '../../rules/index.ts';
import { abortedResult } from '../abort.ts';
import type { Delivery, HostContext, SendResult, TransportInstance, TransportModule } from '../contract.ts';
import { permanent, retryable } from '../contract.ts';
import { findRefusal, NetworkGuard } from '../net/guard.ts';
import { classifyError } from './classify.ts';
import { describeSend } from './describe.ts';
import { exchange } from './exchange.ts';
import { guardedAgent } from './guarded-agent.ts';
import { type AccessToken, OAuth2TokenCache, oauth2Of, TokenError, tokenHeader } from './oauth2.ts';
import { signatureHeaders } from './signature.ts';

export { RESPONSE_SNIPPET_BYTES } from './exchange.ts';

const DEFAULT_MAX_REDIRECTS = 3;
/** Parsed signing keys kept per transport instance. */
const MAX_CACHED_KEYS = 10_000;

export const HttpDataSchema = z.strictObject({
  /** Content type of the body; JSON by default. */
  contentType: z.string().min(1).optional(),
  /**
   * Redirects followed per attempt (each hop is checked by the SSRF guard).
   * 307/308 (and 301/302) resend the same method and body; 303 switches to GET.
   * @default 3
   */
  maxRedirects: z.number().int().min(0).max(10).default(DEFAULT_MAX_REDIRECTS),
});
export type HttpData = z.output<typeof HttpDataSchema>;

const USER_AGENT = 'hookd/0.1';

export interface HttpOptions {
  /** Clock for the OAuth2 token cache (tests). */
  now?: () => number;
}

/** Headers sent on every attempt, lower-cased; `credentials` lists those dropped on a cross-origin redirect. */
function baseHeaders(
  d: Delivery,
  keyFor: (secret: string) => SigningKey,
): { headers: Record<string, string>; credentials: string[] } {
  const req = d.request;
  const headers: Record<string, string> = { 'user-agent': USER_AGENT, 'content-type': req.contentType };
  for (const [name, value] of Object.entries(req.headers)) headers[name.toLowerCase()] = value;
  const credentials: string[] = [];
  // Secret headers are never stored with the rendered request; they are added per attempt.
  for (const [name, h] of Object.entries(d.webhook.headers)) {
    if (h.secret && h.value !== undefined) {
      headers[name.toLowerCase()] = h.value;
      credentials.push(name.toLowerCase());
    }
  }
  const a = d.webhook.authentication;
  if (a !== undefined && typeof a === 'object' && 'type' in a) {
    if (a.type === 'basic') {
      headers.authorization = `Basic ${Buffer.from(`${a.username}:${a.password}`).toString('base64')}`;
      credentials.push('authorization');
    } else if (a.type === 'bearer') {
      headers.authorization = `Bearer ${a.token}`;
      credentials.push('authorization');
    }
  }
  const secrets = signingSecrets(d.webhook, Date.now());
  if (secrets.length)
    Object.assign(headers, signatureHeaders(secrets.map(keyFor), d.id, req.body, Date.now()));
  return { headers, credentials };
}

/** The secrets that sign at `now`: those of a rotation still in their overlap (old first), then the current one. */
export function signingSecrets(
  w: Pick<Delivery['webhook'], 'secret' | 'previousSecrets'>,
  now: number,
): string[] {
  if (!w.secret) return [];
  const previous = (w.previousSecrets ?? []).filter((p) => p.until > now && p.secret !== w.secret);
  return [...previous.map((p) => p.secret), w.secret];
}

/** Maps an error thrown before or around the exchange (token fetch, abort) to an outcome. */
function errorResult(err: unknown, signal: AbortSignal, what: string): SendResult {
  if (signal.aborted) return abortedResult(signal);
  const refused = findRefusal(err);
  if (refused) return permanent(`${what}: ${refused.message}`);
  if (err instanceof TokenError) {
    return err.retry
      ? retryable(err.message, { status: err.status })
      : permanent(err.message, { status: err.status });
  }
  return classifyError(err, false, `${what}: `);
}

export function createHttp(ctx: HostContext, opts: HttpOptions = {}): TransportInstance {
  const guard = new NetworkGuard(ctx.security, ctx.network);
  const agent = guardedAgent(guard, { keepAliveTimeout: 30_000, connections: 256 });
  const tokens = new OAuth2TokenCache({ dispatcher: agent, timeoutMs: ctx.timeoutMs, now: opts.now });
  const keys = new Map<string, SigningKey>();
  const keyFor = (secret: string) => {
    let k = keys.get(secret);
    if (!k) {
      // Validated when the webhook was loaded; parsing (Ed25519 key import) is cached per secret,
      // and the cache starts over when rotations have filled it.
      if (keys.size >= MAX_CACHED_KEYS) keys.clear();
      k = parseSigningSecret(secret);
      keys.set(secret, k);
    }
    return k;
  };
  return {
    async send(d: Delivery, signal: AbortSignal): Promise<SendResult> {
      const req = d.request;
      if (!req.url) return permanent('the rendered request has no url');
      let url: URL;
      try {
        url = new URL(req.url);
      } catch {
        return permanent('the rendered url is not a valid URL');
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        return permanent(`the url scheme ${url.protocol} is not supported (http or https)`);
      }
      if (signal.aborted) return abortedResult(signal);
      const maxRedirects =
        typeof d.webhook.data.maxRedirects === 'number' ? d.webhook.data.maxRedirects : DEFAULT_MAX_REDIRECTS;
      const method = (req.method ?? 'POST').toUpperCase();
      const { headers, credentials } = baseHeaders(d, keyFor);
      const oauth = oauth2Of(d.webhook.authentication);
      const attempt = (token: AccessToken | undefined) => {
        const h = { ...headers };
        const creds = [...credentials];
        if (oauth && token) {
          const [name, value] = tokenHeader(oauth, token);
          h[name] = value;
          creds.push(name);
        }
        return exchange({
          agent,
          url,
          method,
          headers: h,
          credentials: creds,
          body: method === 'GET' || method === 'HEAD' ? undefined : req.body,
          maxRedirects,
          signal,
        });
      };
      if (!oauth) return (await attempt(undefined)).result;

      let token: AccessToken;
      try {
        token = await tokens.get(oauth, signal);
      } catch (err) {
        return errorResult(err, signal, 'OAuth2 token request failed');
      }
      const first = await attempt(token);
      if (first.status !== 401 || !first.sentCredentials) return first.result;
      // The receiver rejected the token: drop it, fetch a fresh one (shared with concurrent sends), retry once.
      tokens.invalidate(oauth, token);
      try {
        token = await tokens.get(oauth, signal);
      } catch (err) {
        return errorResult(err, signal, 'OAuth2 token refresh after HTTP 401 failed');
      }
      return (await attempt(token)).result;
    },
    async close() {
      await agent.close();
    },
  };
}

export const httpTransport: TransportModule<HttpData> = {
  types: ['http', 'webhook'],
  dataSchema: HttpDataSchema,
  describe: describeSend,
  validate(webhook) {
    const problems: { path: (string | number)[]; message: string }[] = [];
    if (webhook.url === undefined && (webhook.hooks === undefined || webhook.hooks.length === 0)) {
      problems.push({
        path: ['url'],
        message: 'an http webhook needs a url (or targetUrl, or hooks[].endpoint)',
      });
    }
    const oauth = oauth2Of(webhook.authentication);
    if (oauth && !/^https?:\/\/[^/]/i.test(oauth.endpoint)) {
      problems.push({
        path: ['authentication', 'endpoint'],
        message: 'the OAuth2 token endpoint must be an http(s) URL',
      });
    }
    return problems;
  },
  create: (ctx) => createHttp(ctx),
};
