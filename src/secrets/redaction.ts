/**
 * Redaction, one code for logs, API views and `hookd explain`: what is
 * secret in a webhook comes from its secret slots (the model's secret fields
 * and each transport's declared `secretFields`), never from a list of the
 * built-in transports' field names. A plugin that declares a secret field is
 * redacted everywhere with no change outside the plugin.
 */
import type { TransportModule, TransportRegistry } from '../transports/index.ts';
import { AUTH_SECRET_KEYS, secretSlots } from './secret-slots.ts';

type Obj = Record<string, unknown>;

/** Request header names whose values are credentials wherever they appear. */
export const SECRET_HEADER_NAMES: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'x-auth-token',
];

/** Paths (segments; `*` is any key or index) of the model's secret fields in a webhook, whatever its transport. */
const MODEL_SECRET_PATHS: readonly (readonly string[])[] = [
  ['secret'],
  ['previousSecrets', '*', 'secret'],
  ...AUTH_SECRET_KEYS.map((k) => ['authentication', k]),
  // OAuth2 credentials as a whole: in logs a path cannot tell client_id from client_secret.
  ['authentication', 'credentials'],
  // Header values may be secret (`{value, secret: true}`); a path cannot look at the flag.
  ['headers', '*', 'value'],
];

/**
 * Every path inside a webhook object that may hold a secret, for a log
 * redactor that works by path: the model's, then each transport's
 * `secretFields` under `data`.
 */
export function webhookSecretPaths(modules: readonly Pick<TransportModule, 'secretFields'>[]): string[][] {
  const data = new Set<string>();
  for (const m of modules) for (const f of m.secretFields ?? []) data.add(f);
  return [
    ...MODEL_SECRET_PATHS.map((p) => [...p]),
    ...[...data].sort().map((f) => ['data', ...f.split('.')]),
  ];
}

/**
 * A copy of a webhook object (as written, a view, or the model) with every
 * secret replaced by `placeholder(path)`; `typeName` picks the transport
 * whose `secretFields` apply to `data` (default: the object's own `type`).
 */
export function redactWebhook<T extends Obj>(
  webhook: T,
  registry: TransportRegistry,
  placeholder: (path: readonly string[]) => unknown,
  typeName?: string,
): T {
  const out: Obj = structuredClone(webhook);
  const own = out.type;
  if (typeName !== undefined) out.type = typeName;
  for (const s of secretSlots(out, registry)) s.set(placeholder(s.path));
  if (typeName !== undefined) {
    if (own === undefined) delete out.type;
    else out.type = own;
  }
  return out as T;
}
