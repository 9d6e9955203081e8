/**
 * The management API on the one HTTP port: the native routes, the seed
 * dialects and `GET /openapi.json`, all registered from route descriptions
 * (routes.ts) so auth, errors and the OpenAPI document stay in step.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Authenticator } from './auth.ts';
import { contensisRoutes } from './dialects/contensis.ts';
import type { DialectDeps } from './dialects/dialect.ts';
import { spaRoutes } from './dialects/spa.ts';
import { superOfficeRoutes } from './dialects/superoffice.ts';
import { webV1Routes } from './dialects/web-v1.ts';
import { openApiDocument } from './openapi.ts';
import { type RouteDoc, registerRoutes } from './routes.ts';
import { IngestErrorSchema } from './schemas.ts';
import { sendTest } from './test-delivery.ts';
import { type WebhookApiDeps, webhookRoutes } from './webhooks.ts';

export interface ManagementDeps extends WebhookApiDeps {
  auth: Authenticator;
}

const VERSION = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
})();

/** Routes registered elsewhere (server.ts, ingest.ts), described here for the document. */
const SERVER_ROUTES: RouteDoc[] = [
  {
    method: 'GET',
    url: '/healthz',
    operationId: 'health',
    summary: 'The process is up',
    tags: ['operations'],
    responses: { 200: { description: 'up', schema: z.object({ status: z.literal('ok') }) } },
  },
  {
    method: 'GET',
    url: '/readyz',
    operationId: 'ready',
    summary: 'Ready: the store is writable and NATS (when configured) connected',
    tags: ['operations'],
    responses: {
      200: {
        description: 'ready',
        schema: z.object({
          status: z.string(),
          checks: z.record(z.string(), z.boolean()),
          warnings: z
            .record(z.string(), z.string())
            .optional()
            .describe('advisory checks that fail without making hookd unready (e.g. secretsKey)'),
        }),
      },
      503: { description: 'not ready, with the failing check' },
    },
  },
  {
    method: 'GET',
    url: '/metrics',
    operationId: 'metrics',
    summary: 'Prometheus metrics (text exposition format)',
    tags: ['operations'],
    responses: { 200: { description: 'metrics' } },
  },
  {
    method: 'POST',
    url: '/v1/events',
    operationId: 'publishEvents',
    summary: 'Ingest one event or an array; 202 once the deliveries are stored',
    tags: ['events'],
    permission: 'EVENTS:PUBLISH',
    body: {
      required: true,
      description:
        'One event or an array of them. `application/json`: an event with an `id` (CloudEvents 1.0 understood), or an array; `application/cloudevents+json`: one CloudEvent (structured mode); `application/cloudevents-batch+json`: an array of CloudEvents (batch mode). In binary mode the attributes are `ce-*` headers and the body is the data, of any media type.',
      contentTypes: [
        'application/json',
        'application/cloudevents+json',
        'application/cloudevents-batch+json',
      ],
      schema: z.union([z.looseObject({ id: z.string() }), z.array(z.looseObject({ id: z.string() })).min(1)]),
    },
    responses: {
      202: {
        description: 'stored',
        schema: z.object({
          accepted: z.number().int(),
          deliveries: z.number().int(),
          events: z.array(z.object({ id: z.string(), deliveries: z.array(z.string()) })),
        }),
      },
      400: { description: 'a bad event (none of the request is stored)', schema: IngestErrorSchema },
      413: { description: 'an event over events.maxBytes', schema: IngestErrorSchema },
    },
  },
];

const OPENAPI_ROUTE: RouteDoc = {
  method: 'GET',
  url: '/openapi.json',
  operationId: 'openapi',
  summary: 'This document',
  tags: ['operations'],
  responses: { 200: { description: 'OpenAPI 3.1' } },
};

export function registerManagementApi(app: FastifyInstance, deps: ManagementDeps): void {
  const dialect: DialectDeps = {
    auth: deps.auth,
    service: deps.service,
    registry: deps.registry,
    catalog: deps.catalog,
    stateOf: deps.stateOf,
    setState: deps.setState,
    now: deps.now,
    test: (w) =>
      sendTest(w, {
        catalog: deps.catalog,
        transport: deps.transport,
        timeoutMs: deps.timeoutMs,
        logger: deps.logger,
        setState: deps.setState,
        now: deps.now,
      }),
  };
  const routes = [
    ...webhookRoutes(deps),
    ...spaRoutes(dialect),
    ...superOfficeRoutes(dialect),
    ...webV1Routes(dialect),
    ...contensisRoutes(dialect),
  ];
  registerRoutes(app, deps.auth, routes);
  let document: Record<string, unknown> | undefined;
  app.get(OPENAPI_ROUTE.url, async () => {
    document ??= openApiDocument([...SERVER_ROUTES, ...routes, OPENAPI_ROUTE], VERSION);
    return document;
  });
}
