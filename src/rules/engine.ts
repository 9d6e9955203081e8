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
 * `select` is the hot path (selector.ts): the index (by identifier, then by
 * attribute keys) yields candidates without scanning every webhook.
 * `explain` is the slow, exhaustive twin that says why (select-naive.ts).
 */
import type { HookEvent } from '../source/index.ts';
import { type AttributeMap, type Attributes, compileAttributeMap } from './attributes.ts';
import type { ConditionContext } from './condition.ts';
import {
  CONDITION_ERROR_LOG_INTERVAL_MS,
  type ConditionErrorInfo,
  throttleConditionError,
} from './condition-errors.ts';
import { compileRule, type Rule } from './rule.ts';
import { chooseKeys, type IndexKey } from './rule-index.ts';
import { type ExplainResult, scanAll } from './select-naive.ts';
import { Selector } from './selector.ts';
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
  /**
   * Where `selectBatch` evaluates conditions (the sandbox: a worker with a
   * time budget). Without it they run in this thread.
   */
  conditions?: ConditionRunner;
}

/** Evaluates a condition off the event loop; rejects when it fails or runs over its budget (counted as false). */
export interface ConditionRunner {
  condition(source: string, event: Record<string, unknown>, attributes: Attributes): Promise<boolean>;
}

/** One event's winners, or the error that kept it from being selected (that event alone). */
export type SelectOutcome = Webhook[] | Error;

export interface RuleSet {
  readonly webhooks: readonly Webhook[];
  /** Webhooks that want the event, in dispatch order (priority, then identifier, then id). */
  select(event: HookEvent): Webhook[];
  /**
   * `select` for a batch, with conditions evaluated by `conditions` (the
   * sandbox) when configured: synchronous when no event of the batch
   * reaches a condition. An exception for one event is that event's outcome.
   */
  selectBatch(events: readonly HookEvent[]): SelectOutcome[] | Promise<SelectOutcome[]>;
  get(id: string): Webhook | undefined;
  /** Every webhook with why it matched or not, and the winners; never calls `onConditionError`. */
  explain(event: HookEvent, at?: number): ExplainResult;
  /** Index shape, for the bench and for operators wondering why selection got slow. */
  stats?(): RuleSetStats;
}

export interface RuleSetStats {
  webhooks: number;
  /** Active webhooks (the index holds only these). */
  active: number;
  /** Active webhooks every event without an identifier visits (no usable index key). */
  scanned: number;
  /** The largest bucket of the index for events without an identifier. */
  largestBucket: number;
  identifiers: number;
  /** Identifiers large enough to get their own index. */
  indexedIdentifiers: number;
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
  const rules: Rule[] = [];
  for (const w of [...webhooks].sort(byDispatchOrder)) {
    const found: { path: (string | number)[]; message: string }[] = [];
    const r = compileRule(w, rules.length, found);
    for (const p of found) problems.push({ webhookId: w.id, ...p });
    if (r) rules.push(r);
  }
  if (problems.length) throw new RuleCompileError(problems);

  const active = rules.filter((r) => r.webhook.active);
  const chosen = chooseKeys(active, attributes.builtinType);
  const keys: (IndexKey[] | undefined)[] = new Array(rules.length);
  active.forEach((r, i) => {
    keys[r.rank] = chosen[i];
  });
  const selector = new Selector(rules, keys);
  // Reused between calls: reported (and emptied) once `select` is done, so a callback may select again.
  const failed: { rule: Rule; error: Error }[] = [];

  const contextOf = (event: HookEvent, attrs: Attributes): ConditionContext => ({
    data: event.data,
    event: event.body,
    attributes: attrs,
  });

  function select(event: HookEvent): Webhook[] {
    const attrs = attributes.of(event);
    const t = now();
    failed.length = 0;
    const out = selector.select(event, attrs, t, failed);
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

  const runner = opts.conditions;

  function selectOne(event: HookEvent): SelectOutcome {
    try {
      return select(event);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  /**
   * Two passes. The first selects with every condition taken as false and
   * notes each condition it reached: a superset of those the real selection
   * evaluates (a false member lets the rest of its group be tried). Events
   * that reached none are done. The sandbox evaluates the noted conditions
   * of the batch at once; the second pass selects with those outcomes.
   */
  function selectBatch(events: readonly HookEvent[]): SelectOutcome[] | Promise<SelectOutcome[]> {
    if (!runner) return events.map(selectOne);
    const out: SelectOutcome[] = new Array(events.length);
    const waiting: { i: number; attrs: Attributes; t: number; rules: Rule[] }[] = [];
    let noted: Rule[] = [];
    const none: { rule: Rule; error: Error }[] = [];
    const note = (r: Rule) => {
      noted.push(r);
      return false;
    };
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      try {
        const attrs = attributes.of(event);
        const t = now();
        const winners = selector.select(event, attrs, t, none, note);
        if (noted.length === 0) out[i] = winners;
        else {
          waiting.push({ i, attrs, t, rules: noted });
          noted = [];
        }
      } catch (err) {
        noted = [];
        out[i] = err instanceof Error ? err : new Error(String(err));
      }
    }
    if (waiting.length === 0) return out;
    return (async () => {
      const outcomes = await Promise.all(
        waiting.map((w) => {
          const event = events[w.i]!;
          return Promise.all(
            w.rules.map((r) =>
              runner.condition(r.condition!.source, event.body, w.attrs).then(
                (v) => v,
                (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
              ),
            ),
          );
        }),
      );
      waiting.forEach((w, k) => {
        const verdicts = new Map<Rule, boolean | Error>(w.rules.map((r, j) => [r, outcomes[k]![j]!]));
        try {
          failed.length = 0;
          out[w.i] = selector.select(events[w.i]!, w.attrs, w.t, failed, (r) => verdicts.get(r) ?? false);
          if (failed.length) reportFailures(w.t);
        } catch (err) {
          out[w.i] = err instanceof Error ? err : new Error(String(err));
        }
      });
      return out;
    })();
  }

  return {
    webhooks,
    get: (id) => byId.get(id),
    select,
    selectBatch,
    stats() {
      return { webhooks: webhooks.length, ...selector.stats() };
    },
    explain(event, at = now()) {
      const attrs = attributes.of(event);
      return scanAll(rules, attrs, at, contextOf(event, attrs));
    },
  };
}
