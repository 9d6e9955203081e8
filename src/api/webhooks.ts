/**
 * The native management API (DESIGN.md section 5): `/v1/webhooks` and
 * `/v1/deliveries`. Bodies use the one model's field names (the same as rule
 * files) and are validated by the same code; secrets are write-only.
 *
 * One concept over 300 lines: the routes of one resource, each a few lines
 * of parsing and answering around the webhook service.
 */
import type { Logger } from 'pino';
import type { Catalog } from '../catalog/index.ts';
import { requeueAt } from '../dispatch/index.ts';
import type { AttemptLog, DeliveryPage, DeliveryStore } from '../outbox/index.ts';
import { normalizeWebhook, type Webhook, WebhookInputSchema, type WebhookState } from '../rules/index.ts';
import type { TransportInstance, TransportRegistry } from '../transports/index.ts';
import { ApiError, notFound } from './errors.ts';
import type { Route } from './routes.ts';
import { jsonBody, parseWith } from './routes.ts';
import {
  DeliveriesQuerySchema,
  DeliveryListSchema,
  DeliveryViewSchema,
  ErrorSchema,
  ListQuerySchema,
  RequeuedSchema,
  RetryFailedBodySchema,
  StateBodySchema,
  TestResultSchema,
  WebhookBodySchema,
  WebhookListSchema,
  WebhookViewSchema,
} from './schemas.ts';
import { secretRotationRoute } from './secret-rotation.ts';
import { sendTest } from './test-delivery.ts';
import { deliveryView, webhookView } from './views.ts';
import type { WebhookService } from './webhook-service.ts';

export interface WebhookApiDeps {
  service: WebhookService;
  registry: TransportRegistry;
  catalog: () => Catalog;
  deliveries: DeliveryStore;
  attempts: AttemptLog;
  /** The state in force for a webhook. */
  stateOf: (w: Webhook) => WebhookState;
  /** Sets a webhook's state by hand; undefined when the webhook does not exist. */
  setState: (id: string, state: WebhookState, reason: string) => { changed: boolean } | undefined;
  /** Re-reads the queue after deliveries were put back. */
  rescan: () => void;
  transport: (type: string) => TransportInstance | undefined;
  timeoutMs: number;
  /** How long a rotated-out signing secret keeps signing (`delivery.secretOverlap`). */
  secretOverlapMs: number;
  logger: Logger;
  now?: () => number;
}

const TAGS = ['webhooks'];
const ID = { id: 'the webhook id' };
const err = (description: string) => ({ description, schema: ErrorSchema });

/** The defaults a new webhook gets (seed 001's CreateDefaultWebhook). */
export function defaultWebhook(registry: TransportRegistry): Webhook {
  const w = normalizeWebhook(WebhookInputSchema.parse({}), {
    id: '',
    source: 'api',
    resolveType: (t) => registry.resolveType(t),
  });
  w.data = registry.get(w.type)!.dataSchema.parse({}) as Record<string, unknown>;
  return w;
}

export const WebhookDefaultsSchema = WebhookViewSchema.omit({
  id: true,
  source: true,
  file: true,
  identifier: true,
});

/** A page cursor as the API hands it out: the store's own cursor, opaque to clients. */
const cursorOf = (next: string): string => Buffer.from(next).toString('base64url');

