/**
 * Pattern matching for `events` and topic values: exact, `*` (anything) and
 * `prefix.*` / `*.suffix` style wildcards, where `*` spans any characters.
 */
export type Matcher = (value: string | undefined) => boolean;

const cache = new Map<string, Matcher>();

/** Compiles one pattern (cached: rule sets share many patterns). */
export function compilePattern(pattern: string): Matcher {
  let m = cache.get(pattern);
  if (m) return m;
  if (pattern === '*') m = (v) => v !== undefined;
  else if (!pattern.includes('*')) m = (v) => v === pattern;
  else {
    const re = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`, 's');
    m = (v) => v !== undefined && re.test(v);
  }
  cache.set(pattern, m);
  return m;
}

/** True when any pattern matches. */
export function compilePatterns(patterns: readonly string[]): Matcher {
  const ms = patterns.map(compilePattern);
  return ms.length === 1 ? ms[0]! : (v) => ms.some((m) => m(v));
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
