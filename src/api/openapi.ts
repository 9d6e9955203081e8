/**
 * `GET /openapi.json`: an OpenAPI 3.1 document generated from the route
 * descriptions and their zod schemas (`z.toJSONSchema`), the same schemas
 * that validate the requests. Named schemas become components.
 */
import { z } from 'zod';
import type { RouteDoc } from './routes.ts';
import {
  AttemptViewSchema,
  DeliveryListSchema,
  DeliveryViewSchema,
  ErrorSchema,
  IngestErrorSchema,
  RequeuedSchema,
  RetryFailedBodySchema,
  StateBodySchema,
  TestResultSchema,
  WebhookBodySchema,
  WebhookListSchema,
  WebhookViewSchema,
} from './schemas.ts';
import { WebhookDefaultsSchema } from './webhooks.ts';

/** Request schemas (as accepted: aliases, defaults optional). */
const INPUT: Record<string, z.ZodType> = {
  WebhookInput: WebhookBodySchema,
  StateChange: StateBodySchema,
  RetryFailed: RetryFailedBodySchema,
};

/** Response schemas. */
const OUTPUT: Record<string, z.ZodType> = {
  Webhook: WebhookViewSchema,
  WebhookList: WebhookListSchema,
  WebhookDefaults: WebhookDefaultsSchema,
  Delivery: DeliveryViewSchema,
  DeliveryList: DeliveryListSchema,
  Attempt: AttemptViewSchema,
  TestAttempt: TestResultSchema,
  Requeued: RequeuedSchema,
  Error: ErrorSchema,
  IngestError: IngestErrorSchema,
};

const OPTIONS = { unrepresentable: 'any', target: 'draft-2020-12' } as const;
type Json = Record<string, unknown>;

/** A generated schema without the keys a JSON Schema document has but an embedded OpenAPI schema must not. */
function embedded(s: Json): Json {
  const { $schema: _s, $id: _i, ...rest } = s;
  return rest;
}

function components(io: 'input' | 'output', named: Record<string, z.ZodType>): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(named)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    ...OPTIONS,
    io,
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Record<string, Json> };
  return Object.fromEntries(Object.entries(schemas).map(([k, v]) => [k, embedded(v)]));
}

function schemaRef(io: 'input' | 'output', schema: z.ZodType): Json {
  const named = io === 'input' ? INPUT : OUTPUT;
  for (const [id, s] of Object.entries(named))
    if (s === schema) return { $ref: `#/components/schemas/${id}` };
  return embedded(z.toJSONSchema(schema, { ...OPTIONS, io }) as Json);
}

const AUTH_ERRORS = {
  401: { description: 'no token, or a wrong one' },
  403: { description: 'the token lacks the permission' },
};

/** Answers every route of a kind can give, unless the route describes them itself. */
function commonErrors(r: RouteDoc): Record<number, string> {
  const out: Record<number, string> = {};
  if (r.body || r.query || r.params) {
    out[400] = 'the request is invalid: `problems` names each field at fault by its path';
  }
  if (r.params) out[404] = 'no such resource';
  if (r.body) out[413] = 'the body is over the limit of this route';
  return out;
}

const ERROR_CONTENT = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };

function operation(r: RouteDoc): Json {
  const parameters: Json[] = [];
  for (const [name, description] of Object.entries(r.params ?? {})) {
    parameters.push({ name, in: 'path', required: true, description, schema: { type: 'string' } });
  }
  for (const [name, schema] of Object.entries(r.query?.shape ?? {})) {
    const s = schema as z.ZodType;
    parameters.push({
      name,
      in: 'query',
      required: !s.safeParse(undefined).success,
      schema: schemaRef('input', s),
    });
  }
  const responses: Json = {};
  for (const [status, res] of Object.entries(r.responses)) {
    responses[status] = {
      description: res.description,
      ...(res.headers
        ? {
            headers: Object.fromEntries(
              Object.entries(res.headers).map(([h, d]) => [
                h,
                { description: d, schema: { type: 'string' } },
              ]),
            ),
          }
        : {}),
      ...(res.schema ? { content: { 'application/json': { schema: schemaRef('output', res.schema) } } } : {}),
    };
  }
  for (const [status, description] of Object.entries(commonErrors(r))) {
    responses[status] ??= { description, content: ERROR_CONTENT };
  }
  const permission = r.permission ?? r.permissions?.join(' or ');
  if (permission) {
    for (const [status, res] of Object.entries(AUTH_ERRORS)) {
      responses[status] ??= { ...res, content: ERROR_CONTENT };
    }
  }
  return {
    operationId: r.operationId,
    summary: r.summary,
    ...(r.description ? { description: r.description } : {}),
    tags: r.tags,
    ...(parameters.length ? { parameters } : {}),
    ...(r.body
      ? {
          requestBody: {
            required: r.body.required,
            ...(r.body.description ? { description: r.body.description } : {}),
            content: Object.fromEntries(
              (r.body.contentTypes ?? ['application/json']).map((t) => [
                t,
                { schema: schemaRef('input', r.body!.schema) },
              ]),
            ),
          },
        }
      : {}),
    responses,
    security: permission ? [{ bearer: [] }, { authToken: [] }, { basic: [] }] : [],
    ...(permission ? { 'x-hookd-permission': permission } : {}),
  };
}

/** `/v1/webhooks/:id` → `/v1/webhooks/{id}`. */
export const openApiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}');

export function openApiDocument(routes: readonly RouteDoc[], version: string): Json {
  const paths: Record<string, Json> = {};
  for (const r of routes) {
    const path = openApiPath(r.url);
    paths[path] = { ...paths[path], [r.method.toLowerCase()]: operation(r) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'hookd',
      version,
      description:
        'Management API of hookd, a self-hosted webhook delivery daemon. Webhooks follow one model (the same as rule files); secrets are write-only.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: '/', description: 'the hookd serving this document (http.host, http.port)' }],
    paths,
    components: {
      schemas: { ...components('input', INPUT), ...components('output', OUTPUT) },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'an api.tokens token' },
        authToken: { type: 'apiKey', in: 'header', name: 'X-AUTH-TOKEN' },
        basic: { type: 'http', scheme: 'basic', description: 'any user name, the token as password' },
      },
    },
  };
}
