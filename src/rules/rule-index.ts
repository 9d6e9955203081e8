/**
 * The candidate index (DESIGN.md section 3, step 5): selection looks up the
 * event's attributes in hash maps instead of scanning every webhook.
 *
 * Each rule is filed under a set of keys whose buckets together hold it for
 * every event it can match (a superset: the full match runs afterwards):
 * - `events` patterns → `type` keys: exact, or prefix for `contact.*`;
 *   `*.created` → `event` = `created`; seed 004 `hooks` types → `type` and
 *   `event` keys.
 * - `topics` → per topic, the key (attribute and its values) that is rarest
 *   in the whole rule set; `resourceType` + `event` combine into exact types.
 * Rules with no usable key (no filter, `*`, `{}` topics) sit in a scan list
 * that every event visits: keep it small.
 */
import type { Attributes } from './attributes.ts';
import type { Rule } from './rule.ts';

export interface IndexKey {
  readonly attr: string;
  /** true: the attribute starts with `value`; false: it equals `value`. */
  readonly prefix: boolean;
  readonly value: string;
}

/** Keys that together cover a rule; undefined when it cannot be indexed. */
type Option = IndexKey[] | undefined;

function patternKey(attr: string, pattern: string, builtinType: boolean): IndexKey | undefined {
  const star = pattern.indexOf('*');
  if (star < 0) return { attr, prefix: false, value: pattern };
  if (star > 0) return { attr, prefix: true, value: pattern.slice(0, star) };
  // `*.created` on the built-in type: the part after the last dot is `created`.
  if (builtinType && attr === 'type' && pattern.startsWith('*.')) {
    const rest = pattern.slice(2);
    if (rest !== '' && !rest.includes('*') && !rest.includes('.'))
      return { attr: 'event', prefix: false, value: rest };
  }
  return undefined;
}

function valuesOption(attr: string, values: readonly string[], builtinType: boolean): Option {
  const keys: IndexKey[] = [];
  for (const v of values) {
    const k = patternKey(attr, v, builtinType);
    if (!k) return undefined;
    keys.push(k);
  }
  return keys;
}

/** Hook types match the whole type or (built-in `event`) its part after the last dot. */
function hooksOption(types: readonly string[], builtinType: boolean): Option {
  const keys: IndexKey[] = [];
  for (const t of types) {
    keys.push({ attr: 'type', prefix: false, value: t });
    if (t.includes('.')) continue;
    if (!builtinType) return undefined;
    keys.push({ attr: 'event', prefix: false, value: t });
  }
  return keys;
}

/** `resourceType` × `event` as exact types (built-in type attributes, exact values only). */
function compositeOption(topic: Record<string, string[]>): Option {
  const rs = topic.resourceType;
  const es = topic.event;
  if (!rs || !es || rs.some((r) => r.includes('*')) || es.some((e) => e.includes('*'))) return undefined;
  const keys: IndexKey[] = [];
  for (const r of rs) {
    // A type without a dot is its own resourceType and event.
    if (!r.includes('.') && es.includes(r)) keys.push({ attr: 'type', prefix: false, value: r });
    // The event part never holds a dot, so such values can never match.
    for (const e of es) if (!e.includes('.')) keys.push({ attr: 'type', prefix: false, value: `${r}.${e}` });
  }
  return keys;
}

function keyId(k: IndexKey): string {
  return `${k.attr}\u0000${k.prefix ? 'p' : 'e'}\u0000${k.value}`;
}

/** Alternatives for one rule: each covers it alone. `topics` is a list of per-topic alternatives. */
interface Alternatives {
  events?: Option;
  topics?: Option[][];
}

function alternativesOf(rule: Rule, builtinType: boolean): Alternatives {
  const alt: Alternatives = {};
  const f = rule.eventFilter;
  if (f?.source === 'events') alt.events = valuesOption('type', f.patterns, builtinType);
  if (f?.source === 'hooks') alt.events = hooksOption(f.types, builtinType);
  if (rule.topics) {
    alt.topics = rule.topics.topics.map((t) => {
      const opts: Option[] = [];
      if (builtinType) opts.push(compositeOption(t));
      for (const k of Object.keys(t)) opts.push(valuesOption(k, t[k]!, builtinType));
      return opts.filter((o) => o !== undefined);
    });
  }
  return alt;
}

/**
 * Chooses the keys of every rule: among its alternatives, the one whose keys
 * are least used across the rule set (so buckets stay small). Undefined means
 * the rule goes to the scan list.
 */
