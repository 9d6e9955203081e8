/**
 * The candidate index (DESIGN.md section 3, step 5): selection looks up the
 * event's attributes in hash maps instead of scanning every webhook.
 *
 * Each rule is filed under a set of keys whose buckets together hold it for
 * every event it can match (a superset: the full match runs afterwards):
 * - `events` patterns → `type` keys: exact, or prefix for `contact.*`;
 *   `*.created` → `event` = `created`; seed 004 `hooks` types → `type` and
 *   `event` keys.
 * - `topics` → per topic, the key that is rarest in the whole rule set:
 *   one attribute's values, `resourceType` × `event` as exact types, or a
 *   pair (exact type × another exact key, e.g. `contentTypeId`), which
 *   narrows seed 003 style topics to the few webhooks of one owner.
 * Rules with no usable key (no filter, `*`, `{}` topics) sit in a scan list
 * that every event visits: keep it small.
 *
 * One concept over 300 lines: filing rules under keys and looking them up
 * are two halves of the same invariant (a superset of the matches).
 */
import type { Attributes } from './attributes.ts';
import type { Rule } from './rule.ts';

/** What the index files: anything with a `seen` stamp (the epoch that last yielded it). */
export interface Slot {
  seen: number;
}

export interface IndexKey {
  readonly attr: string;
  /** true: the attribute starts with `value`; false: it equals `value`. */
  readonly prefix: boolean;
  readonly value: string;
  /** A pair key: `attr` equals `value` and `attr2` equals `value2` (never a prefix). */
  readonly attr2?: string;
  readonly value2?: string;
  /** A hit on this key proves the rule's `events` (or `hooks`) filter: no need to run it. */
  readonly sure: boolean;
  /** Identity, for counting how many rules share a key. */
  readonly id: string;
}

function key(attr: string, prefix: boolean, value: string, sure: boolean): IndexKey {
  return { attr, prefix, value, sure, id: `${attr}\u0000${prefix ? 'p' : 'e'}\u0000${value}` };
}

function pairKey(k: IndexKey, attr2: string, value2: string): IndexKey {
  return {
    attr: k.attr,
    prefix: false,
    value: k.value,
    attr2,
    value2,
    sure: false,
    id: `${k.id}\u0000${attr2}\u0000${value2}`,
  };
}

function unsure(k: IndexKey): IndexKey {
  return k.sure ? { attr: k.attr, prefix: k.prefix, value: k.value, sure: false, id: k.id } : k;
}

/** Keys that together cover a rule; undefined when it cannot be indexed. */
type Option = IndexKey[] | undefined;

function patternKey(attr: string, pattern: string, builtinType: boolean): IndexKey | undefined {
  const star = pattern.indexOf('*');
  if (star < 0) return key(attr, false, pattern, true);
  // `contact.*` is exactly "starts with contact."; `a*b` only implies "starts with a".
  if (star > 0) return key(attr, true, pattern.slice(0, star), star === pattern.length - 1);
  // `*.created` on the built-in type: the part after the last dot is `created`
  // (not sure: a type `created` without a dot has that event too).
  if (builtinType && attr === 'type' && pattern.startsWith('*.')) {
    const rest = pattern.slice(2);
    if (rest !== '' && !rest.includes('*') && !rest.includes('.')) return key('event', false, rest, false);
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
    keys.push(key('type', false, t, true));
    if (t.includes('.')) continue;
    if (!builtinType) return undefined;
    keys.push(key('event', false, t, true));
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
    if (!r.includes('.') && es.includes(r)) keys.push(key('type', false, r, false));
    // The event part never holds a dot, so such values can never match.
    for (const e of es) if (!e.includes('.')) keys.push(key('type', false, `${r}.${e}`, false));
  }
  return keys;
}

const TYPE_KEYS = new Set(['type', 'resourceType', 'event']);
/** Pair options larger than this (a cartesian product) are not worth their keys. */
const MAX_PAIR_KEYS = 64;

/** Exact type keys × each other exact key of the topic. */
function pairOptions(topic: Record<string, string[]>, typeKeys: IndexKey[]): IndexKey[][] {
  const out: IndexKey[][] = [];
  for (const attr2 of Object.keys(topic)) {
    const values = topic[attr2]!;
    if (TYPE_KEYS.has(attr2) || values.some((v) => v.includes('*'))) continue;
    if (typeKeys.length * values.length > MAX_PAIR_KEYS) continue;
    out.push(typeKeys.flatMap((t) => values.map((value2) => pairKey(t, attr2, value2))));
  }
  return out;
}

/** Separates the parts of a pair key; a value holding it only adds candidates, never loses one. */
const PAIR_SEPARATOR = '\u0000';

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
      const composite = builtinType ? compositeOption(t) : undefined;
      opts.push(composite);
      for (const k of Object.keys(t)) opts.push(valuesOption(k, t[k]!, builtinType));
      const types = composite ?? (t.type && valuesOption('type', t.type, builtinType));
      if (types && types.length > 0 && types.every((k) => !k.prefix && k.attr === 'type')) {
        opts.push(...pairOptions(t, types));
      }
      // Topic keys only narrow candidates: they prove nothing about `events`.
      return opts.filter((o) => o !== undefined).map((o) => o.map(unsure));
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
      const id = k.id;
      freq.set(id, (freq.get(id) ?? 0) + 1);
    }
  };
  for (const a of alts) {
    count(a.events);
    for (const t of a.topics ?? []) t.forEach(count);
  }
  const cost = (o: IndexKey[]) => {
    let n = 0;
    for (const k of o) n += (freq.get(k.id) ?? 0) + (k.prefix ? 1 : 0);
    return n;
  };
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

