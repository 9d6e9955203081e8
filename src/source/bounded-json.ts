/**
 * The one bounded JSON decode every event passes before anything else
 * (DESIGN.md section 4, "Bounds"): size first, then nesting depth, then
 * `JSON.parse`. V8 parses deep nesting, but everything after it
 * (`JSON.stringify`, CEL, JSONata, the store) recurses and throws a
 * `RangeError` somewhere past a few thousand levels; a depth limit checked
 * here keeps that from ever reaching them.
 *
 * The depth scan is one linear pass over the text that counts brackets
 * outside strings; it costs about as much as a tenth of the parse.
 */

/** `events.maxDepth` when not configured. */
export const DEFAULT_MAX_DEPTH = 128;

export type JsonProblem = 'too_large' | 'too_deep' | 'invalid_json';

export interface JsonLimits {
  /** Largest text in UTF-8 bytes (`events.maxBytes`). */
  maxBytes: number;
  /** Deepest nesting of objects and arrays (`events.maxDepth`); the top-level value is depth 1. */
  maxDepth: number;
}

export type BoundedJson = { ok: true; value: unknown } | { ok: false; reason: JsonProblem; detail: string };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * The deepest nesting in `text`, or the position where it first exceeds
 * `limit` (then `exceeded` is true). Brackets inside strings do not count.
 * Malformed text is left to `JSON.parse`.
 */
export function nestingDepth(text: string, limit: number): { depth: number; exceeded: boolean; at: number } {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return { depth: max, exceeded: true, at: i };
      }
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return { depth: max, exceeded: false, at: -1 };
}

/** Parses `payload` within `limits`, or says which limit it breaks and where. */
export function parseBoundedJson(payload: string | Uint8Array, limits: JsonLimits): BoundedJson {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  if (size > limits.maxBytes) {
    return {
      ok: false,
      reason: 'too_large',
      detail: `event is ${size} bytes; events.maxBytes is ${limits.maxBytes}`,
    };
  }
  const text = typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8');
  const nesting = nestingDepth(text, limits.maxDepth);
  if (nesting.exceeded) {
    return {
      ok: false,
      reason: 'too_deep',
      detail: `nesting deeper than ${limits.maxDepth} levels at character ${nesting.at + 1}; events.maxDepth is ${limits.maxDepth}`,
    };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, reason: 'invalid_json', detail: `not JSON: ${(err as Error).message}` };
  }
}
