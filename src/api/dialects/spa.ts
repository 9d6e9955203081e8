/**
 * Seed 000 (SPA, "Creates a new Webhook resource"): `POST /api/spa/webhooks`
 * with the model's own field names (identifier, type, priority, data,
 * active, activeFrom, groupIdentifier, groupCondition); `201` with the
 * resource, whose `id` is an integer, `activeFrom` defaulting to today, and
 * the `data` secrets (SFTP password, private key) write-only.
 */
import { ApiError, invalidBody } from '../errors.ts';
import { redactSecrets } from '../redact.ts';
import { jsonBody, type Route } from '../routes.ts';
import type { ApiWebhook } from '../webhook-service.ts';
import { type DialectDeps, errorResponses, isObject } from './dialect.ts';

export function spaView({ webhook: w, stored }: ApiWebhook, deps: DialectDeps): Record<string, unknown> {
  const spec = stored.spec;
  const data = redactSecrets({ data: spec.data ?? {} }, deps.registry, w.type).data;
  const out: Record<string, unknown> = {
    id: stored.number,
    identifier: w.identifier,
    type: w.typeName,
    priority: w.priority,
    data,
    createdBy: w.createdBy,
    updatedBy: w.updatedBy,
    createdAt: w.createdAt,
    updatedAt: w.updatedAt,
    active: w.active,
    activeFrom: spec.activeFrom,
    groupIdentifier: w.groupIdentifier,
    groupCondition: w.groupCondition,
  };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

export function spaRoutes(deps: DialectDeps): Route[] {
  const now = deps.now ?? Date.now;
  return [
    {
      method: 'POST',
      url: '/api/spa/webhooks',
      operationId: 'spaCreateWebhook',
      summary: 'Seed 000: create a webhook resource',
      tags: ['seed 000'],
      permission: 'WEBHOOKS:ADD',
      responses: { 201: { description: 'created' }, ...errorResponses(400, 409) },
      handler: async (req, principal) => {
        const body = jsonBody(req, true);
        if (!isObject(body)) throw new ApiError(400, 'invalid_body', '$: expected a JSON object');
        // The seed marks identifier "required": without it there is nothing to select the webhook by.
        if (typeof body.identifier !== 'string' || body.identifier.trim() === '') {
          throw invalidBody([
            { path: 'identifier', message: 'required: the customer identifier (a non-empty string)' },
          ]);
        }
        // "activeFrom: Date to activate the entry. Default: today".
        const input = { ...body, activeFrom: body.activeFrom ?? new Date(now()).toISOString().slice(0, 10) };
        const created = deps.service.create(input, principal.name);
        return {
          status: 201,
          body: spaView(created, deps),
          headers: { location: `/v1/webhooks/${created.webhook.id}` },
        };
      },
    },
  ];
}