export function webhookRoutes(deps: WebhookApiDeps): Route[] {
  const { service, registry } = deps;
  const now = deps.now ?? Date.now;
  const view = (w: Webhook) => webhookView(w, deps.stateOf(w), registry);
  const find = (id: string): Webhook => {
    const w = deps.catalog().webhook(id);
    if (!w) throw notFound('webhook', id);
    return w;
  };
  const idOf = (req: { params: unknown }) => (req.params as { id: string }).id;

  return [
    {
      method: 'GET',
      url: '/v1/webhooks',
      operationId: 'listWebhooks',
      summary: 'List webhooks (file and API), filtered and paged',
      tags: TAGS,
      permission: 'WEBHOOKS:VIEW',
      query: ListQuerySchema,
      responses: { 200: { description: 'a page of webhooks, by id', schema: WebhookListSchema } },
      handler: async (req) => {
        const q = parseWith(ListQuerySchema, req.query);
        const type = q.type === undefined ? undefined : (registry.resolveType(q.type) ?? q.type);
        const matches = deps
          .catalog()
          .rules.webhooks.filter(
            (w) =>
              (q.identifier === undefined || w.identifier === q.identifier) &&
              (q.type === undefined || w.type === type || w.typeName === q.type) &&
              (q.source === undefined || w.source === q.source) &&
              (q.state === undefined || deps.stateOf(w) === q.state),
          )
          .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
        const from = q.after === undefined ? 0 : matches.findIndex((w) => w.id > q.after!);
        const page = from < 0 ? [] : matches.slice(from, from + q.limit);
        const more = from >= 0 && from + q.limit < matches.length;
        return {
          status: 200,
          body: { items: page.map(view), total: matches.length, next: more ? page.at(-1)!.id : null },
        };
      },
    },
    {
      method: 'POST',
      url: '/v1/webhooks',
      operationId: 'createWebhook',
      summary: 'Create a webhook',
      description:
        'The body is the one webhook model, as in rule files (aliases included). `id` is optional (a UUID is generated). Secrets are write-only.',
      tags: TAGS,
      permission: 'WEBHOOKS:ADD',
      body: { schema: WebhookBodySchema, required: true },
      responses: {
        201: {
          description: 'created',
          schema: WebhookViewSchema,
          headers: { Location: 'the new webhook' },
        },
        400: err('the body is invalid: one problem per JSON path'),
        409: err('the id is taken'),
      },
      handler: async (req, principal) => {
        const { webhook } = service.create(jsonBody(req, true), principal.name);
        return { status: 201, body: view(webhook), headers: { location: `/v1/webhooks/${webhook.id}` } };
      },
    },
    {
      method: 'GET',
      url: '/v1/webhooks/default',
      operationId: 'defaultWebhook',
      summary: 'The defaults a new webhook gets',
      tags: TAGS,
      permission: 'WEBHOOKS:VIEW',
      responses: { 200: { description: 'the defaults', schema: WebhookDefaultsSchema } },
      handler: async () => {
        const {
          id: _id,
          source: _source,
          identifier: _identifier,
          ...rest
        } = webhookView(defaultWebhook(registry), 'Active', registry);
        return { status: 200, body: rest };
      },
    },
    {
      method: 'GET',
      url: '/v1/webhooks/:id',
      operationId: 'getWebhook',
      summary: 'Get a webhook',
      tags: TAGS,
      permission: 'WEBHOOKS:VIEW',
      params: ID,
      responses: { 200: { description: 'the webhook', schema: WebhookViewSchema }, 404: err('unknown id') },
      handler: async (req) => ({ status: 200, body: view(find(idOf(req))) }),
    },
    {
      method: 'PUT',
      url: '/v1/webhooks/:id',
      operationId: 'replaceWebhook',
      summary: 'Replace an API webhook',
      description:
        'A body taken from a response keeps the secrets: `{"set": true}` and secret headers without `value` keep the stored values. `version.versionNo` increases.',
      tags: TAGS,
      permission: 'WEBHOOKS:EDIT',
      params: ID,
      body: { schema: WebhookBodySchema, required: true },
      responses: {
        200: { description: 'the webhook as replaced', schema: WebhookViewSchema },
        400: err('the body is invalid'),
        404: err('unknown id'),
        409: err('a file webhook: change its rule file'),
      },
      handler: async (req, principal) => {
        const { webhook } = service.replace(idOf(req), jsonBody(req, true), principal.name);
        return { status: 200, body: view(webhook) };
      },
    },
    {
      method: 'DELETE',
      url: '/v1/webhooks/:id',
      operationId: 'deleteWebhook',
      summary: 'Delete an API webhook',
      tags: TAGS,
      permission: 'WEBHOOKS:REMOVE',
      params: ID,
      responses: {
        204: { description: 'deleted' },
        404: err('unknown id'),
        409: err('a file webhook: change its rule file'),
      },
      handler: async (req, principal) => {
        service.remove(idOf(req), principal.name);
        return { status: 204 };
      },
    },
    {
      method: 'POST',
      url: '/v1/webhooks/:id/test',
      operationId: 'testWebhook',
      summary: 'Send a dummy event through the real transport and return the attempt',
      tags: TAGS,
      permission: 'WEBHOOKS:EDIT',
      params: ID,
      responses: {
        200: { description: 'the attempt (whatever its outcome)', schema: TestResultSchema },
        404: err('unknown id'),
      },
      handler: async (req) => {
        const w = find(idOf(req));
        const attempt = await sendTest(w, {
          catalog: deps.catalog,
          transport: deps.transport,
          timeoutMs: deps.timeoutMs,
          logger: deps.logger,
          now,
          setState: deps.setState,
        });
        return { status: 200, body: attempt };
      },
    },
    {
      method: 'PUT',
      url: '/v1/webhooks/:id/state',
      operationId: 'setWebhookState',
      summary:
        'Set the state: Active (resume), Stopped (hold deliveries) or TooManyErrors (open the breaker)',
      tags: TAGS,
      permission: 'WEBHOOKS:EDIT',
      params: ID,
      body: { schema: StateBodySchema, required: true },
      responses: {
        200: { description: 'the webhook in its new state', schema: WebhookViewSchema },
        400: err('the body is invalid'),
        404: err('unknown id'),
      },
      handler: async (req, principal) => {
        const id = idOf(req);
        find(id);
        const body = parseWith(StateBodySchema, jsonBody(req, true));
        const r = deps.setState(id, body.state, body.reason ?? `set through the API by ${principal.name}`);
        if (!r) throw notFound('webhook', id);
        deps.logger.info({ webhookId: id, state: body.state, by: principal.name }, 'webhook state set');
        return { status: 200, body: view(find(id)) };
      },
    },
    secretRotationRoute(deps, view),
    {
      method: 'GET',
      url: '/v1/webhooks/:id/deliveries',
      operationId: 'listDeliveries',
      summary: "A webhook's deliveries, newest first, with their attempts",
      tags: ['deliveries'],
      permission: 'WEBHOOKS:VIEW',
      params: ID,
      query: DeliveriesQuerySchema,
      responses: {
        200: { description: 'a page of deliveries', schema: DeliveryListSchema },
        404: err('unknown id'),
      },
      handler: async (req) => {
        const w = find(idOf(req));
        const q = parseWith(DeliveriesQuerySchema, req.query);
        // A bad cursor is the store's InvalidCursorError, answered 400 by apiErrorOf.
        const page: DeliveryPage = await deps.deliveries.byWebhook(w.id, {
          state: q.state,
          limit: q.limit,
          before: q.before === undefined ? undefined : Buffer.from(q.before, 'base64url').toString(),
        });
        return {
          status: 200,
          body: {
            items: await Promise.all(
              page.items.map(async (d) => deliveryView(d, await deps.attempts.of(d.id))),
            ),
            next: page.next === null ? null : cursorOf(page.next),
          },
        };
      },
    },
    {
      method: 'POST',
      url: '/v1/webhooks/:id/retry-failed',
      operationId: 'retryFailedDeliveries',
      summary: "Put a webhook's failed (dead-lettered) deliveries back in the queue",
      tags: ['deliveries'],
      permission: 'WEBHOOKS:EDIT',
      params: ID,
      body: { schema: RetryFailedBodySchema, required: false },
      responses: {
        202: { description: 'requeued', schema: RequeuedSchema },
        400: err('the body is invalid'),
        404: err('unknown id'),
      },
      handler: async (req) => {
        const w = find(idOf(req));
        const body = parseWith(RetryFailedBodySchema, jsonBody(req, false) ?? {});
        const since = typeof body.since === 'string' ? Date.parse(body.since) : body.since;
        const t = now();
        const requeued = await deps.deliveries.retryFailed(
          { webhookId: w.id, since, dueAt: requeueAt(t) },
          t,
        );
        if (requeued > 0) deps.rescan();
        deps.logger.info({ webhookId: w.id, requeued }, 'failed deliveries requeued');
        return { status: 202, body: { requeued } };
      },
    },
    {
      method: 'POST',
      url: '/v1/deliveries/:id/retry',
      operationId: 'retryDelivery',
      summary: 'Put one failed delivery back in the queue',
      tags: ['deliveries'],
      permission: 'WEBHOOKS:EDIT',
      params: { id: 'the delivery id' },
      responses: {
        202: { description: 'requeued', schema: DeliveryViewSchema },
        404: err('unknown delivery'),
        409: err('the delivery is not failed'),
      },
      handler: async (req) => {
        const id = idOf(req);
        const d = await deps.deliveries.get(id);
        if (!d) throw notFound('delivery', id);
        if (d.state !== 'failed') {
          throw new ApiError(
            409,
            'conflict',
            `delivery "${id}" is ${d.state}; only failed deliveries are retried`,
          );
        }
        const t = now();
        await deps.deliveries.retryFailed({ ids: [id], dueAt: requeueAt(t) }, t);
        deps.rescan();
        deps.logger.info({ delivery: id, webhookId: d.webhook_id }, 'delivery requeued');
        const after = (await deps.deliveries.get(id))!;
        return { status: 202, body: deliveryView(after, await deps.attempts.of(id)) };
      },
    },
  ];
}
