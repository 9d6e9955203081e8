/**
 * Seed 002 (`WebhooksApi`): `/api/web/v1/webhooks` CRUD and
 * `POST /api/web/v1/webhooks/test/{id}`, each answering `200` as the seed
 * documents (delete and test with an empty body), ids are UUIDs, and the
 * permissions are the seed's own (VIEW, ADD, EDIT, REMOVE). The seed does
 * not spell out `WebhookParms`, so bodies and answers use the one model's
 * field names, as the native API does.
 */
import { ApiError, notFound } from '../errors.ts';
import { jsonBody, type Route } from '../routes.ts';
import { webhookView } from '../views.ts';
import { type DialectDeps, errorResponses } from './dialect.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BASE = '/api/web/v1/webhooks';
const TAGS = ['seed 002'];

function uuidParam(params: unknown): string {
  const id = (params as { id: string }).id;
  if (!UUID.test(id)) {
    throw new ApiError(400, 'invalid_id', `"${id}" is not a webhook UUID`, [
      { path: 'id', message: 'not a UUID' },
    ]);
  }
  return id;
}

export function webV1Routes(deps: DialectDeps): Route[] {
  const view = (id: string) => {
    const w = deps.catalog().webhook(id);
    if (!w) throw notFound('webhook', id);
    return webhookView(w, deps.stateOf(w), deps.registry);
  };
  const params = { id: 'the webhook UUID' };
  return [
    {
      method: 'GET',
      url: BASE,
      operationId: 'getWebhooksUsingGET',
      summary: 'Seed 002: list webhooks',
      tags: TAGS,
      permission: 'WEBHOOKS:VIEW',
      responses: { 200: { description: 'every webhook' } },
      handler: async () => ({
        status: 200,
        body: deps
          .catalog()
          .rules.webhooks.map((w) => webhookView(w, deps.stateOf(w), deps.registry))
          .sort((a, b) => (a.id < b.id ? -1 : 1)),
      }),
    },
    {
      method: 'POST',
      url: BASE,
      operationId: 'createWebhookUsingPOST',
      summary: 'Seed 002: register a webhook',
      tags: TAGS,
      permission: 'WEBHOOKS:ADD',
      responses: { 200: { description: 'the webhook' }, ...errorResponses(400, 409) },
      handler: async (req, principal) => {
        const { webhook } = deps.service.create(jsonBody(req, true), principal.name);
        return { status: 200, body: view(webhook.id) };
      },
    },
    {
      method: 'GET',
      url: `${BASE}/:id`,
      operationId: 'readWebhookUsingGET',
      summary: 'Seed 002: get a webhook by id',
      tags: TAGS,
      permission: 'WEBHOOKS:VIEW',
      params,
      responses: { 200: { description: 'the webhook' }, ...errorResponses(400, 404) },
      handler: async (req) => ({ status: 200, body: view(uuidParam(req.params)) }),
    },
    {
      method: 'PUT',
      url: `${BASE}/:id`,
      operationId: 'updateWebhookUsingPUT',
      summary: 'Seed 002: update a webhook',
      tags: TAGS,
      permission: 'WEBHOOKS:EDIT',
      params,
      responses: { 200: { description: 'the webhook' }, ...errorResponses(400, 404, 409) },
      handler: async (req, principal) => {
        const id = uuidParam(req.params);
        deps.service.replace(id, jsonBody(req, true), principal.name);
        return { status: 200, body: view(id) };
      },
    },
    {
      method: 'DELETE',
      url: `${BASE}/:id`,
      operationId: 'deleteWebhookUsingDELETE',
      summary: 'Seed 002: delete a webhook',
      tags: TAGS,
      permission: 'WEBHOOKS:REMOVE',
      params,
      responses: { 200: { description: 'deleted (empty body)' }, ...errorResponses(400, 404, 409) },
      handler: async (req, principal) => {
        deps.service.remove(uuidParam(req.params), principal.name);
        return { status: 200 };
      },
    },
    {
      method: 'POST',
      url: `${BASE}/test/:id`,
      operationId: 'testWebhookUsingPOST',
      summary: 'Seed 002: send a dummy payload to the webhook',
      description:
        'Empty body, as the seed documents; the outcome is in the `hookd-test-outcome` header (the native test route returns the whole attempt).',
      tags: TAGS,
      permission: 'WEBHOOKS:EDIT',
      params,
      responses: { 200: { description: 'the test ran (empty body)' }, ...errorResponses(400, 404) },
      handler: async (req) => {
        const id = uuidParam(req.params);
        const w = deps.catalog().webhook(id);
        if (!w) throw notFound('webhook', id);
        const attempt = await deps.test(w);
        return {
          status: 200,
          headers: {
            'hookd-test-outcome': attempt.outcome,
            ...(attempt.status === null ? {} : { 'hookd-test-status': String(attempt.status) }),
          },
        };
      },
    },
  ];
}
