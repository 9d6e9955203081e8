/**
 * Schemas of the native API (DESIGN.md section 5). Requests are validated
 * with them (the webhook body with the very schema rule files use,
 * `WebhookInputSchema`), and `GET /openapi.json` is generated from them.
 */
import { z } from 'zod';
import {
  BreakerOverrideSchema,
  HookSchema,
  LangText,
  RateLimitSchema,
  SigningSecretSchema,
  WebhookInputSchema,
  WebhookState,
} from '../rules/index.ts';

export const SecretSetSchema = z.strictObject({ set: z.literal(true) }).meta({
  description: 'Write-only: a value is set but never returned. Sent back unchanged, it keeps the value.',
});

/**
 * `authentication` with its secret values of the given schema: `{"set": true}`
 * in responses; a value or `{"set": true}` (keep the stored one) in requests.
 */
function authenticationSchema(secret: z.ZodType) {
  return z.union([
    z.literal('none'),
    z.strictObject({ type: z.literal('none') }),
    z.strictObject({ type: z.literal('basic'), username: z.string(), password: secret }),
    z.strictObject({ type: z.literal('bearer'), token: secret }),
    z.strictObject({
      type: z.literal('oauth2').optional(),
      grant_type: z.literal('client_credentials'),
      endpoint: z.string(),
      credentials: z.strictObject({ client_id: z.string(), client_secret: secret }),
      scope: z.string().optional(),
      audience: z.string().optional(),
      header_format: z.string().optional(),
      header_value_format: z.string().optional(),
    }),
  ]);
}

const SecretOrKept = z.union([z.string().min(1), SecretSetSchema]);
const readOnly = <T extends z.ZodType>(schema: T, what: string) =>
  schema.optional().meta({ description: `read-only (${what}): accepted in a request and ignored` });

/** A webhook as the API returns it: the one model, normalized, secrets write-only. */
export const WebhookViewSchema = z.object({
  id: z.string(),
  source: z.enum(['file', 'api']).meta({ description: 'file webhooks are read-only through the API' }),
  file: z.string().optional().meta({ description: 'the rule file, for file webhooks' }),
  identifier: z.string(),
  name: LangText.optional(),
  description: LangText.optional(),
  organizationId: z.string().optional(),
  type: z.string().meta({ description: 'the type as written (webhook, sftp-document, ...)' }),
  transport: z
    .string()
    .meta({ description: 'the transport that delivers it (http, sftp, email, nats, ...)' }),
  priority: z.number().int(),
  active: z.boolean(),
  activeFrom: z.string().optional(),
  activeUntil: z.string().optional(),
  state: WebhookState.meta({ description: 'the state in force (operator, breaker, or as configured)' }),
  events: z.array(z.string()).optional(),
  topics: z.array(z.record(z.string(), z.array(z.string()))).optional(),
  groupIdentifier: z.string().optional(),
  groupCondition: z.string().optional(),
  data: z.record(z.string(), z.unknown()),
  url: z.string().optional(),
  method: z.string(),
  hooks: z.array(HookSchema).optional(),
  headers: z.record(
    z.string(),
    z.union([
      z.object({ value: z.string() }),
      z.object({ secret: z.literal(true) }).meta({ description: 'a secret header: set, never returned' }),
    ]),
  ),
  secret: SecretSetSchema.optional(),
  publicKey: z.string().optional().meta({
    description: 'for a whsk_ (Ed25519) secret: the whpk_ key receivers verify v1a signatures with',
  }),
  previousSecrets: z
    .array(z.object({ secret: SecretSetSchema, until: z.string() }))
    .optional()
    .meta({ description: 'secrets replaced by a rotation that still sign until `until`' }),
  authentication: authenticationSchema(SecretSetSchema).optional(),
  properties: z.record(z.string(), z.unknown()).optional(),
  templates: z.record(z.string(), z.unknown()).optional(),
  body: z.unknown().optional(),
  retry: z
    .object({ schedule: z.array(z.number()).optional(), jitter: z.number().optional() })
    .optional()
    .meta({ description: 'per-webhook retry override; schedule in milliseconds' }),
  breaker: BreakerOverrideSchema.optional(),
  timeoutMs: z.number().int().optional(),
  concurrency: z.number().int().optional(),
  rateLimit: RateLimitSchema.optional(),
  createdBy: z.string().optional(),
  createdAt: z.string().optional(),
  updatedBy: z.string().optional(),
  updatedAt: z.string().optional(),
  version: z.object({ versionNo: z.number().int() }),
});
export type WebhookView = z.output<typeof WebhookViewSchema>;

