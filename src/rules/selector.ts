/**
 * The hot path of selection (DESIGN.md section 3, step 5). Rules are
 * numbered in dispatch order; what every candidate needs (de-duplication
 * epoch, flags, group) sits in one `Int32Array`, so a candidate that needs
 * no matcher and no condition costs one cache line, not a walk through
 * objects scattered over a 200 MB heap. Only candidates with topics, a
 * type filter the index key does not prove, or a condition touch their
 * compiled `Rule`.
 *
 * Per event: the attributes object, the candidate ids (a reused array), the
 * result array, and a condition context when a condition runs.
 */
import type { HookEvent } from '../source/event.ts';
import type { Attributes } from './attributes.ts';
import type { ConditionContext } from './condition.ts';
import type { Rule } from './rule.ts';
import { type IndexKey, META_STRIDE, RuleIndex } from './rule-index.ts';
import type { Webhook } from './webhook-schema.ts';

const SEEN = 0;
const FLAGS = 1;
const GROUP = 2;

const WINDOW = 1;
/** Has a type filter (`events` or `hooks`). */
const EVENTS = 2;
/** Its index keys prove the type filter: skip it for candidates from the index. */
const EVENTS_SURE = 4;
const TOPICS = 8;
const CONDITION = 16;
const NEEDS_RULE = EVENTS | TOPICS;

/** Identifiers with more active webhooks than this get their own index; smaller ones are scanned. */
const IDENTIFIER_SCAN_LIMIT = 8;
/** Epochs are int32: start over (clearing the stamps) well before they overflow. */
const MAX_EPOCH = 0x7fff_ffff - 1;

interface IdentifierEntry {
  ids: number[];
  index?: RuleIndex;
}

export interface SelectorStats {
  active: number;
  scanned: number;
  largestBucket: number;
  identifiers: number;
  indexedIdentifiers: number;
}

export class Selector {
  private readonly webhooks: Webhook[];
  private readonly meta: Int32Array;
  private readonly from: Float64Array;
  private readonly until: Float64Array;
  private readonly groupWon: Int32Array;
  private readonly all = new RuleIndex();
  private readonly byIdentifier = new Map<string, IdentifierEntry>();
  private readonly scratch: number[] = [];
  private epoch = 0;
  private readonly active: number;

  /**
   * @param rules every rule, in dispatch order (`rules[i].rank === i`)
   * @param keys index keys per rule (undefined: scan list); only read for active rules
   */
  constructor(
    private readonly rules: readonly Rule[],
    keys: readonly (IndexKey[] | undefined)[],
  ) {
    const n = rules.length;
    this.webhooks = rules.map((r) => r.webhook);
    this.meta = new Int32Array(n * META_STRIDE);
    this.from = new Float64Array(n);
    this.until = new Float64Array(n);
    const groups = new Map<string, number>();
    let active = 0;
    for (let id = 0; id < n; id++) {
      const r = rules[id]!;
      const w = r.webhook;
      const k = keys[id];
      this.from[id] = r.from;
      this.until[id] = r.until;
      let flags = 0;
      if (r.from !== Number.NEGATIVE_INFINITY || r.until !== Number.POSITIVE_INFINITY) flags |= WINDOW;
      if (r.events) flags |= EVENTS;
      if (r.events && k?.every((key) => key.sure)) flags |= EVENTS_SURE;
      if (r.topics) flags |= TOPICS;
      if (r.condition) flags |= CONDITION;
      this.meta[id * META_STRIDE + FLAGS] = flags;
      let g = -1;
      if (w.groupIdentifier !== undefined) {
        g = groups.get(w.groupIdentifier) ?? groups.size;
        groups.set(w.groupIdentifier, g);
      }
      this.meta[id * META_STRIDE + GROUP] = g;
      // Inactive webhooks never match: they stay out of the index (explain still lists them).
      if (!w.active) continue;
      active++;
      this.all.add(id, k);
      let e = this.byIdentifier.get(w.identifier);
      if (!e) {
        e = { ids: [] };
        this.byIdentifier.set(w.identifier, e);
      }
      e.ids.push(id);
    }
    this.active = active;
    this.groupWon = new Int32Array(groups.size);
    for (const e of this.byIdentifier.values()) {
      if (e.ids.length <= IDENTIFIER_SCAN_LIMIT) continue;
      e.index = new RuleIndex();
      for (const id of e.ids) e.index.add(id, keys[id]);
    }
  }

