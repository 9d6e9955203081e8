/**
 * Where a webhook (as written: the `WebhookInput` model) keeps secrets, in
 * one place for redaction (`api/redact.ts`) and encryption at rest: the
 * signing `secret`, secret header values, authentication passwords, tokens
 * and OAuth2 credentials, and the `data` fields its transport declares in
 * `secretFields`.
 */
import type { TransportRegistry } from '../transports/index.ts';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Authentication keys that hold a secret value (basic, bearer). */
export const AUTH_SECRET_KEYS = ['password', 'token'] as const;

/** OAuth2 `credentials` are secret but for the client id, which is not (seed 004 shows it). */
export const isSecretCredential = (key: string) => key !== 'client_id';

/** The `data` paths (dotted in the transport module) that are secret for a written type. */
export function secretDataFields(registry: TransportRegistry, typeName: unknown): string[][] {
  const module = typeof typeName === 'string' ? registry.get(typeName) : undefined;
  return (module?.secretFields ?? []).map((f) => f.split('.'));
}

/** A secret value inside a webhook: its path, and a setter for the object holding it. */
export interface SecretSlot {
  path: readonly string[];
  value: unknown;
  set(value: unknown): void;
}

function slot(parent: Obj, key: string, path: string[]): SecretSlot[] {
  const value = parent[key];
  if (value === undefined || value === null || value === '') return [];
  return [{ path, value, set: (v) => (parent[key] = v) }];
}

/** Every secret value set in `webhook` (mutating a slot changes `webhook`). */
export function secretSlots(webhook: Obj, registry: TransportRegistry): SecretSlot[] {
  const out: SecretSlot[] = [...slot(webhook, 'secret', ['secret'])];
  // Secrets replaced by a rotation that still sign during the overlap.
  if (Array.isArray(webhook.previousSecrets)) {
    webhook.previousSecrets.forEach((p, i) => {
      if (isObj(p)) out.push(...slot(p, 'secret', ['previousSecrets', String(i), 'secret']));
    });
  }
  if (isObj(webhook.headers)) {
    for (const [name, h] of Object.entries(webhook.headers)) {
      if (isObj(h) && h.secret === true) out.push(...slot(h, 'value', ['headers', name, 'value']));
    }
  }
  const a = webhook.authentication;
  if (isObj(a)) {
    for (const k of AUTH_SECRET_KEYS) out.push(...slot(a, k, ['authentication', k]));
    if (isObj(a.credentials)) {
      const c = a.credentials;
      for (const k of Object.keys(c).filter(isSecretCredential)) {
        out.push(...slot(c, k, ['authentication', 'credentials', k]));
      }
    }
  }
  if (isObj(webhook.data)) {
    for (const path of secretDataFields(registry, webhook.type ?? 'http')) {
      let parent: unknown = webhook.data;
      for (const k of path.slice(0, -1)) parent = isObj(parent) ? parent[k] : undefined;
      if (isObj(parent)) out.push(...slot(parent, path[path.length - 1]!, ['data', ...path]));
    }
  }
  return out;
}
