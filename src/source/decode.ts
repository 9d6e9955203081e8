/**
 * Turns raw bytes into a `HookEvent` or a rejection with its reason
 * (DESIGN.md section 2). CloudEvents 1.0 structured mode is the event
 * object itself; binary mode carries attributes in `ce-*` headers and the
 * data as the payload.
 */
import { DEFAULT_MAX_DEPTH, type JsonLimits, parseBoundedJson } from './bounded-json.ts';
import type { HookEvent } from './event.ts';

/** Why an event was rejected; `unprocessable`: an unexpected failure for this event alone (decode, select, store). */
export type RejectReason =
  | 'unprocessable'
  | 'too_large'
  | 'too_deep'
  | 'invalid_json'
  | 'not_object'
  | 'missing_id'
  | 'invalid_id'
  /** `application/cloudevents-batch+json` whose body is not a JSON array. */
  | 'invalid_batch'
  /** A NATS message delivered more than `nats.maxDeliver` times without being stored (a poison message). */
  | 'redelivered';

export type Rejected = { ok: false; reason: RejectReason; detail: string };
export type Decoded = { ok: true; event: HookEvent } | Rejected;

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

/** Binary mode: the attributes are in `ce-*` headers (CloudEvents HTTP and NATS bindings). */
export function isBinaryMode(headers: ReadonlyMap<string, string> | undefined): boolean {
  return (
    headers !== undefined && (headers.has('ce-specversion') || headers.has('ce-id') || headers.has('ce-type'))
  );
}

/** JSON data: no content type, `application/json`, `text/json` or any `+json` suffix (parameters ignored). */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return true;
  const mime = contentType.split(';')[0]!.trim().toLowerCase();
  return mime === '' || mime === 'application/json' || mime === 'text/json' || mime.endsWith('+json');
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Binary mode: attributes from the `ce-*` headers, the payload is the data.
 * JSON data is parsed; any other `datacontenttype` keeps the data as sent:
 * text as a string, other bytes as `data_base64` (the CloudEvents JSON format).
 */
function decodeBinary(
  bytes: Uint8Array,
  headers: ReadonlyMap<string, string>,
  limits: JsonLimits,
): { ok: true; body: Record<string, unknown>; extensions: Record<string, string> } | Rejected {
  const body: Record<string, unknown> = { specversion: '1.0' };
  const extensions: Record<string, string> = {};
  for (const [k, v] of headers) {
    if (!k.startsWith('ce-')) continue;
    const name = k.slice(3);
    body[name] = v;
    if (!CE_CORE.has(name)) extensions[name] = v;
  }
  const ct = headers.get('content-type');
  if (ct) body.datacontenttype = ct;
  const contentType = typeof body.datacontenttype === 'string' ? body.datacontenttype : undefined;
  if (bytes.byteLength === 0) return { ok: true, body, extensions };
  if (isJsonContentType(contentType)) {
    const parsed = parseBoundedJson(bytes, limits);
    if (!parsed.ok) return parsed;
    body.data = parsed.value;
  } else {
    let text: string | undefined;
    try {
      text = UTF8.decode(bytes);
    } catch {
      text = undefined;
    }
    if (text !== undefined) body.data = text;
    else body.data_base64 = Buffer.from(bytes).toString('base64');
  }
  return { ok: true, body, extensions };
}

export function decodeEvent(input: DecodeInput): Decoded {
  const bytes = typeof input.payload === 'string' ? Buffer.from(input.payload) : input.payload;
  const limits = { maxBytes: input.maxBytes, maxDepth: input.maxDepth ?? DEFAULT_MAX_DEPTH };
  if (bytes.byteLength > limits.maxBytes) {
    return {
      ok: false,
      reason: 'too_large',
      detail: `event is ${bytes.byteLength} bytes; events.maxBytes is ${limits.maxBytes}`,
    };
  }
  let body: Record<string, unknown>;
  let extensions: Record<string, string> = {};
  if (isBinaryMode(input.headers)) {
    const b = decodeBinary(bytes, input.headers!, limits);
    if (!b.ok) return b;
    body = b.body;
    extensions = b.extensions;
  } else {
    const parsed = parseBoundedJson(input.payload, limits);
    if (!parsed.ok) return parsed;
    const value = parsed.value;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return {
        ok: false,
        reason: 'not_object',
        detail: `an event must be a JSON object, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`,
      };
    }
    body = value as Record<string, unknown>;
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
      data: 'data' in body ? body.data : 'data_base64' in body ? body.data_base64 : body,
      extensions,
      receivedAt: input.receivedAt,
    },
  };
}