interface PrefixTable<T> {
  readonly attr: string;
  readonly byPrefix: Map<string, T[]>;
  /** Distinct lengths of the prefixes that do not end with a dot, ascending. */
  lengths: number[];
  /** Some prefix ends with a dot (`contact.*`): those are looked up at the value's dots. */
  dotted: boolean;
}

/**
 * Buckets of rules. `collect` stamps each rule it yields with the epoch, so
 * a rule filed under several keys comes out once per event without a set.
 */
interface PairTable<T> {
  readonly attr: string;
  readonly attr2: string;
  readonly byValues: Map<string, T[]>;
}

export class RuleIndex<T extends Slot> {
  private readonly exactAttrs: string[] = [];
  private readonly exactMaps: Map<string, T[]>[] = [];
  private readonly prefixes: PrefixTable<T>[] = [];
  private readonly pairs: PairTable<T>[] = [];
  private readonly scan: T[] = [];
  private count = 0;

  /** Files a rule under its keys (undefined: scan list). Add rules in dispatch order. */
  add(item: T, keys: readonly IndexKey[] | undefined): void {
    this.count++;
    if (keys === undefined) {
      this.scan.push(item);
      return;
    }
    for (const k of keys) {
      const bucket =
        k.attr2 !== undefined
          ? this.pairBucket(k.attr, k.attr2, `${k.value}${PAIR_SEPARATOR}${k.value2}`)
          : k.prefix
            ? this.prefixBucket(k.attr, k.value)
            : this.exactBucket(k.attr, k.value);
      if (bucket[bucket.length - 1] !== item) bucket.push(item);
    }
  }

  private pairBucket(attr: string, attr2: string, values: string): T[] {
    let t = this.pairs.find((p) => p.attr === attr && p.attr2 === attr2);
    if (!t) {
      t = { attr, attr2, byValues: new Map() };
      this.pairs.push(t);
    }
    let b = t.byValues.get(values);
    if (!b) {
      b = [];
      t.byValues.set(values, b);
    }
    return b;
  }

  private exactBucket(attr: string, value: string): T[] {
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

  private prefixBucket(attr: string, value: string): T[] {
    let t = this.prefixes.find((p) => p.attr === attr);
    if (!t) {
      t = { attr, byPrefix: new Map(), lengths: [], dotted: false };
      this.prefixes.push(t);
    }
    let b = t.byPrefix.get(value);
    if (!b) {
      b = [];
      t.byPrefix.set(value, b);
      if (value.endsWith('.')) t.dotted = true;
      else if (!t.lengths.includes(value.length))
        t.lengths = [...t.lengths, value.length].sort((x, y) => x - y);
    }
    return b;
  }

  /** Appends every rule filed under a key the attributes hit, once each. */
  collect(attrs: Attributes, epoch: number, out: T[]): void {
    for (let i = 0; i < this.exactAttrs.length; i++) {
      const v = attrs[this.exactAttrs[i]!];
      if (typeof v !== 'string') continue;
      const b = this.exactMaps[i]!.get(v);
      if (b !== undefined) take(b, epoch, out);
    }
    for (let i = 0; i < this.prefixes.length; i++) {
      const t = this.prefixes[i]!;
      const v = attrs[t.attr];
      if (typeof v !== 'string') continue;
      // Prefixes ending with a dot can only be the value up to one of its dots:
      // one lookup per dot instead of one per prefix length in the index.
      if (t.dotted) {
        for (let dot = v.indexOf('.'); dot >= 0; dot = v.indexOf('.', dot + 1)) {
          const b = t.byPrefix.get(dot === v.length - 1 ? v : v.slice(0, dot + 1));
          if (b !== undefined) take(b, epoch, out);
        }
      }
      const lengths = t.lengths;
      for (let j = 0; j < lengths.length; j++) {
        const len = lengths[j]!;
        if (len > v.length) break;
        const b = t.byPrefix.get(len === v.length ? v : v.slice(0, len));
        if (b !== undefined) take(b, epoch, out);
      }
    }
    for (let i = 0; i < this.pairs.length; i++) {
      const t = this.pairs[i]!;
      const v = attrs[t.attr];
      const v2 = attrs[t.attr2];
      if (typeof v !== 'string' || typeof v2 !== 'string') continue;
      const b = t.byValues.get(`${v}${PAIR_SEPARATOR}${v2}`);
      if (b !== undefined) take(b, epoch, out);
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
    for (const t of this.pairs) {
      exactKeys += t.byValues.size;
      for (const b of t.byValues.values()) largestBucket = Math.max(largestBucket, b.length);
    }
    return { rules: this.count, scanned: this.scan.length, exactKeys, prefixKeys, largestBucket };
  }
}

function take<T extends Slot>(bucket: readonly T[], epoch: number, out: T[]): void {
  for (let i = 0; i < bucket.length; i++) {
    const r = bucket[i]!;
    if (r.seen === epoch) continue;
    r.seen = epoch;
    out.push(r);
  }
}
