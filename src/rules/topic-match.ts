/**
 * Pattern matching for `events` and topic values (DESIGN.md section 3):
 * exact, `*` (any present value) and wildcards such as `contact.*` or
 * `*.created`, where `*` spans any characters, dots included.
 *
 * A topic matches when every key matches one of its values (AND over keys,
 * OR over values); a list of topics matches when any topic does.
 */
import type { Attributes } from './attributes.ts';

/**
 * Matches one attribute value. Anything that is not a string (a missing
 * attribute, or an `Object.prototype` member reached through a name such as
 * `constructor`) matches nothing.
 */
export type Matcher = (value: unknown) => boolean;

const cache = new Map<string, Matcher>();

/** Compiles one pattern (cached: rule sets share many patterns). */
export function compilePattern(pattern: string): Matcher {
  let m = cache.get(pattern);
  if (m) return m;
  if (pattern === '*') m = (v) => typeof v === 'string';
  else if (!pattern.includes('*')) m = (v) => v === pattern;
  else {
    const parts = pattern.split('*');
    const first = parts[0]!;
    const last = parts[parts.length - 1]!;
    const middle = parts.slice(1, -1).filter((p) => p !== '');
    const min = parts.reduce((n, p) => n + p.length, 0);
    // Literal segments found left to right with indexOf: correct for `*`-only
    // globs and never backtracks, unlike a regular expression.
    m = (v) => {
      if (typeof v !== 'string' || v.length < min || !v.startsWith(first) || !v.endsWith(last)) return false;
      let at = first.length;
      const end = v.length - last.length;
      for (let i = 0; i < middle.length; i++) {
        const seg = middle[i]!;
        const found = v.indexOf(seg, at);
        if (found < 0 || found + seg.length > end) return false;
        at = found + seg.length;
      }
      return true;
    };
  }
  // Bounded: rule sets change at run time through the API.
  if (cache.size >= 10_000) cache.clear();
  cache.set(pattern, m);
  return m;
}

/** True when any pattern matches. */
export function compilePatterns(patterns: readonly string[]): Matcher {
  const ms = patterns.map(compilePattern);
  if (ms.length === 1) return ms[0]!;
  return (v) => {
    for (let i = 0; i < ms.length; i++) if (ms[i]!(v)) return true;
    return false;
  };
}

/** Why one topic did not match: its first key whose value is not among the wanted ones. */
export interface TopicFailure {
  /** Index of the topic in the webhook's `topics`. */
  topic: number;
  key: string;
  /** The event's value for that attribute (undefined when it has none). */
  actual: string | undefined;
  expected: readonly string[];
}

interface TopicKey {
  readonly key: string;
  readonly values: readonly string[];
  readonly match: Matcher;
}

/**
 * Type-derived keys: the index usually files topics by them, so a candidate
 * mostly passes them; checking them last lets it fail on the first key.
 */
const TYPE_KEYS = new Set(['type', 'resourceType', 'event']);

export interface CompiledTopics {
  readonly topics: readonly Record<string, string[]>[];
  /** True when any topic matches the attributes. */
  matches(attrs: Attributes): boolean;
  /** Index of the first matching topic, or -1. */
  firstMatch(attrs: Attributes): number;
  /** For explain: the first failing key of every topic (empty when one matches). */
  failures(attrs: Attributes): TopicFailure[];
}

export function compileTopics(topics: readonly Record<string, string[]>[]): CompiledTopics {
  // In written order, for explain.
  const written: TopicKey[][] = topics.map((t) =>
    Object.keys(t).map((key) => ({ key, values: t[key]!, match: compilePatterns(t[key]!) })),
  );
  // For matching (AND is order-free): flat arrays, wildcard-free keys compared inline
  // rather than through a closure, the keys least likely to match first.
  const ordered = written.map((keys) => [
    ...keys.filter((k) => !TYPE_KEYS.has(k.key)),
    ...keys.filter((k) => TYPE_KEYS.has(k.key)),
  ]);
  const names = ordered.map((keys) => keys.map((k) => k.key));
  const exact = ordered.map((keys) =>
    keys.map((k) => (k.values.some((v) => v.includes('*')) ? null : k.values)),
  );
  const matchers = ordered.map((keys) => keys.map((k) => k.match));
  const topicMatches = (i: number, attrs: Attributes): boolean => {
    const ks = names[i]!;
    const ex = exact[i]!;
    for (let k = 0; k < ks.length; k++) {
      const v = attrs[ks[k]!];
      const values = ex[k];
      if (values === null) {
        if (!matchers[i]![k]!(v)) return false;
        continue;
      }
      if (typeof v !== 'string') return false;
      let hit = false;
      for (let j = 0; j < values!.length; j++) {
        if (values![j] === v) {
          hit = true;
          break;
        }
      }
      if (!hit) return false;
    }
    return true;
  };
  return {
    topics,
    matches(attrs) {
      for (let i = 0; i < names.length; i++) if (topicMatches(i, attrs)) return true;
      return false;
    },
    firstMatch(attrs) {
      for (let i = 0; i < names.length; i++) if (topicMatches(i, attrs)) return i;
      return -1;
    },
    failures(attrs) {
      const out: TopicFailure[] = [];
      for (let i = 0; i < written.length; i++) {
        const failed = written[i]!.find((tk) => !tk.match(attrs[tk.key]));
        if (!failed) return [];
        const actual = attrs[failed.key];
        out.push({
          topic: i,
          key: failed.key,
          actual: typeof actual === 'string' ? actual : undefined,
          expected: failed.values,
        });
      }
      return out;
    },
  };
}
