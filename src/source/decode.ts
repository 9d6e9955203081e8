/**
 * Turns raw bytes into a `HookEvent` or a rejection with its reason
 * (DESIGN.md section 2). CloudEvents 1.0 structured mode is the event
 * object itself; binary mode carries attributes in `ce-*` headers and the
 * data as the payload.
 */
import { DEFAULT_MAX_DEPTH, parseBoundedJson } from './bounded-json.ts';
import type { HookEvent } from './event.ts';

/** Why an event was rejected; `unprocessable`: an unexpected failure for this event alone (decode, select, store). */
export type RejectReason =
  | 'unprocessable'
  | 'too_large'
  | 'too_deep'
  | 'invalid_json'
  | 'not_object'
  | 'missing_id'
  | 'invalid_id';

export type Decoded = { ok: true; event: HookEvent } | { ok: false; reason: RejectReason; detail: string };

/** CloudEvents context attributes that are not extensions. */
const CE_CORE = new Set([
  'id',
  'type',
  'source',
  'specversion',
  'time',
  'subject',
  'datacontenttype',
  'dataschema',
  'data',
  'data_base64',
]);

export interface DecodeInput {
  payload: Uint8Array | string;
  subject: string;
  /** Message headers (NATS), lower-cased names. */
  headers?: Map<string, string>;
  /** Fallback identity when the event has no id (stream sequence). */
  fallbackId?: string;
  /** Require an `id` in the event (HTTP ingest). */
  requireId?: boolean;
  maxBytes: number;
  /** Deepest nesting accepted (`events.maxDepth`). @default 128 */
  maxDepth?: number;
  receivedAt: number;
}

function scalarId(v: unknown): string | undefined {
  if (typeof v === 'string' && v.length > 0) return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

export function decodeEvent(input: DecodeInput): Decoded {
  const binary = input.headers?.has('ce-id') || input.headers?.has('ce-type');
  let parsed: unknown = null;
  if (!(binary && input.payload.length === 0)) {
    const json = parseBoundedJson(input.payload, {
      maxBytes: input.maxBytes,
      maxDepth: input.maxDepth ?? DEFAULT_MAX_DEPTH,
    });
    if (!json.ok) return json;
    parsed = json.value;
  }
  let body: Record<string, unknown>;
  const extensions: Record<string, string> = {};
  if (binary) {
    // Binary mode: attributes from ce-* headers, the payload is the data.
    body = { specversion: '1.0' };
    for (const [k, v] of input.headers!) {
      if (!k.startsWith('ce-')) continue;
      const name = k.slice(3);
      body[name] = v;
      if (!CE_CORE.has(name)) extensions[name] = v;
    }
    const ct = input.headers!.get('content-type');
    if (ct) body.datacontenttype = ct;
    body.data = parsed;
  } else {
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      return {
        ok: false,
        reason: 'not_object',
        detail: `an event must be a JSON object, got ${Array.isArray(parsed) ? 'an array' : parsed === null ? 'null' : typeof parsed}`,
      };
    }
    body = parsed as Record<string, unknown>;
    if (typeof body.specversion === 'string') {
      for (const [k, v] of Object.entries(body)) {
        if (!CE_CORE.has(k) && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'))
          extensions[k] = String(v);
      }
    }
  }
  let id = scalarId(body.id);
  if (id === undefined && body.id !== undefined) {
    return { ok: false, reason: 'invalid_id', detail: 'id must be a non-empty string or a number' };
  }
  if (id === undefined) {
    if (input.requireId)
      return { ok: false, reason: 'missing_id', detail: 'id: required (a non-empty string)' };
    id = input.headers?.get('nats-msg-id') ?? input.fallbackId;
    if (id === undefined)
      return { ok: false, reason: 'missing_id', detail: 'id: required (a non-empty string)' };
  }
  const type = typeof body.type === 'string' ? body.type : '';
  return {
    ok: true,
    event: {
      id,
      type,
      subject: input.subject,
      source: typeof body.source === 'string' ? body.source : undefined,
      body,
      data: 'data' in body ? body.data : body,
      extensions,
      receivedAt: input.receivedAt,
    },
  };
}