/**
 * The body of `POST /v1/webhooks` and `PUT /v1/webhooks/{id}` as documented
 * (`WebhookInput`): the one model of rule files, plus what a response holds,
 * so a GET body sent back through PUT is valid as it is. Read-only members
 * are ignored; `{"set": true}` in a secret's place keeps the stored value.
 * The server validates the result with the rule files' own schema.
 */
export const WebhookBodySchema = WebhookInputSchema.extend({
  source: readOnly(z.enum(['file', 'api']), 'where the webhook is defined'),
  file: readOnly(z.string(), 'the rule file'),
  transport: readOnly(z.string(), 'the transport of its type'),
  publicKey: readOnly(z.string(), 'the whpk_ key of a whsk_ secret'),
  previousSecrets: readOnly(
    z.array(z.strictObject({ secret: SecretOrKept, until: z.string() })),
    'kept by rotation, see POST /v1/webhooks/{id}/secret/rotate',
  ),
  secret: z
    .union([SigningSecretSchema, SecretSetSchema])
    .optional()
    .meta({ description: 'whsec_… (HMAC, v1) or whsk_… (Ed25519, v1a); write-only' }),
  authentication: authenticationSchema(SecretOrKept).optional(),
});

export const WebhookListSchema = z.object({
  items: z.array(WebhookViewSchema),
  total: z.number().int().meta({ description: 'webhooks matching the filter' }),
  next: z.string().nullable().meta({ description: 'pass as `after` for the next page; null on the last' }),
});

export const ListQuerySchema = z.strictObject({
  identifier: z.string().min(1).optional(),
  type: z.string().min(1).optional().meta({ description: 'a transport name or a written type' }),
  state: WebhookState.optional(),
  source: z.enum(['file', 'api']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  after: z.string().min(1).optional().meta({ description: 'the `next` of the previous page' }),
});

export const StateBodySchema = z.strictObject({
  state: WebhookState,
  reason: z.string().min(1).max(500).optional(),
});

export const ProblemSchema = z.object({ path: z.string(), message: z.string() });

export const ErrorSchema = z.object({
  error: z
    .string()
    .meta({ description: 'a stable code: invalid_body, not_found, conflict, unauthorized, ...' }),
  message: z.string(),
  problems: z.array(ProblemSchema).optional().meta({ description: 'one per field at fault, by JSON path' }),
});

/** A rejected ingest request: one problem per bad event, with the reason it is kept under in rejected_events. */
export const IngestErrorSchema = z.object({
  error: z.string().meta({ description: 'invalid_event, or too_large when every problem is too_large' }),
  message: z.string(),
  problems: z
    .array(
      z.object({
        path: z.string().meta({ description: 'the event (`[2]` in an array) and field, e.g. `[2].id`' }),
        reason: z
          .string()
          .meta({ description: 'invalid_json, missing_id, invalid_id, too_large, too_deep, ...' }),
        message: z.string(),
      }),
    )
    .optional()
    .meta({ description: 'absent when the body is refused by its size alone' }),
});

export const AttemptViewSchema = z.object({
  attempt: z.number().int(),
  startedAt: z.string(),
  durationMs: z.number(),
  outcome: z.enum(['success', 'retryable', 'permanent']),
  status: z.number().int().nullable(),
  error: z.string().nullable(),
  response: z.string().nullable().meta({ description: 'the first KiB of the response' }),
});

export const DeliveryViewSchema = z.object({
  id: z.string(),
  eventId: z.string(),
  eventType: z.string(),
  webhookId: z.string(),
  identifier: z.string(),
  state: z.enum(['pending', 'succeeded', 'failed']),
  attemptCount: z.number().int(),
  nextAttemptAt: z.string().nullable(),
  receivedAt: z.string(),
  updatedAt: z.string(),
  lastError: z.string().nullable(),
  attempts: z.array(AttemptViewSchema),
});

export const DeliveryListSchema = z.object({
  items: z.array(DeliveryViewSchema),
  next: z.string().nullable(),
});

export const DeliveriesQuerySchema = z.strictObject({
  state: z.enum(['pending', 'succeeded', 'failed']).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.string().min(1).optional().meta({ description: 'the `next` of the previous page' }),
});

/** A test send: one attempt, with the ids of the dummy event and delivery. */
export const TestResultSchema = AttemptViewSchema.extend({
  deliveryId: z.string(),
  eventId: z.string(),
  eventType: z.string(),
});

export const RetryFailedBodySchema = z.strictObject({
  since: z
    .union([z.number().int().min(0), z.iso.datetime({ offset: true })])
    .optional()
    .meta({ description: 'only deliveries that failed at or after this time (ms or ISO date-time)' }),
});

export const RequeuedSchema = z.object({ requeued: z.number().int() });
