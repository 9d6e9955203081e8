/**
 * The hot path of selection (DESIGN.md section 3, step 5). Each active rule
 * has a small record of what every candidate needs (de-duplication epoch,
 * flags, group, window, the webhook to return), filed directly in the
 * index buckets: a candidate that needs no matcher and no condition costs
 * one record, not a walk through objects scattered over a 200 MB heap.
 * Only candidates with topics, a type filter the index key does not prove,
 * or a condition touch their compiled `Rule`.
 *
 * Per event: the attributes object, the candidate list (a reused array),
 * the result array, and a condition context when a condition runs.
 */
import type { HookEvent } from '../source/index.ts';
import type { Attributes } from './attributes.ts';
import type { ConditionContext } from './condition.ts';
import type { Rule } from './rule.ts';
import { type IndexKey, RuleIndex } from './rule-index.ts';
import type { Webhook } from './webhook-schema.ts';

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

/** One rule's hot record. A class, so every record has the same shape. */
class Hot {
  /** The select epoch that last yielded this record. */
  seen = 0;
  constructor(
    readonly rank: number,
    readonly flags: number,
    /** Index into the group stamps, or -1. */
    readonly group: number,
    readonly from: number,
    readonly until: number,
    readonly webhook: Webhook,
    readonly rule: Rule,
  ) {}
}

interface IdentifierEntry {
  hot: Hot[];
  index?: RuleIndex<Hot>;
}

/**
 * The outcome of a rule's condition when it was worked out elsewhere (the
 * sandbox): true, false, or the error that counts as false.
 */
export type ConditionDecider = (rule: Rule) => boolean | Error;

export interface SelectorStats {
  active: number;
  scanned: number;
  largestBucket: number;
  identifiers: number;
  indexedIdentifiers: number;
}

export class Selector {
  private readonly all = new RuleIndex<Hot>();
  private readonly byIdentifier = new Map<string, IdentifierEntry>();
  private readonly groupWon: Int32Array;
  private readonly scratch: Hot[] = [];
  private readonly records: Hot[] = [];
  private epoch = 0;
  private readonly active: number;

  /**
   * @param rules every rule, in dispatch order (`rules[i].rank === i`)
   * @param keys index keys per rule (undefined: scan list); only read for active rules
   */
  constructor(rules: readonly Rule[], keys: readonly (IndexKey[] | undefined)[]) {
    const groups = new Map<string, number>();
    let active = 0;
    for (let id = 0; id < rules.length; id++) {
      const r = rules[id]!;
      const w = r.webhook;
      // Inactive webhooks never match: they stay out of the index (explain still lists them).
      if (!w.active) continue;
      const k = keys[id];
      let flags = 0;
      if (r.from !== Number.NEGATIVE_INFINITY || r.until !== Number.POSITIVE_INFINITY) flags |= WINDOW;
      if (r.events) flags |= EVENTS;
      if (r.events && k?.every((key) => key.sure)) flags |= EVENTS_SURE;
      if (r.topics) flags |= TOPICS;
      if (r.condition) flags |= CONDITION;
      let g = -1;
      if (w.groupIdentifier !== undefined) {
        g = groups.get(w.groupIdentifier) ?? groups.size;
        groups.set(w.groupIdentifier, g);
      }
      const hot = new Hot(id, flags, g, r.from, r.until, w, r);
      this.records.push(hot);
      active++;
      this.all.add(hot, k);
      let e = this.byIdentifier.get(w.identifier);
      if (!e) {
        e = { hot: [] };
        this.byIdentifier.set(w.identifier, e);
      }
      e.hot.push(hot);
    }
    this.active = active;
    this.groupWon = new Int32Array(groups.size);
    for (const e of this.byIdentifier.values()) {
      if (e.hot.length <= IDENTIFIER_SCAN_LIMIT) continue;
      e.index = new RuleIndex<Hot>();
      for (const h of e.hot) e.index.add(h, keys[h.rank]);
    }
  }

  /** Stamps stay small integers: every 2^30 events they are all cleared and counting starts over. */
  private nextEpoch(): number {
    if (this.epoch >= 0x3fff_ffff) {
      for (const h of this.records) h.seen = 0;
      this.groupWon.fill(0);
      this.epoch = 0;
    }
    return ++this.epoch;
  }

  /**
   * The winners for one event in dispatch order. Condition failures are
   * appended to `failed` (the caller reports them once this returns).
   * With `decide`, conditions are not evaluated here but asked of it.
   */
  select(
    event: HookEvent,
    attrs: Attributes,
    t: number,
    failed: { rule: Rule; error: Error }[],
    decide?: ConditionDecider,
  ): Webhook[] {
    const e = this.nextEpoch();
    const cands = this.scratch;
    cands.length = 0; // in case a previous call threw half-way
    const identifier = attrs.identifier;
    // Candidates from an index bucket may skip a type filter their key proves; scanned ones may not.
    let skipSure = EVENTS_SURE;
    if (identifier === undefined) this.all.collect(attrs, e, cands);
    else {
      const entry = this.byIdentifier.get(identifier);
      if (entry === undefined) return [];
      if (entry.index) entry.index.collect(attrs, e, cands);
      else {
        skipSure = 0;
        for (let i = 0; i < entry.hot.length; i++) cands.push(entry.hot[i]!);
      }
    }
    let n = 0;
    for (let i = 0; i < cands.length; i++) {
      const h = cands[i]!;
      const flags = h.flags;
      if (flags & WINDOW && !(h.from <= t && t < h.until)) continue;
      if (flags & NEEDS_RULE) {
        const r = h.rule;
        if (flags & EVENTS && !(flags & skipSure) && !r.events!(attrs.type)) continue;
        if (flags & TOPICS && !r.topics!.matches(attrs)) continue;
      }
      cands[n++] = h;
    }
    cands.length = n;
    sortByRank(cands);
    const out: Webhook[] = [];
    let ctx: ConditionContext | undefined;
    for (let i = 0; i < n; i++) {
      const h = cands[i]!;
      const g = h.group;
      if (g >= 0 && this.groupWon[g] === e) continue;
      if (h.flags & CONDITION) {
        const r = h.rule;
        let ok = false;
        if (decide) {
          const v = decide(r);
          if (v instanceof Error) failed.push({ rule: r, error: v });
          else ok = v;
        } else {
          ctx ??= { data: event.data, event: event.body, attributes: attrs };
          try {
            ok = r.condition!.evaluate(ctx);
          } catch (err) {
            failed.push({ rule: r, error: err instanceof Error ? err : new Error(String(err)) });
          }
        }
        if (!ok) continue;
      }
      if (g >= 0) this.groupWon[g] = e;
      out.push(h.webhook);
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

const byRank = (a: Hot, b: Hot) => a.rank - b.rank;

/** Insertion sort for the usual short, mostly ordered candidate list (buckets are ordered). */
function sortByRank(a: Hot[]): void {
  if (a.length > 32) {
    a.sort(byRank);
    return;
  }
  for (let i = 1; i < a.length; i++) {
    const v = a[i]!;
    let j = i - 1;
    while (j >= 0 && a[j]!.rank > v.rank) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = v;
  }
}