  private nextEpoch(): number {
    if (this.epoch >= MAX_EPOCH) {
      for (let i = 0; i < this.meta.length; i += META_STRIDE) this.meta[i + SEEN] = 0;
      this.groupWon.fill(0);
      this.epoch = 0;
    }
    return ++this.epoch;
  }

  /**
   * The winners for one event in dispatch order. Condition failures are
   * appended to `failed` (the caller reports them once this returns).
   */
  select(event: HookEvent, attrs: Attributes, t: number, failed: { rule: Rule; error: Error }[]): Webhook[] {
    const e = this.nextEpoch();
    const meta = this.meta;
    const cands = this.scratch;
    cands.length = 0; // in case a previous call threw half-way
    const identifier = attrs.identifier;
    // Candidates from an index bucket may skip a type filter their key proves; scanned ones may not.
    let skipSure = EVENTS_SURE;
    if (identifier === undefined) this.all.collect(attrs, meta, e, cands);
    else {
      const entry = this.byIdentifier.get(identifier);
      if (entry === undefined) return [];
      if (entry.index) entry.index.collect(attrs, meta, e, cands);
      else {
        skipSure = 0;
        for (let i = 0; i < entry.ids.length; i++) cands.push(entry.ids[i]!);
      }
    }
    let n = 0;
    for (let i = 0; i < cands.length; i++) {
      const id = cands[i]!;
      const flags = meta[id * META_STRIDE + FLAGS]!;
      if (flags & WINDOW && !(this.from[id]! <= t && t < this.until[id]!)) continue;
      if (flags & NEEDS_RULE) {
        const r = this.rules[id]!;
        if (flags & EVENTS && !(flags & skipSure) && !r.events!(attrs.type)) continue;
        if (flags & TOPICS && !r.topics!.matches(attrs)) continue;
      }
      cands[n++] = id;
    }
    cands.length = n;
    sortIds(cands);
    const out: Webhook[] = [];
    let ctx: ConditionContext | undefined;
    for (let i = 0; i < n; i++) {
      const id = cands[i]!;
      const k = id * META_STRIDE;
      const g = meta[k + GROUP]!;
      if (g >= 0 && this.groupWon[g] === e) continue;
      if (meta[k + FLAGS]! & CONDITION) {
        const r = this.rules[id]!;
        ctx ??= { data: event.data, event: event.body, attributes: attrs };
        let ok = false;
        try {
          ok = r.condition!.evaluate(ctx);
        } catch (err) {
          failed.push({ rule: r, error: err instanceof Error ? err : new Error(String(err)) });
        }
        if (!ok) continue;
      }
      if (g >= 0) this.groupWon[g] = e;
      out.push(this.webhooks[id]!);
    }
    cands.length = 0;
    return out;
  }

  stats(): SelectorStats {
    const s = this.all.stats();
    let indexedIdentifiers = 0;
    for (const e of this.byIdentifier.values()) if (e.index) indexedIdentifiers++;
    return {
      active: this.active,
      scanned: s.scanned,
      largestBucket: s.largestBucket,
      identifiers: this.byIdentifier.size,
      indexedIdentifiers,
    };
  }
}

const byNumber = (x: number, y: number) => x - y;

/** Insertion sort for the usual short, mostly ordered candidate list (buckets are ordered). */
function sortIds(a: number[]): void {
  if (a.length > 32) {
    a.sort(byNumber);
    return;
  }
  for (let i = 1; i < a.length; i++) {
    const v = a[i]!;
    let j = i - 1;
    while (j >= 0 && a[j]! > v) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = v;
  }
}
