/**
 * Strings with `{/json/pointer}` placeholders (DESIGN.md section 3).
 *
 * A placeholder is `{` followed by `/`, up to the next `}`. `{/a/}` (one
 * trailing slash) is the whole value at `/a`, so `{/}` is the whole event.
 * Other braces are literal text and must balance: `{"a": {/x}}` renders the
 * value at `/x` between literal braces; a lone `{` or `}` is a compile error.
 */

import { compilePointer, type Pointer } from '../source/index.ts';
import { type FieldPath, TemplateCompileError } from './errors.ts';

export interface Placeholder {
  /** As written, braces included, for messages: `{/resource/sys.id}`. */
  readonly text: string;
  readonly pointer: Pointer;
}

export interface StringTemplate {
  readonly source: string;
  readonly placeholders: readonly Placeholder[];
  /** The pointer when the string is exactly one placeholder (the value keeps its JSON type). */
  readonly single: Pointer | undefined;
  /**
   * The string with every placeholder replaced by its value, stringified and
   * passed through `encode`; undefined when a value is missing (or null).
   */
  text(doc: unknown, encode?: (s: string) => string): string | undefined;
  /** The placeholders whose values are missing (or null) in `doc`. */
  missing(doc: unknown): Placeholder[];
}

/** A value inside a longer string: strings as they are, numbers and booleans as text, objects as JSON. */
export function stringify(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Splits `text` into literal strings and placeholders; throws `TemplateCompileError` at `path`. */
export function parseTemplateString(text: string, path: FieldPath): (string | Placeholder)[] {
  const out: (string | Placeholder)[] = [];
  const open: number[] = [];
  let literal = '';
  let i = 0;
  const fail = (msg: string) => {
    throw new TemplateCompileError(`${msg} in template "${text}"`, path);
  };
  while (i < text.length) {
    const ch = text.charCodeAt(i);
    if (ch === 0x7b /* { */ && text.charCodeAt(i + 1) === 0x2f /* / */) {
      const close = text.indexOf('}', i);
      const nested = text.indexOf('{', i + 1);
      if (close < 0) fail(`unbalanced braces: placeholder "{" at character ${i + 1} is never closed`);
      if (nested >= 0 && nested < close) {
        fail(
          `placeholder at character ${i + 1} contains "{" (a JSON pointer placeholder cannot hold braces)`,
        );
      }
      const raw = text.slice(i + 1, close);
      // `{/a/}`: the trailing slash asks for the whole value at /a (DESIGN.md section 3).
      const source = raw.endsWith('/') ? raw.slice(0, -1) : raw;
      let pointer: Pointer;
      try {
        pointer = compilePointer(source);
      } catch (err) {
        throw new TemplateCompileError(`bad placeholder {${raw}}: ${(err as Error).message}`, path, {
          cause: err,
        });
      }
      if (literal !== '') out.push(literal);
      literal = '';
      out.push({ text: `{${raw}}`, pointer });
      i = close + 1;
      continue;
    }
    if (ch === 0x7b) open.push(i);
    else if (ch === 0x7d /* } */ && open.pop() === undefined) {
      fail(`unbalanced braces: "}" at character ${i + 1} has no matching "{"`);
    }
    literal += text[i];
    i++;
  }
  if (open.length > 0)
    fail(`unbalanced braces: "{" at character ${open[open.length - 1]! + 1} is never closed`);
  if (literal !== '') out.push(literal);
  return out;
}

export function compileStringTemplate(source: string, path: FieldPath): StringTemplate {
  const segments = parseTemplateString(source, path);
  const placeholders = segments.filter((s): s is Placeholder => typeof s !== 'string');
  const missing = (doc: unknown) => placeholders.filter((p) => stringify(p.pointer.get(doc)) === undefined);
  if (placeholders.length === 0) {
    return { source, placeholders, single: undefined, text: () => source, missing };
  }
  const first = segments[0]!;
  if (segments.length === 1 && typeof first !== 'string') {
    const get = first.pointer.get;
    return {
      source,
      placeholders,
      single: first.pointer,
      text(doc, encode) {
        const s = stringify(get(doc));
        return s === undefined || encode === undefined ? s : encode(s);
      },
      missing,
    };
  }
  // Alternating literals and getters, so rendering is one tight loop.
  const literals: string[] = [];
  const getters: ((doc: unknown) => unknown)[] = [];
  let pending = '';
  for (const s of segments) {
    if (typeof s === 'string') pending += s;
    else {
      literals.push(pending);
      getters.push(s.pointer.get);
      pending = '';
    }
  }
  const tail = pending;
  const n = getters.length;
  return {
    source,
    placeholders,
    single: undefined,
    text(doc, encode) {
      let out = '';
      for (let k = 0; k < n; k++) {
        const s = stringify(getters[k]!(doc));
        if (s === undefined) return undefined;
        out += literals[k]! + (encode === undefined ? s : encode(s));
      }
      return out + tail;
    },
    missing,
  };
}
