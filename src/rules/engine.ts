/**
 * The rule engine: which webhooks want one event (DESIGN.md section 3,
 * "Selection").
 *
 * 1. Candidates: `active`, inside `activeFrom`/`activeUntil`, and with the
 *    event's `identifier` when it names one.
 * 2. Topic match: `events` AND `topics`.
 * 3. Groups: members tried in dispatch order; the first whose condition
 *    holds wins, the rest of the group is skipped; no condition is a fallback.
 * 4. Conditions: CEL; an error counts as false and is reported through
 *    `onConditionError` (every time, with a log-once-per-burst hint).
 * 5. Winners come back in dispatch order.
 *
 * `select` is the hot path: the index (by identifier, then by attribute
 * keys) yields candidates without scanning every webhook; the per-event cost
 * is one attributes object, one result array and, when a condition runs,
 * one context object. `explain` is the slow, exhaustive twin that says why.
 */
import type { HookEvent } from '../source/event.ts';
import { type AttributeMap, type Attributes, compileAttributeMap } from './attributes.ts';
import type { ConditionContext } from './condition.ts';
import {
  CONDITION_ERROR_LOG_INTERVAL_MS,
  type ConditionErrorInfo,
  throttleConditionError,
} from './condition-errors.ts';
import { compileRule, type Group, inWindow, matchesTopics, type Rule } from './rule.ts';
import { chooseKeys, type IndexKey, RuleIndex } from './rule-index.ts';
import { type ExplainResult, scanAll } from './select-naive.ts';
import type { Webhook } from './webhook-schema.ts';

export type { ConditionErrorInfo } from './condition-errors.ts';
export type { ExplainEntry, ExplainResult, MatchNote, SkipReason } from './select-naive.ts';

export interface RuleEngineOptions {
  /** Configured attribute pointers (`events.attributes`). */
  attributes?: Record<string, string>;
  /** Clock for the `activeFrom`/`activeUntil` window and error throttling. @default Date.now */
  now?: () => number;
  /**
   * Called for every condition that fails to evaluate (the failure counts as
   * false), after `select` has finished. Count every call
   * (`hookd_condition_errors_total{webhook}`); log only when `info.log`.
   */
  onConditionError?: (webhook: Webhook, error: Error, info: ConditionErrorInfo) => void;
  /** Quiet time after a logged condition error of one webhook. @default 60000 */
  conditionErrorLogIntervalMs?: number;
}

export interface RuleSet {
  readonly webhooks: readonly Webhook[];
  /** Webhooks that want the event, in dispatch order (priority, then identifier, then id). */
  select(event: HookEvent): Webhook[];
  get(id: string): Webhook | undefined;
  /** Every webhook with why it matched or not, and the winners; never calls `onConditionError`. */
  explain(event: HookEvent, at?: number): ExplainResult;
}

/** A problem found while compiling rules, with the field path inside the webhook. */
export interface RuleProblem {
  webhookId: string;
  path: (string | number)[];
  message: string;
}

export class RuleCompileError extends Error {
  readonly code = 'HOOKD_RULES_INVALID';
  constructor(readonly problems: RuleProblem[]) {
    super(problems.map((p) => `${p.webhookId}: ${p.path.join('.')}: ${p.message}`).join('\n'));
  }
}

