/**
 * The one webhook model: the union of the seed APIs (DESIGN.md section 3).
 *
 * `WebhookInput` is what rule files and the native API accept (aliases
 * included); `normalizeWebhook` turns it into the `Webhook` every later stage
 * uses, with aliases folded (`targetUrl` → `url`, `enabled` → `active`, type
 * aliases → transport name) and defaults applied.
 *
 * One concept over 300 lines: the model is one schema; splitting its parts
 * would scatter the aliases and defaults that must be read together.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DurationSchema } from '../config/index.ts';
import { signingSecretProblem } from './signing-secret.ts';

/** A string or a language map such as `{ "en-GB": "name" }` (seed 003). */
export const LangText = z.union([z.string(), z.record(z.string(), z.string())]);

/** `{name: value}` or `{name: {value, secret}}` (seeds 001, 003). A secret header may omit its value on read. */
export const HeaderValue = z.union([
  z.string(),
  z.strictObject({ value: z.string().optional(), secret: z.boolean().optional() }),
]);

/** A topic: every key must match one of its values (seed 003). */
export const TopicSchema = z.record(z.string(), z.union([z.string(), z.array(z.string()).min(1)]));

/** Seed 004: per event type method and endpoint. */
export const HookSchema = z.strictObject({
  type: z.string().min(1),
  method: z
    .string()
    .regex(/^[A-Za-z]+$/, 'an HTTP method such as POST')
    .default('POST'),
  endpoint: z.string().min(1),
});

const OAuth2Schema = z.strictObject({
  type: z.literal('oauth2').optional(),
  grant_type: z.literal('client_credentials'),
  endpoint: z.string().min(1),
  credentials: z.strictObject({ client_id: z.string().min(1), client_secret: z.string().min(1) }),
  scope: z.string().optional(),
  audience: z.string().optional(),
  header_format: z.string().min(1).default('Authorization'),
  header_value_format: z.string().min(1).default('Bearer %ACCESS_TOKEN%'),
});

export const AuthenticationSchema = z.union([
  z.literal('none'),
  z.strictObject({ type: z.literal('none') }),
  z.strictObject({ type: z.literal('basic'), username: z.string(), password: z.string() }),
  z.strictObject({ type: z.literal('bearer'), token: z.string().min(1) }),
  OAuth2Schema,
]);

export const RetryOverrideSchema = z.strictObject({
  schedule: z.array(DurationSchema).min(1).optional(),
  jitter: z.number().min(0).max(1).optional(),
});

export const BreakerOverrideSchema = z.strictObject({
  failures: z.number().int().min(1).optional(),
  rate: z.number().gt(0).max(1).optional(),
  minAttempts: z.number().int().min(1).optional(),
  windowMs: z.number().int().min(1).optional(),
  cooldownMs: z.number().int().min(1).optional(),
  maxCooldownMs: z.number().int().min(1).optional(),
});

export const RateLimitSchema = z.strictObject({
  perSecond: z.number().gt(0),
  burst: z.number().int().min(1).optional(),
});

export const WebhookState = z.enum(['Active', 'Stopped', 'TooManyErrors']);
export type WebhookState = z.infer<typeof WebhookState>;

const DateLike = z
  .union([z.string().min(1), z.date().transform((d) => d.toISOString())])
  .refine(
    (s) => !Number.isNaN(Date.parse(s)),
    'a date or date-time such as 2024-01-01 or 2024-01-01T00:00:00Z',
  );

/**
 * A template: any JSON value; strings may hold `{/pointer}` placeholders and
 * any object `{"jsonata": "..."}` is a JSONata expression (DESIGN.md section 3).
 */
export const TemplateSchema: z.ZodType<unknown> = z.unknown();

