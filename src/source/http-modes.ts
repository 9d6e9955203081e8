/**
 * The CloudEvents HTTP content modes of `POST /v1/events` (DESIGN.md
 * section 2): binary (`ce-*` headers, the body is the data), batch
 * (`application/cloudevents-batch+json`, an array of structured events),
 * structured (`application/cloudevents+json`) and plain JSON (one event or
 * an array). Each mode becomes items that `decodeEvent` turns into events.
 */
import { parseBoundedJson } from './bounded-json.ts';
import { isBinaryMode } from './decode.ts';

export interface HttpItem {
  payload: Uint8Array;
  /** Binary mode: the `ce-*` headers (percent-decoded) and `content-type`, lower-cased names. */
  headers?: Map<string, string>;
  /** Where the item is in the request, for problems: `''`, or `[i]` in an array. */
  path: string;
}

export type HttpItems = { ok: true; items: HttpItem[] } | { ok: false; detail: string };

const BATCH = 'application/cloudevents-batch+json';

type Headers = Record<string, string | string[] | undefined>;

/** HTTP header values of binary mode are percent-encoded (CloudEvents HTTP binding 3.1.3.2). */
function percentDecoded(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function cloudEventHeaders(headers: Headers): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, value] of Object.entries(headers)) {
    const k = name.toLowerCase();
    if (value === undefined || !(k.startsWith('ce-') || k === 'content-type')) continue;
    const v = Array.isArray(value) ? value.join(',') : value;
    out.set(k, k === 'content-type' ? v : percentDecoded(v));
  }
  return out;
}

function mime(headers: Headers): string {
  const ct = headers['content-type'];
  return (Array.isArray(ct) ? ct[0] : ct)?.split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Splits one `POST /v1/events` request into the events it carries. */
export function httpItems(body: Uint8Array, headers: Headers, maxDepth: number): HttpItems {
  const ce = cloudEventHeaders(headers);
  const type = mime(headers);
  if (type !== BATCH && type !== 'application/cloudevents+json' && isBinaryMode(ce))
    return { ok: true, items: [{ payload: body, headers: ce, path: '' }] };
  // Bounded like every event: one level more for the array around a batch; each event is held to maxBytes by decodeEvent.
  const whole = parseBoundedJson(body, { maxBytes: Number.POSITIVE_INFINITY, maxDepth: maxDepth + 1 });
  const parsed = whole.ok ? whole.value : undefined;
  if (type === BATCH && !Array.isArray(parsed))
    return { ok: false, detail: `${BATCH}: the body must be a JSON array of structured events` };
  if (Array.isArray(parsed))
    return {
      ok: true,
      items: parsed.map((e, i) => ({ payload: Buffer.from(JSON.stringify(e) ?? 'null'), path: `[${i}]` })),
    };
  return { ok: true, items: [{ payload: body, path: '' }] };
}