/** Dispatch order: priority ascending, ties by identifier, then id. */
export function byDispatchOrder(a: Webhook, b: Webhook): number {
  return (
    a.priority - b.priority ||
    (a.identifier < b.identifier ? -1 : a.identifier > b.identifier ? 1 : 0) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

const byRank = (a: Rule, b: Rule) => a.rank - b.rank;

/** Identifiers with more webhooks than this get their own index; smaller ones are scanned. */
const IDENTIFIER_SCAN_LIMIT = 32;

interface IdentifierEntry {
  rules: Rule[];
  keys: (IndexKey[] | undefined)[];
  index?: RuleIndex;
}

export function compileRuleSet(webhooks: readonly Webhook[], opts: RuleEngineOptions = {}): RuleSet {
  const now = opts.now ?? Date.now;
  const onError = opts.onConditionError;
  const logInterval = opts.conditionErrorLogIntervalMs ?? CONDITION_ERROR_LOG_INTERVAL_MS;
  const attributes: AttributeMap = compileAttributeMap(opts.attributes);

  const problems: RuleProblem[] = [];
  const byId = new Map<string, Webhook>();
  for (const w of webhooks) {
    if (byId.has(w.id))
      problems.push({ webhookId: w.id, path: ['id'], message: `duplicate webhook id "${w.id}"` });
    byId.set(w.id, w);
  }
  const groups = new Map<string, Group>();
  const rules: Rule[] = [];
  for (const w of [...webhooks].sort(byDispatchOrder)) {
    const found: { path: (string | number)[]; message: string }[] = [];
    const r = compileRule(w, rules.length, groups, found);
    for (const p of found) problems.push({ webhookId: w.id, ...p });
    if (r) rules.push(r);
  }
  if (problems.length) throw new RuleCompileError(problems);

  // Inactive webhooks never match: they stay out of the index (explain still lists them).
  const live = rules.filter((r) => r.webhook.active);
  const keys = chooseKeys(live, attributes.builtinType);
  const all = new RuleIndex();
  const byIdentifier = new Map<string, IdentifierEntry>();
  live.forEach((r, i) => {
    all.add(r, keys[i]);
    let e = byIdentifier.get(r.webhook.identifier);
    if (!e) {
      e = { rules: [], keys: [] };
      byIdentifier.set(r.webhook.identifier, e);
    }
    e.rules.push(r);
    e.keys.push(keys[i]);
  });
  for (const e of byIdentifier.values()) {
    if (e.rules.length <= IDENTIFIER_SCAN_LIMIT) continue;
    const index = new RuleIndex();
    for (let i = 0; i < e.rules.length; i++) index.add(e.rules[i]!, e.keys[i]);
    e.index = index;
  }

  let epoch = 0;
  // Reused between calls: callbacks run only once `select` is done with them, so re-entry is safe.
  const scratch: Rule[] = [];
  const failed: { rule: Rule; error: Error }[] = [];

  const contextOf = (event: HookEvent, attrs: Attributes): ConditionContext => ({
    data: event.data,
    event: event.body,
    attributes: attrs,
  });

  function select(event: HookEvent): Webhook[] {
    const attrs = attributes.of(event);
    const t = now();
    const e = ++epoch;
    const cands = scratch;
    cands.length = 0; // in case a previous call threw half-way
    const identifier = attrs.identifier;
    if (identifier === undefined) all.collect(attrs, e, cands);
    else {
      const entry = byIdentifier.get(identifier);
      if (entry === undefined) return [];
      if (entry.index) entry.index.collect(attrs, e, cands);
      else for (let i = 0; i < entry.rules.length; i++) cands.push(entry.rules[i]!);
    }
    let n = 0;
    for (let i = 0; i < cands.length; i++) {
      const r = cands[i]!;
      if (inWindow(r, t) && matchesTopics(r, attrs)) cands[n++] = r;
    }
    cands.length = n;
    if (n > 1) cands.sort(byRank);
    const out: Webhook[] = [];
    let ctx: ConditionContext | undefined;
    for (let i = 0; i < n; i++) {
      const r = cands[i]!;
      const g = r.group;
      if (g !== undefined && g.wonAt === e) continue;
      if (r.condition !== undefined) {
        ctx ??= contextOf(event, attrs);
        let ok = false;
        try {
          ok = r.condition.evaluate(ctx);
        } catch (err) {
          failed.push({ rule: r, error: err instanceof Error ? err : new Error(String(err)) });
        }
        if (!ok) continue;
      }
      if (g !== undefined) g.wonAt = e;
      out.push(r.webhook);
    }
    cands.length = 0;
    if (failed.length) reportFailures(t);
    return out;
  }

  function reportFailures(t: number): void {
    const batch = failed.splice(0);
    for (const { rule, error } of batch) {
      const info = throttleConditionError(rule.errors, t, logInterval);
      onError?.(rule.webhook, error, info);
    }
  }

  return {
    webhooks,
    get: (id) => byId.get(id),
    select,
    explain(event, at = now()) {
      const attrs = attributes.of(event);
      return scanAll(rules, attrs, at, contextOf(event, attrs));
    },
  };
}