export function chooseKeys(rules: readonly Rule[], builtinType: boolean): (IndexKey[] | undefined)[] {
  const alts = rules.map((r) => alternativesOf(r, builtinType));
  const freq = new Map<string, number>();
  const count = (o: Option) => {
    for (const k of o ?? []) {
      const id = keyId(k);
      freq.set(id, (freq.get(id) ?? 0) + 1);
    }
  };
  for (const a of alts) {
    count(a.events);
    for (const t of a.topics ?? []) t.forEach(count);
  }
  const cost = (o: IndexKey[]) => o.reduce((n, k) => n + (freq.get(keyId(k)) ?? 0) + (k.prefix ? 1 : 0), 0);
  const cheapest = (opts: IndexKey[][]): IndexKey[] | undefined => {
    let best: IndexKey[] | undefined;
    let bestCost = Number.POSITIVE_INFINITY;
    for (const o of opts) {
      const c = cost(o);
      if (c < bestCost) [best, bestCost] = [o, c];
    }
    return best;
  };
  return alts.map((a) => {
    const candidates: IndexKey[][] = [];
    if (a.events) candidates.push(a.events);
    if (a.topics) {
      const perTopic = a.topics.map((opts) => cheapest(opts as IndexKey[][]));
      if (perTopic.every((o) => o !== undefined)) candidates.push(perTopic.flat());
    }
    return cheapest(candidates);
  });
}

interface PrefixTable {
  readonly attr: string;
  readonly byPrefix: Map<string, Rule[]>;
  /** Distinct prefix lengths, ascending. */
  lengths: number[];
}

export class RuleIndex {
  private readonly exactAttrs: string[] = [];
  private readonly exactMaps: Map<string, Rule[]>[] = [];
  private readonly prefixes: PrefixTable[] = [];
  private readonly scan: Rule[] = [];
  private count = 0;

  /** Files a rule under its keys (undefined: scan list). Add rules in dispatch order. */
  add(rule: Rule, keys: readonly IndexKey[] | undefined): void {
    this.count++;
    if (keys === undefined) {
      this.scan.push(rule);
      return;
    }
    for (const k of keys) {
      const bucket = k.prefix ? this.prefixBucket(k.attr, k.value) : this.exactBucket(k.attr, k.value);
      if (bucket[bucket.length - 1] !== rule) bucket.push(rule);
    }
  }

  private exactBucket(attr: string, value: string): Rule[] {
    let i = this.exactAttrs.indexOf(attr);
    if (i < 0) {
      i = this.exactAttrs.push(attr) - 1;
      this.exactMaps.push(new Map());
    }
    const map = this.exactMaps[i]!;
    let b = map.get(value);
    if (!b) {
      b = [];
      map.set(value, b);
    }
    return b;
  }

  private prefixBucket(attr: string, value: string): Rule[] {
    let t = this.prefixes.find((p) => p.attr === attr);
    if (!t) {
      t = { attr, byPrefix: new Map(), lengths: [] };
      this.prefixes.push(t);
    }
    let b = t.byPrefix.get(value);
    if (!b) {
      b = [];
      t.byPrefix.set(value, b);
      if (!t.lengths.includes(value.length)) t.lengths = [...t.lengths, value.length].sort((x, y) => x - y);
    }
    return b;
  }

  /** Appends every rule filed under a key the attributes hit, once each (marks `seen` with the epoch). */
  collect(attrs: Attributes, epoch: number, out: Rule[]): void {
    for (let i = 0; i < this.exactAttrs.length; i++) {
      const v = attrs[this.exactAttrs[i]!];
      if (v === undefined) continue;
      const b = this.exactMaps[i]!.get(v);
      if (b !== undefined) take(b, epoch, out);
    }
    for (let i = 0; i < this.prefixes.length; i++) {
      const t = this.prefixes[i]!;
      const v = attrs[t.attr];
      if (v === undefined) continue;
      const lengths = t.lengths;
      for (let j = 0; j < lengths.length; j++) {
        const len = lengths[j]!;
        if (len > v.length) break;
        const b = t.byPrefix.get(len === v.length ? v : v.slice(0, len));
        if (b !== undefined) take(b, epoch, out);
      }
    }
    take(this.scan, epoch, out);
  }

  /** Sizes, for the bench and for operators wondering why selection got slow. */
  stats(): { rules: number; scanned: number; exactKeys: number; prefixKeys: number; largestBucket: number } {
    let exactKeys = 0;
    let prefixKeys = 0;
    let largestBucket = 0;
    for (const m of this.exactMaps) {
      exactKeys += m.size;
      for (const b of m.values()) largestBucket = Math.max(largestBucket, b.length);
    }
    for (const t of this.prefixes) {
      prefixKeys += t.byPrefix.size;
      for (const b of t.byPrefix.values()) largestBucket = Math.max(largestBucket, b.length);
    }
    return { rules: this.count, scanned: this.scan.length, exactKeys, prefixKeys, largestBucket };
  }
}

function take(bucket: readonly Rule[], epoch: number, out: Rule[]): void {
  for (let i = 0; i < bucket.length; i++) {
    const r = bucket[i]!;
    if (r.seen === epoch) continue;
    r.seen = epoch;
    out.push(r);
  }
}
