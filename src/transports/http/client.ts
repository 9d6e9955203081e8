/**
 * The http transport's reusable pieces as one small client, for transports
 * that speak HTTP (plugins get it as `ctx.http()`): requests go through the
 * guarded agent (the SSRF policy checks every address it connects to),
 * redirects are followed by hand and re-checked, and the outcome is
 * classified exactly as the http transport classifies it.
 */
import {
  type HostContext,
  type HttpClient,
  type HttpClientRequest,
  permanent,
  type SendResult,
} from '../contract.ts';
import { NetworkGuard } from '../net/guard.ts';
import { exchange } from './exchange.ts';
import { guardedAgent } from './guarded-agent.ts';

const DEFAULT_MAX_REDIRECTS = 5;

export function createHttpClient(ctx: HostContext): HttpClient {
  const agent = guardedAgent(new NetworkGuard(ctx.security, ctx.network), { keepAliveTimeout: 30_000 });
  return {
    async send(req: HttpClientRequest, signal: AbortSignal): Promise<SendResult> {
      let url: URL;
      try {
        url = new URL(req.url);
      } catch {
        return permanent(`"${req.url}" is not a valid URL`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        return permanent(`the url scheme ${url.protocol} is not supported (http or https)`);
      }
      const method = (req.method ?? 'POST').toUpperCase();
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v;
      const x = await exchange({
        agent,
        url,
        method,
        headers,
        credentials: (req.credentials ?? []).map((h) => h.toLowerCase()),
        body: method === 'GET' || method === 'HEAD' ? undefined : req.body,
        maxRedirects: req.maxRedirects ?? DEFAULT_MAX_REDIRECTS,
        signal,
      });
      return x.result;
    },
    close: () => agent.close(),
  };
}
