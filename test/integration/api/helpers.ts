/**
 * Helpers for the management API tests: tokens with chosen permissions, a
 * small client that keeps every response (so tests can grep them for
 * secrets), and waits that poll until a condition holds (or fail after a
 * generous deadline).
 */
import type { ConfigInput } from '../../../src/config/schema.ts';
import { PERMISSIONS, type Permission } from '../../../src/config/schema.ts';
import type { RunningHookd } from '../../helpers/hookd.ts';
import { waitFor } from '../../helpers/wait.ts';

/** One token per permission (`only:<P>`), one with every permission but it (`not:<P>`), and `admin`. */
export function tokens(): NonNullable<NonNullable<ConfigInput['api']>['tokens']> {
  const list: NonNullable<NonNullable<ConfigInput['api']>['tokens']> = [
    { name: 'admin', token: 'tok-admin', permissions: [...PERMISSIONS] },
    { name: 'operator', token: 'tok-operator', permissions: [...PERMISSIONS] },
  ];
  for (const p of PERMISSIONS) {
    list.push({ name: `only-${p}`, token: `tok-only-${p}`, permissions: [p] });
    list.push({ name: `not-${p}`, token: `tok-not-${p}`, permissions: PERMISSIONS.filter((q) => q !== p) });
  }
  return list;
}

export const ADMIN = 'tok-admin';
export const only = (p: Permission) => `tok-only-${p}`;
export const not = (p: Permission) => `tok-not-${p}`;

/** Every answer the clients of this test file saw: method, path and status (checked against /openapi.json). */
export const observed: { method: string; path: string; status: number }[] = [];

type OpenApiPaths = Record<string, Record<string, { responses: Record<string, unknown> }>>;

/**
 * The answers seen by this file's clients whose status the document of the
 * hookd at `base` does not list for that route (issue 16: every status the
 * API tests observe is documented). A concrete path is matched to the most
 * specific documented path (`/v1/webhooks/default` before `/v1/webhooks/{id}`).
 */
export async function undocumentedStatuses(base: string): Promise<string[]> {
  if (observed.length === 0) throw new Error('no answer was observed: the check would prove nothing');
  const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: OpenApiPaths };
  const templates = Object.keys(doc.paths).map((p) => ({
    path: p,
    re: new RegExp(`^${p.replace(/\{\w+\}/g, '[^/]+')}$`),
    literal: p.replace(/\{\w+\}/g, '').length,
  }));
  const out = new Set<string>();
  for (const o of observed) {
    const path = o.path.split('?')[0]!;
    const method = o.method.toLowerCase();
    const t = templates
      .filter((x) => x.re.test(path) && doc.paths[x.path]![method])
      .sort((a, b) => b.literal - a.literal)[0];
    if (!t) out.add(`${o.method} ${path} → ${o.status}: the route is not documented`);
    else if (!(String(o.status) in doc.paths[t.path]![method]!.responses)) {
      out.add(`${o.method} ${t.path} → ${o.status}`);
    }
  }
  return [...out].sort();
}

export interface Response<T = unknown> {
  status: number;
  headers: Headers;
  text: string;
  body: T;
}

export class Client {
  /** Every response seen: status line, headers and body text. */
  readonly transcript: string[] = [];

  constructor(
    readonly base: string,
    /** null: no token at all. */
    readonly token: string | null = ADMIN,
  ) {}

  as(token: string | null): Client {
    const c = new Client(this.base, token);
    // Share the transcript: every response of the test is kept in one place.
    (c as { transcript: string[] }).transcript = this.transcript;
    return c;
  }

  async call<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Response<T>> {
    const h: Record<string, string> = { ...headers };
    if (this.token !== null) h.authorization = `Bearer ${this.token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      h['content-type'] = 'application/json';
    }
    const r = await fetch(`${this.base}${path}`, { method, headers: h, body: payload });
    const text = await r.text();
    observed.push({ method, path, status: r.status });
    this.transcript.push(
      `${method} ${path} → ${r.status}\n${[...r.headers].map((x) => x.join(': ')).join('\n')}\n${text}`,
    );
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: r.status, headers: r.headers, text, body: parsed as T };
  }

  get<T = Record<string, unknown>>(path: string) {
    return this.call<T>('GET', path);
  }
  post<T = Record<string, unknown>>(path: string, body?: unknown) {
    return this.call<T>('POST', path, body);
  }
  put<T = Record<string, unknown>>(path: string, body?: unknown) {
    return this.call<T>('PUT', path, body);
  }
  delete<T = Record<string, unknown>>(path: string) {
    return this.call<T>('DELETE', path);
  }
}

/** The one poller (test/helpers/wait.ts), under the name these tests use. */
export const until = waitFor;

export interface DeliveryView {
  id: string;
  eventId: string;
  state: 'pending' | 'succeeded' | 'failed';
  attemptCount: number;
  lastError: string | null;
  attempts: { attempt: number; outcome: string; status: number | null; error: string | null }[];
}

/** The deliveries of a webhook, once `ok` holds for them. */
export function deliveriesWhen(
  client: Client,
  webhookId: string,
  ok: (items: DeliveryView[]) => boolean,
  what = 'deliveries',
): Promise<DeliveryView[]> {
  return until(what, async () => {
    const r = await client.get<{ items: DeliveryView[] }>(`/v1/webhooks/${webhookId}/deliveries`);
    return r.status === 200 && ok(r.body.items) ? r.body.items : undefined;
  });
}

/** Posts events over HTTP ingest. */
export async function publish(h: RunningHookd, events: unknown[]): Promise<void> {
  const r = await fetch(`${h.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
    body: JSON.stringify(events),
  });
  if (r.status !== 202) throw new Error(`ingest answered ${r.status}: ${await r.text()}`);
}
