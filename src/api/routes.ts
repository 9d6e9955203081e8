/**
 * A route of the management API, described once: registration (auth by
 * permission, JSON body parsing, error answers) and the OpenAPI document are
 * both made from this description, so the document cannot miss a route.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Permission } from '../config/index.ts';
import { zodProblems } from '../config/index.ts';
import type { Authenticator, Principal } from './auth.ts';
import { bodyProblems, bodySource, type PathMapper } from './body-problems.ts';
import { ApiError, apiErrorOf, invalidBody } from './errors.ts';
import { API_BODY_LIMIT, requires } from './server.ts';

export interface RouteDoc {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Fastify syntax: `/v1/webhooks/:id`. */
  url: string;
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  /** Undefined (and no `permissions`): no token needed. */
  permission?: Permission;
  /** The handler checks one of these, chosen by the body (create or update). */
  permissions?: readonly Permission[];
  params?: Record<string, string>;
  query?: z.ZodObject;
  body?: {
    schema: z.ZodType;
    required: boolean;
    description?: string;
    /** Media types the body may have (default `application/json`). */
    contentTypes?: readonly string[];
  };
  responses: Record<number, { description: string; schema?: z.ZodType; headers?: Record<string, string> }>;
}

export interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Route extends RouteDoc {
  handler: (req: FastifyRequest, principal: Principal) => Promise<Answer>;
}

/** The parsed JSON body; undefined when empty. 400 when it is not JSON. */
export function jsonBody(req: FastifyRequest, required: boolean): unknown {
  const text = typeof req.body === 'string' ? req.body : '';
  if (text.trim() === '') {
    if (required) throw invalidBody([{ path: '$', message: 'a JSON body is required' }]);
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, 'invalid_json', `the body is not JSON: ${(err as Error).message}`, [
      { path: '$', message: 'not JSON' },
    ]);
  }
}

/** Validates `value` with a zod schema; 400 with the path of each problem. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, rename?: PathMapper): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw invalidBody(bodyProblems(zodProblems(bodySource(value), r.error), rename));
}

export function send(reply: FastifyReply, a: Answer): FastifyReply {
  if (a.headers) for (const [k, v] of Object.entries(a.headers)) reply.header(k, v);
  reply.code(a.status);
  return a.body === undefined ? reply.send() : reply.send(a.body);
}

export function registerRoutes(app: FastifyInstance, auth: Authenticator, routes: readonly Route[]): void {
  for (const r of routes) {
    app.route({
      method: r.method,
      url: r.url,
      onRequest: r.permission
        ? requires(auth, r.permission)
        : r.permissions
          ? requires(auth, r.permissions)
          : undefined,
      bodyLimit: API_BODY_LIMIT,
      handler: async (req, reply) => {
        try {
          return send(
            reply,
            await r.handler(req, req.principal ?? { name: 'anonymous', permissions: new Set() }),
          );
        } catch (err) {
          const answer = apiErrorOf(err);
          if (answer) return reply.code(answer.status).send(answer.body());
          throw err;
        }
      },
    });
  }
}
