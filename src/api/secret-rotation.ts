/**
 * `POST /v1/webhooks/{id}/secret/rotate` (DESIGN.md section 4): the given
 * secret (or a generated one of the same kind) becomes current; the one it
 * replaces keeps signing beside it for `delivery.secretOverlap`, so every
 * attempt in that time, retries included, verifies with either secret.
 */
import { z } from 'zod';
import { HMAC_PREFIX, SigningSecretSchema } from '../rules/index.ts';
import { jsonBody, parseWith, type Route } from './routes.ts';
import { ErrorSchema, WebhookViewSchema } from './schemas.ts';
import type { WebhookApiDeps } from './webhooks.ts';

export const RotateBodySchema = z.strictObject({
  secret: SigningSecretSchema.optional().meta({
    description: 'the new secret (whsec_… or whsk_…); generated, of the current kind, when absent',
  }),
});

export const RotatedSchema = WebhookViewSchema.extend({
  generatedSecret: z.string().optional().meta({
    description:
      'an HMAC (whsec_) secret hookd generated (no `secret` in the request), which receivers need: shown in this response only, never again. A generated whsk_ key is never shown: receivers verify with `publicKey`.',
  }),
});

export function secretRotationRoute(
  deps: Pick<WebhookApiDeps, 'service' | 'secretOverlapMs'>,
  view: (w: Parameters<WebhookApiDeps['stateOf']>[0]) => z.output<typeof WebhookViewSchema>,
): Route {
  return {
    method: 'POST',
    url: '/v1/webhooks/:id/secret/rotate',
    operationId: 'rotateWebhookSecret',
    summary: 'Rotate the signing secret; the old one keeps signing too for delivery.secretOverlap',
    description:
      'During the overlap every attempt carries both signatures (`v1,<old> v1,<new>`), so receivers can switch at any time.',
    tags: ['webhooks'],
    permission: 'WEBHOOKS:EDIT',
    params: { id: 'the webhook id' },
    body: { schema: RotateBodySchema, required: false },
    responses: {
      200: { description: 'the webhook with its new secret (write-only)', schema: RotatedSchema },
      400: { description: 'the secret is invalid', schema: ErrorSchema },
      404: { description: 'unknown id', schema: ErrorSchema },
      409: { description: 'a file webhook: change its rule file', schema: ErrorSchema },
    },
    handler: async (req, principal) => {
      const id = (req.params as { id: string }).id;
      const body = parseWith(RotateBodySchema, jsonBody(req, false) ?? {});
      const r = deps.service.rotateSecret(id, body.secret, principal.name, deps.secretOverlapMs);
      return {
        status: 200,
        body: {
          ...view(r.webhook),
          ...(r.generated?.startsWith(HMAC_PREFIX) ? { generatedSecret: r.generated } : {}),
        },
      };
    },
  };
}
