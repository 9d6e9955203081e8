/**
 * Seed 003 (Contensis management API, "Create A Webhook Subscription"):
 * `POST /api/management/projects/{projectId}/events/webhooks/subscriptions`
 * takes the subscription in the model's own names (name and description as
 * language maps, url, enabled, topics, headers, templates) and answers `201`
 * echoing it with `id` and `version`. Secret headers come back as
 * `{"secret": true}` without their value; a header without a value is not
 * returned. The project id is kept as the webhook's `organizationId`.
 */

import { ApiError } from '../errors.ts';
import { redactSecrets } from '../redact.ts';
import { jsonBody, type Route } from '../routes.ts';
import type { ApiWebhook } from '../webhook-service.ts';
import { AUDIT_FIELDS, type DialectDeps, errorResponses, isObject } from './dialect.ts';

export function subscriptionView(
  { webhook: w, stored }: ApiWebhook,
  deps: DialectDeps,
): Record<string, unknown> {
  const spec: Record<string, unknown> = { ...stored.spec };
  for (const k of [...AUDIT_FIELDS, 'organizationId']) delete spec[k];
  return {
    id: w.id,
    ...redactSecrets(spec, deps.registry, w.type),
    version: {
      createdBy: w.createdBy,
      created: w.createdAt,
      modifiedBy: w.updatedBy,
      modified: w.updatedAt,
      versionNo: `${w.versionNo}.0`,
    },
  };
}

export function contensisRoutes(deps: DialectDeps): Route[] {
  const base = '/api/management/projects/:projectId/events/webhooks/subscriptions';
  // The seed's own example posts to the collection with a trailing slash.
  return [base, `${base}/`].map(
    (url, i): Route => ({
      method: 'POST',
      url,
      operationId: i === 0 ? 'contensisCreateSubscription' : 'contensisCreateSubscriptionSlash',
      summary: 'Seed 003: create a webhook subscription',
      tags: ['seed 003'],
      permission: 'WEBHOOKS:ADD',
      params: { projectId: 'the project' },
      responses: {
        201: { description: 'created: the subscription with id and version' },
        ...errorResponses(400, 409),
      },
      handler: async (req, principal) => {
        const body = jsonBody(req, true);
        if (!isObject(body)) throw new ApiError(400, 'invalid_body', '$: expected a JSON object');
        const { projectId } = req.params as { projectId: string };
        const created = deps.service.create({ organizationId: projectId, ...body }, principal.name);
        return {
          status: 201,
          body: subscriptionView(created, deps),
          headers: { location: `/v1/webhooks/${created.webhook.id}` },
        };
      },
    }),
  );
}
