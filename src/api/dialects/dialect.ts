/**
 * What the seed dialects share. Each dialect (one small module per seed API)
 * maps its own field names and status codes onto the one model and the
 * same `WebhookService`; none has storage or rules of its own.
 */
import type { FastifyRequest } from 'fastify';
import type { Catalog } from '../../catalog/index.ts';
import type { Permission } from '../../config/index.ts';
import type { Webhook, WebhookState } from '../../rules/index.ts';
import type { TransportRegistry } from '../../transports/index.ts';
import type { Authenticator, Principal } from '../auth.ts';
import { ApiError } from '../errors.ts';
import { ErrorSchema } from '../schemas.ts';
import type { TestAttempt } from '../test-delivery.ts';
import type { WebhookService } from '../webhook-service.ts';

export interface DialectDeps {
  auth: Authenticator;
  service: WebhookService;
  registry: TransportRegistry;
  catalog: () => Catalog;
  stateOf: (w: Webhook) => WebhookState;
  setState: (id: string, state: WebhookState, reason: string) => { changed: boolean } | undefined;
  test: (w: Webhook) => Promise<TestAttempt>;
  now?: () => number;
}

/** For routes whose permission depends on the body (create or update): 401/403 like `requires`. */
export function authorize(deps: DialectDeps, req: FastifyRequest, needs: Permission): Principal {
  const r = deps.auth.check(req.headers, needs);
  if (!r.ok) throw new ApiError(r.status, r.status === 401 ? 'unauthorized' : 'forbidden', r.message);
  return r.principal;
}

export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Audit fields hookd keeps in a stored webhook; dialects show them their own way. */
export const AUDIT_FIELDS = ['createdBy', 'createdAt', 'updatedBy', 'updatedAt', 'version'] as const;

const ERRORS: Record<number, string> = {
  400: "the request is invalid: `problems` names each field in the seed's own names",
  404: 'no such webhook',
  409: 'a file webhook (change its rule file), or the id is taken',
};

/** The documented error answers of a seed route, in the native error shape. */
export function errorResponses(...statuses: (400 | 404 | 409)[]) {
  return Object.fromEntries(statuses.map((s) => [s, { description: ERRORS[s]!, schema: ErrorSchema }]));
}
