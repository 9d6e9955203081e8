/**
 * The daemon configuration (`config/hookd.yaml`, DESIGN.md section 1). One
 * zod schema gives the type, the validation with paths, and the JSON Schema.
 * Every key can be overridden by `HOOKD_<SECTION>_<KEY>` (see env.ts).
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { DurationSchema } from './duration.ts';

export const PERMISSIONS = [
  'WEBHOOKS:VIEW',
  'WEBHOOKS:ADD',
  'WEBHOOKS:EDIT',
  'WEBHOOKS:REMOVE',
  'EVENTS:PUBLISH',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const Port = z.number().int().min(0).max(65535);

/**
 * An allow-list entry: a host name, `*.suffix`, an IP address (IPv6 bare or
 * in brackets) or a CIDR range. Not a port (the guard allows hosts and
 * addresses, whatever the port: an entry with one would never match), a
 * scheme or a path.
 */
const AllowListEntry = z
  .string()
  .min(1)
  .superRefine((raw, ctx) => {
    const e = raw.trim();
    const [addr = '', prefix] = e.split('/');
    const v6 =
      isIP(addr.replace(/^\[(.*)\]$/, '$1')) === 6 && (prefix === undefined || /^\d{1,3}$/.test(prefix));
    const hostOrV4 = /^(\*\.)?[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?\.?(\/\d{1,2})?$/i.test(e);
    if (v6 || hostOrV4) return;
    const port = /:\d+$/.test(e) && !e.includes('://');
    ctx.addIssue({
      code: 'custom',
      message: port
        ? `${JSON.stringify(raw)} has a port; list the host or address alone (every port of an allowed host is allowed)`
        : `${JSON.stringify(raw)} is not a host name, IP address, CIDR range or *.suffix (no scheme, port or path)`,
    });
  });

/** A 256-bit key written as base64 (`openssl rand -base64 32`). The value is never shown in a message. */
const SecretsKey = z
  .string()
  .refine((s) => /^[A-Za-z0-9+/]{43}=$/.test(s.trim()) && Buffer.from(s.trim(), 'base64').length === 32, {
    message: 'expected base64 of 32 bytes (e.g. the output of `openssl rand -base64 32`)',
  });

export const ConfigSchema = z.strictObject({
  nats: z
    .strictObject({
      /** No url: no NATS, HTTP ingest only. */
      url: z.string().min(1).optional(),
      stream: z.string().min(1).default('EVENTS'),
      subjects: z.array(z.string().min(1)).min(1).default(['events.>']),
      consumer: z.string().min(1).default('hookd'),
      /** Messages pulled per batch. */
      batch: z.number().int().min(1).max(10_000).default(512),
      /** How long JetStream waits for an ack before redelivering. */
      ackWaitMs: z.number().int().min(1000).default(30_000),
      /**
       * The consumer lease (one process per consumer with the sqlite store):
       * renewed every third of this; a crashed holder's lease expires after it.
       */
      leaseMs: z.number().int().min(1000).default(15_000),
      /** `max_age` of the stream when hookd creates it (the replay window; 0: no limit). An existing stream is used as it is. */
      maxAge: DurationSchema.prefault('168h'),
      /**
       * Deliveries of one message hookd tries; a message delivered more often
       * (it never got stored: it crashes or stalls every hookd) is a poison
       * message, kept in `rejected_events` with reason `redelivered` and acked.
       */
      maxDeliver: z.number().int().min(1).default(20),
    })
    .prefault({}),
  store: z
    .strictObject({
      /**
       * `sqlite`: one process keeps every delivery in its file (the embedded
       * default). `jetstream`: any number of equal replicas keep deliveries,
       * attempts, dead letters, API webhooks and states in NATS (needs `nats.url`).
       */
      backend: z.enum(['sqlite', 'jetstream']).default('sqlite'),
      /** The SQLite file (`sqlite` only). */
      path: z.string().min(1).default('./data/hookd.db'),
      /** How long finished records are kept (DESIGN.md section 8); pending deliveries are never deleted. */
      retention: z
        .strictObject({
          /** Delivered deliveries, with their attempts, counted from delivery. */
          succeeded: DurationSchema.prefault('72h'),
          /** Dead letters, with their attempts, counted from when they failed. */
          failed: DurationSchema.prefault('720h'),
          /** Rejected events, counted from when they arrived. */
          rejected: DurationSchema.prefault('720h'),
        })
        .prefault({}),
      /**
       * `failures` (default): an attempts row per failed attempt; a success is
       * kept on its delivery (status, latency, response). `all`: a row per success too.
       */
      attemptLog: z.enum(['failures', 'all']).default('failures'),
      jetstream: z
        .strictObject({
          /** Replicas of hookd's own streams and KV buckets (`jetstream` only): 1, or 3 on a cluster. */
          replicas: z.number().int().min(1).max(5).default(1),
        })
        .prefault({}),
    })
    .prefault({}),
  http: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: Port.default(8080),
    })
    .prefault({}),
  events: z
    .strictObject({
      /** Largest accepted event in bytes. */
      maxBytes: z.number().int().min(1).default(1_048_576),
      /** Deepest nesting of objects and arrays accepted in an event (DESIGN.md section 4, "Bounds"). */
      maxDepth: z.number().int().min(2).max(1000).default(128),
      /** Wall-time budget of one condition or JSONata evaluation, enforced even inside one built-in. */
      evalTimeoutMs: z.number().int().min(1).max(60_000).default(50),
      /** Topic attributes: name → JSON pointer into the event. */
      attributes: z
        .record(z.string(), z.string().regex(/^(\/.*)?$/, 'a JSON pointer such as /data/language'))
        .default({}),
    })
    .prefault({}),
  delivery: z
    .strictObject({
      concurrency: z.number().int().min(1).default(64),
      /**
       * Attempts in flight to one webhook at once (the webhook's `concurrency`
       * overrides it); default: 7/8 of `concurrency`, so one busy webhook can use
       * most of the pipe while the rest stays free for the others. Small
       * receivers are protected with `concurrency`/`rateLimit`.
       */
      perWebhookConcurrency: z.number().int().min(1).optional(),
      timeoutMs: z.number().int().min(1).default(15_000),
      /** Largest rendered request (body, headers, fields); over it is a permanent render failure. */
      maxRequestBytes: z.number().int().min(1024).default(1_048_576),
      shutdownTimeoutMs: z.number().int().min(0).default(10_000),
      /** How long a secret replaced by `POST /v1/webhooks/{id}/secret/rotate` keeps signing beside the new one. */
      secretOverlap: DurationSchema.default(86_400_000),
      retry: z
        .strictObject({
          schedule: z
            .array(DurationSchema)
            .min(1)
            .prefault(['0s', '5s', '5m', '30m', '2h', '5h', '10h', '10h']),
          jitter: z.number().min(0).max(1).default(0.2),
          /** Longest `Retry-After` honoured. */
          maxRetryAfterMs: z.number().int().min(0).default(3_600_000),
        })
        .prefault({}),
      breaker: z
        .strictObject({
          failures: z.number().int().min(1).default(10),
          rate: z.number().gt(0).max(1).default(0.5),
          minAttempts: z.number().int().min(1).default(20),
          windowMs: z.number().int().min(1).default(60_000),
          cooldownMs: z.number().int().min(1).default(30_000),
          maxCooldownMs: z.number().int().min(1).default(600_000),
        })
        .prefault({}),
    })
    .prefault({}),
  security: z
    .strictObject({
      allowPrivateNetworks: z.boolean().default(false),
      /** Host names, IP addresses or CIDR ranges that may be reached even when private. */
      allowList: z.array(AllowListEntry).default([]),
      /** Base64 of 32 bytes: API webhooks' secrets are encrypted at rest with it (AES-256-GCM). */
      secretsKey: SecretsKey.optional(),
      /** Earlier `secretsKey`s, still read during a key rotation; writes use `secretsKey`. */
      previousSecretsKeys: z.array(SecretsKey).default([]),
    })
    .prefault({}),
  api: z
    .strictObject({
      tokens: z
        .array(
          z
            .strictObject({
              name: z.string().min(1),
              token: z.string().min(1).optional(),
              tokenEnv: z.string().min(1).optional(),
              permissions: z.array(z.enum(PERMISSIONS)).default([...PERMISSIONS]),
            })
            .refine((t) => (t.token === undefined) !== (t.tokenEnv === undefined), {
              message: 'give exactly one of token or tokenEnv',
            }),
        )
        .default([]),
    })
    .prefault({}),
  plugins: z.strictObject({ dir: z.string().min(1).optional() }).prefault({}),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      /** Label per-webhook series with the identifier; turn off for very large installations. */
      perWebhookLabels: z.boolean().default(true),
    })
    .prefault({}),
});

export type Config = z.output<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;
