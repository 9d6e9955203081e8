/**
 * Secrets are write-only (DESIGN.md sections 3 and 5): the signing `secret`,
 * secret header values, authentication credentials and every `data` field
 * its transport lists in `secretFields`. Responses show that a secret is set,
 * never its value: `{"set": true}` in its place, and seed 003's
 * `{"secret": true}` (without `value`) for secret headers.
 *
 * Sending a response back unchanged keeps the secrets: on a replace, a
 * `{"set": true}` (or a secret header without value) takes the stored value.
 */
import { AUTH_SECRET_KEYS, redactWebhook, secretDataFields } from '../secrets/index.ts';
import type { TransportRegistry } from '../transports/index.ts';

/** What a response shows in place of a secret value. */
export const SECRET_SET = Object.freeze({ set: true as const });

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** True for the `{"set": true}` placeholder. */
export function isSecretSet(v: unknown): boolean {
  return isObj(v) && v.set === true && Object.keys(v).length === 1;
}

function getPath(o: unknown, path: readonly string[]): unknown {
  let cur = o;
  for (const k of path) {
    if (!isObj(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

function setPath(o: Obj, path: readonly string[], value: unknown): void {
  let cur: Obj = o;
  for (const k of path.slice(0, -1)) {
    const next = cur[k];
    if (!isObj(next)) return;
    cur = next;
  }
  cur[path[path.length - 1]!] = value;
}

/**
 * A copy of a webhook object (as written, or a response view) with every
 * secret replaced (`redactWebhook`, the one redaction of logs, views and
 * explain). `typeName` picks the transport whose `secretFields` apply to
 * `data`; the default is the object's own `type`.
 */
export function redactSecrets<T extends Obj>(webhook: T, registry: TransportRegistry, typeName?: string): T {
  const out: Obj = redactWebhook(webhook, registry, () => ({ ...SECRET_SET }), typeName);
  if (isObj(out.headers)) {
    for (const [name, h] of Object.entries(out.headers)) {
      if (!isObj(h) || h.secret !== true) continue;
      // Seed 003: a secret header is returned as {secret: true}; one without a value is not returned.
      if (h.value === undefined) delete out.headers[name];
      else out.headers[name] = { secret: true };
    }
  }
  return out as T;
}

/**
 * For a replace: where `incoming` holds a placeholder (`{"set": true}`, or a
 * secret header without `value`), puts back the value from `existing` (the
 * stored webhook as written). Returns a copy; `incoming` is not changed.
 */
export function restoreSecrets(incoming: Obj, existing: Obj, registry: TransportRegistry): Obj {
  const out: Obj = structuredClone(incoming);
  if (isSecretSet(out.secret) && typeof existing.secret === 'string') out.secret = existing.secret;
  if (isObj(out.headers) && isObj(existing.headers)) {
    for (const [name, h] of Object.entries(out.headers)) {
      if (!isObj(h) || h.secret !== true || h.value !== undefined) continue;
      const old = existing.headers[name];
      const value = typeof old === 'string' ? old : isObj(old) ? old.value : undefined;
      if (typeof value === 'string') out.headers[name] = { ...h, value };
    }
  }
  if (isObj(out.authentication) && isObj(existing.authentication)) {
    const a = out.authentication;
    const b = existing.authentication;
    for (const k of AUTH_SECRET_KEYS) if (isSecretSet(a[k]) && typeof b[k] === 'string') a[k] = b[k];
    if (isObj(a.credentials) && isObj(b.credentials)) {
      for (const [k, v] of Object.entries(a.credentials)) {
        if (isSecretSet(v) && typeof b.credentials[k] === 'string') a.credentials[k] = b.credentials[k];
      }
    }
  }
  if (isObj(out.data) && isObj(existing.data)) {
    for (const path of secretDataFields(registry, out.type ?? 'http')) {
      const old = getPath(existing.data, path);
      if (isSecretSet(getPath(out.data, path)) && old !== undefined) setPath(out.data, path, old);
    }
  }
  return out;
}