/** A Standard Webhooks signing secret: `whsec_…` (HMAC) or `whsk_…` (Ed25519), DESIGN.md section 4. */
export const SigningSecretSchema = z.string().superRefine((s, ctx) => {
  const problem = signingSecretProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/**
 * Secrets replaced by a rotation that still sign until `until` (DESIGN.md
 * section 4, `delivery.secretOverlap`). The API keeps this list itself.
 */
export const PreviousSecretsSchema = z.array(
  z.strictObject({ secret: SigningSecretSchema, until: DateLike }),
);

/**
 * A webhook id given by its author (API body or rule file): safe in a URL
 * path, a header and a log line as it is. Generated ids are UUIDs.
 */
export const WebhookIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'expected 1 to 128 characters of [A-Za-z0-9._:-]')
  .describe('1 to 128 characters of `[A-Za-z0-9._:-]`; generated (a UUID) when absent');

export const WebhookInputSchema = z.strictObject({
  id: WebhookIdSchema.optional(),
  identifier: z.string().min(1).optional(),
  name: LangText.optional(),
  description: LangText.optional(),
  organizationId: z.string().optional(),
  type: z.string().min(1).default('http'),
  priority: z.number().int().default(0),
  active: z.boolean().optional(),
  enabled: z.boolean().optional(),
  activeFrom: DateLike.optional(),
  activeUntil: DateLike.optional(),
  state: WebhookState.optional(),
  events: z.array(z.string().min(1)).optional(),
  topics: z.array(TopicSchema).optional(),
  groupIdentifier: z.string().min(1).optional(),
  groupCondition: z.string().min(1).optional(),
  data: z.record(z.string(), z.unknown()).optional(),
  url: z.string().min(1).optional(),
  targetUrl: z.string().min(1).optional(),
  method: z
    .string()
    .regex(/^[A-Za-z]+$/, 'an HTTP method such as POST')
    .optional(),
  hooks: z.array(HookSchema).optional(),
  headers: z.record(z.string(), HeaderValue).optional(),
  secret: SigningSecretSchema.optional(),
  previousSecrets: PreviousSecretsSchema.optional(),
  authentication: AuthenticationSchema.optional(),
  properties: z.record(z.string(), z.unknown()).optional(),
  templates: z.record(z.string(), TemplateSchema).optional(),
  /** Body template used when no `templates` entry matches the event. */
  body: TemplateSchema.optional(),
  retry: RetryOverrideSchema.optional(),
  breaker: BreakerOverrideSchema.optional(),
  timeoutMs: z.number().int().min(1).optional(),
  concurrency: z.number().int().min(1).optional(),
  rateLimit: RateLimitSchema.optional(),
  createdBy: z.string().optional(),
  createdAt: z.string().optional(),
  updatedBy: z.string().optional(),
  updatedAt: z.string().optional(),
  version: z
    .strictObject({ versionNo: z.union([z.string(), z.number()]) })
    .partial()
    .optional(),
});
export type WebhookInput = z.input<typeof WebhookInputSchema>;
export type ParsedWebhookInput = z.output<typeof WebhookInputSchema>;

export type Authentication = z.output<typeof AuthenticationSchema>;
export type Hook = z.output<typeof HookSchema>;
export type HeaderSpec = { value?: string; secret: boolean };

/** The normalized webhook every stage after loading works with. */
export interface Webhook {
  id: string;
  /** Where it is defined: a rule file (read-only through the API) or the API. */
  source: 'file' | 'api';
  /** Rule file path, for file webhooks. */
  file?: string;
  identifier: string;
  name?: string | Record<string, string>;
  description?: string | Record<string, string>;
  organizationId?: string;
  /** Canonical transport name (`http`, `sftp`, `email`, `nats` or a plugin's). */
  type: string;
  /** The type as written (`webhook`, `sftp-document`, ...). */
  typeName: string;
  priority: number;
  active: boolean;
  activeFrom?: number;
  activeUntil?: number;
  /** State set by the operator or the breaker; `Active` unless stated. */
  state: WebhookState;
  events?: string[];
  topics?: Record<string, string[]>[];
  groupIdentifier?: string;
  groupCondition?: string;
  data: Record<string, unknown>;
  url?: string;
  method: string;
  hooks?: Hook[];
  headers: Record<string, HeaderSpec>;
  secret?: string;
  /** Rotated-out secrets that still sign until `until` (epoch ms). */
  previousSecrets?: { secret: string; until: number }[];
  authentication?: Authentication;
  properties?: Record<string, unknown>;
  templates?: Record<string, unknown>;
  body?: unknown;
  retry?: z.output<typeof RetryOverrideSchema>;
  breaker?: z.output<typeof BreakerOverrideSchema>;
  timeoutMs?: number;
  concurrency?: number;
  rateLimit?: z.output<typeof RateLimitSchema>;
  createdBy?: string;
  createdAt?: string;
  updatedBy?: string;
  updatedAt?: string;
  versionNo: number;
}

/** Parses a date-only string as the start of that day in UTC. */
function toEpoch(s: string | undefined): number | undefined {
  return s === undefined ? undefined : Date.parse(s);
}

/** A stable id for a file webhook, from its file (relative to the rules dir) and identifier (DESIGN.md section 3). */
export function fileWebhookId(relFile: string, identifier: string, index: number): string {
  const h = createHash('sha256').update(`${relFile}\0${identifier}\0${index}`).digest('hex');
  // UUID-shaped (version 8, custom) so every id looks alike to API clients.
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export interface NormalizeContext {
  id: string;
  source: 'file' | 'api';
  file?: string;
  /** Maps a written type (or alias) to its transport name; undefined when unknown. */
  resolveType: (typeName: string) => string | undefined;
}

export class WebhookModelError extends Error {
  readonly code = 'HOOKD_WEBHOOK_INVALID';
  constructor(
    message: string,
    readonly path: (string | number)[],
  ) {
    super(message);
  }
}

/** Folds aliases and applies defaults. Throws `WebhookModelError` naming the field path. */
export function normalizeWebhook(input: ParsedWebhookInput, ctx: NormalizeContext): Webhook {
  if (input.url !== undefined && input.targetUrl !== undefined && input.url !== input.targetUrl) {
    throw new WebhookModelError('give either url or its alias targetUrl, not both', ['targetUrl']);
  }
  if (input.active !== undefined && input.enabled !== undefined && input.active !== input.enabled) {
    throw new WebhookModelError('give either active or its alias enabled, not both', ['enabled']);
  }
  const type = ctx.resolveType(input.type);
  if (type === undefined) {
    throw new WebhookModelError(`unknown webhook type "${input.type}"`, ['type']);
  }
  const identifier = input.identifier ?? (typeof input.name === 'string' ? input.name : undefined) ?? ctx.id;
  const headers: Record<string, HeaderSpec> = {};
  for (const [name, v] of Object.entries(input.headers ?? {})) {
    headers[name] =
      typeof v === 'string' ? { value: v, secret: false } : { value: v.value, secret: v.secret ?? false };
  }
  const topics = input.topics?.map((t) => {
    const out: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(t)) out[k] = Array.isArray(v) ? v : [v];
    return out;
  });
  const versionNo = Number(input.version?.versionNo ?? 1);
  return {
    id: ctx.id,
    source: ctx.source,
    file: ctx.file,
    identifier,
    name: input.name,
    description: input.description,
    organizationId: input.organizationId,
    type,
    typeName: input.type,
    priority: input.priority,
    active: input.active ?? input.enabled ?? true,
    activeFrom: toEpoch(input.activeFrom),
    activeUntil: toEpoch(input.activeUntil),
    state: input.state ?? 'Active',
    events: input.events,
    topics,
    groupIdentifier: input.groupIdentifier,
    groupCondition: input.groupCondition,
    data: input.data ?? {},
    url: input.url ?? input.targetUrl,
    method: (input.method ?? 'POST').toUpperCase(),
    hooks: input.hooks?.map((h) => ({ ...h, method: h.method.toUpperCase() })),
    headers,
    secret: input.secret,
    previousSecrets: input.previousSecrets?.map((p) => ({ secret: p.secret, until: Date.parse(p.until) })),
    authentication: input.authentication,
    properties: input.properties,
    templates: input.templates,
    body: input.body,
    retry: input.retry,
    breaker: input.breaker,
    timeoutMs: input.timeoutMs,
    concurrency: input.concurrency,
    rateLimit: input.rateLimit,
    createdBy: input.createdBy,
    createdAt: input.createdAt,
    updatedBy: input.updatedBy,
    updatedAt: input.updatedAt,
    versionNo: Number.isFinite(versionNo) ? versionNo : 1,
  };
}
