/**
 * RFC 6901 JSON pointers, compiled once into their reference tokens.
 * `/a~1b/c~0d` addresses key `a/b` then `c~d`; array indexes are decimal.
 */
export interface Pointer {
  readonly source: string;
  readonly tokens: readonly string[];
  /** The value at the pointer, or undefined when any step is missing. */
  get(doc: unknown): unknown;
}

export class PointerSyntaxError extends Error {
  readonly code = 'HOOKD_POINTER_SYNTAX';
}

const hasOwn = Object.prototype.hasOwnProperty;

export function compilePointer(source: string): Pointer {
  if (source !== '' && !source.startsWith('/')) {
    throw new PointerSyntaxError(`JSON pointer "${source}" must be empty or start with "/"`);
  }
  const tokens = source === '' ? [] : source.slice(1).split('/').map(unescapeToken(source));
  return {
    source,
    tokens,
    get(doc) {
      let cur: unknown = doc;
      for (const t of tokens) {
        if (cur === null || typeof cur !== 'object') return undefined;
        if (Array.isArray(cur)) {
          if (!/^(0|[1-9]\d*)$/.test(t)) return undefined;
          cur = cur[Number(t)];
        } else {
          // Own properties only: a pointer never reaches the prototype chain.
          if (!hasOwn.call(cur, t)) return undefined;
          cur = (cur as Record<string, unknown>)[t];
        }
      }
      return cur;
    },
  };
}

function unescapeToken(source: string) {
  return (t: string): string => {
    if (/~(?![01])/.test(t)) {
      throw new PointerSyntaxError(`JSON pointer "${source}" has "~" not followed by 0 or 1`);
    }
    return t.replace(/~1/g, '/').replace(/~0/g, '~');
  };
}
