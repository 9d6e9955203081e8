/**
 * OAuth2 client credentials (RFC 6749 section 4.4) for the http transport
 * (seed 004's `authentication`). Tokens are cached per credentials until
 * shortly before they expire; concurrent sends share one token request
 * (single flight); a 401 from the receiver drops the token it used so the
 * next `get` fetches a fresh one.
 */
import { createHash } from 'node:crypto';
import { type Dispatcher, request } from 'undici';
import type { Authentication } from '../../rules/index.ts';
import { raceSignal } from '../abort.ts';

export type OAuth2Authentication = Extract<Authentication, { grant_type: 'client_credentials' }>;

export interface AccessToken {
  value: string;
  type: string;
  /** When the cache stops handing it out (epoch ms). */
  refreshAt: number;
}

/** The token endpoint failed; `retry` says whether a later attempt may succeed. Never carries the secret. */
export class TokenError extends Error {
  readonly code = 'HOOKD_OAUTH2_TOKEN';
  constructor(
    message: string,
    readonly retry: boolean,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

/** Lifetime assumed when the token response has no `expires_in` (a 401 still refreshes it). */
const DEFAULT_LIFETIME_MS = 5 * 60_000;
/** Refresh this long before expiry: 10 % of the lifetime, at most a minute. */
const MAX_SKEW_MS = 60_000;

export function oauth2Of(auth: Authentication | undefined): OAuth2Authentication | undefined {
  return auth !== undefined && typeof auth === 'object' && 'grant_type' in auth ? auth : undefined;
}

/** The header to send: `header_format` names it, `%ACCESS_TOKEN%` (and `%TOKEN_TYPE%`) are filled in. */
export function tokenHeader(auth: OAuth2Authentication, token: AccessToken): [string, string] {
  const value = auth.header_value_format
    .replaceAll('%ACCESS_TOKEN%', token.value)
    .replaceAll('%TOKEN_TYPE%', token.type);
  return [auth.header_format.toLowerCase(), value];
}

function cacheKey(a: OAuth2Authentication): string {
  // The secret is part of the key (hashed) so changed credentials never reuse an old token.
  return createHash('sha256')
    .update(
      JSON.stringify([
        a.endpoint,
        a.credentials.client_id,
        a.credentials.client_secret,
        a.scope ?? '',
        a.audience ?? '',
      ]),
    )
    .digest('base64url');
}

const RETRYABLE_STATUS = new Set([408, 425, 429]);

export interface TokenCacheOptions {
  dispatcher: Dispatcher;
  /** Per token request. */
  timeoutMs: number;
  now?: () => number;
}

export class OAuth2TokenCache {
  private readonly tokens = new Map<string, AccessToken>();
  private readonly inflight = new Map<string, Promise<AccessToken>>();
  private readonly now: () => number;

  constructor(private readonly opts: TokenCacheOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** A valid token for these credentials, fetching one when none is cached. */
  get(auth: OAuth2Authentication, signal: AbortSignal): Promise<AccessToken> {
    const key = cacheKey(auth);
    const cached = this.tokens.get(key);
    if (cached && this.now() < cached.refreshAt) return Promise.resolve(cached);
    let pending = this.inflight.get(key);
    if (!pending) {
      // The request is shared, so it runs on its own timeout rather than one caller's signal.
      pending = this.fetch(auth)
        .then((t) => {
          this.tokens.set(key, t);
          return t;
        })
        .finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return raceSignal(pending, signal);
  }

  /** The receiver rejected `token` (401): forget it unless a newer one already replaced it. */
  invalidate(auth: OAuth2Authentication, token: AccessToken): void {
    const key = cacheKey(auth);
    if (this.tokens.get(key)?.value === token.value) this.tokens.delete(key);
  }

  private async fetch(auth: OAuth2Authentication): Promise<AccessToken> {
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (auth.scope) form.set('scope', auth.scope);
    if (auth.audience) form.set('audience', auth.audience);
    // client_secret_basic (RFC 6749 section 2.3.1): form-encode id and secret, then base64.
    const basic = Buffer.from(
      `${encodeURIComponent(auth.credentials.client_id)}:${encodeURIComponent(auth.credentials.client_secret)}`,
    ).toString('base64');
    const started = this.now();
    const res = await request(auth.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
        authorization: `Basic ${basic}`,
        'user-agent': 'hookd/0.1',
      },
      body: form.toString(),
      dispatcher: this.opts.dispatcher,
      signal: AbortSignal.timeout(this.opts.timeoutMs),
    });
    const text = await res.body.text();
    let json: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed !== null && typeof parsed === 'object') json = parsed as Record<string, unknown>;
    } catch {}
    const status = res.statusCode;
    if (status < 200 || status >= 300) {
      // Only the standard `error` code is quoted: the body could echo anything.
      const code = typeof json?.error === 'string' ? ` (${json.error.slice(0, 64)})` : '';
      const retry = status >= 500 || RETRYABLE_STATUS.has(status);
      throw new TokenError(`OAuth2 token endpoint answered HTTP ${status}${code}`, retry, status);
    }
    const value = json?.access_token;
    if (typeof value !== 'string' || value === '') {
      throw new TokenError('OAuth2 token endpoint answered without an access_token', true, status);
    }
    const expiresIn = Number(json?.expires_in);
    const lifetime = Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn * 1000 : DEFAULT_LIFETIME_MS;
    const skew = Math.min(MAX_SKEW_MS, lifetime / 10);
    return {
      value,
      type: typeof json?.token_type === 'string' ? json.token_type : 'Bearer',
      refreshAt: started + lifetime - skew,
    };
  }
}
