/**
 * API tokens (DESIGN.md section 5): given as `Authorization: Bearer <t>`,
 * `X-AUTH-TOKEN: <t>` (seed 000), Basic with the token as password or
 * `Authorization: SOTicket <t>` (seed 001, on every route); compared in
 * constant time. Each token carries permissions.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config, Permission } from '../config/index.ts';

export interface Principal {
  name: string;
  permissions: ReadonlySet<Permission>;
}

export type AuthResult =
  | { ok: true; principal: Principal }
  | { ok: false; status: 401 | 403; message: string };

interface TokenEntry {
  digest: Buffer;
  principal: Principal;
}

/** Hashing first makes every comparison the same length, so timing says nothing about the token. */
const digest = (s: string) => createHash('sha256').update(s).digest();

export class Authenticator {
  private readonly tokens: TokenEntry[];

  constructor(tokens: Config['api']['tokens'], env: NodeJS.ProcessEnv = process.env) {
    this.tokens = tokens.map((t) => ({
      digest: digest(t.token ?? env[t.tokenEnv!] ?? ''),
      principal: { name: t.name, permissions: new Set(t.permissions) },
    }));
  }

  /** With no tokens configured the API is open (hookd then listens on loopback only). */
  get open(): boolean {
    return this.tokens.length === 0;
  }

  static presented(headers: Record<string, string | string[] | undefined>): string | undefined {
    const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
    const x = one(headers['x-auth-token']);
    if (x) return x;
    const auth = one(headers.authorization);
    if (!auth) return undefined;
    const [scheme, ...rest] = auth.split(' ');
    const value = rest.join(' ').trim();
    // Seed 001 documents 'Basic', 'SoTicket' and 'Bearer' schemes.
    if (/^(bearer|soticket)$/i.test(scheme ?? '')) return value;
    if (/^basic$/i.test(scheme ?? '')) {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      return i >= 0 ? decoded.slice(i + 1) : decoded;
    }
    return undefined;
  }

  /**
   * The principal of the presented token, when it holds `needs` (or, given a
   * list, any one of them: the handler then checks the one the body asks for).
   */
  check(
    headers: Record<string, string | string[] | undefined>,
    needs: Permission | readonly Permission[],
  ): AuthResult {
    if (this.open) return { ok: true, principal: { name: 'anonymous', permissions: new Set() } };
    const token = Authenticator.presented(headers);
    if (!token)
      return {
        ok: false,
        status: 401,
        message: 'a token is required (Authorization: Bearer, SOTicket or Basic, or X-AUTH-TOKEN)',
      };
    const d = digest(token);
    let found: Principal | undefined;
    for (const t of this.tokens) if (timingSafeEqual(t.digest, d)) found = t.principal;
    if (!found) return { ok: false, status: 401, message: 'the token is not valid' };
    const any = typeof needs === 'string' ? [needs] : needs;
    if (!any.some((p) => found.permissions.has(p)))
      return {
        ok: false,
        status: 403,
        message: `the token "${found.name}" lacks the ${any.join(' or ')} permission`,
      };
    return { ok: true, principal: found };
  }
}
