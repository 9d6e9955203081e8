import { type Condition, ConditionSyntaxError, compileCondition } from './condition.ts';
import { newThrottleState, type ThrottleState } from './condition-errors.ts';
import { type CompiledTopics, compilePatterns, compileTopics, type Matcher } from './topic-match.ts';
import type { Webhook } from './webhook-schema.ts';

export interface Rule {
  readonly webhook: Webhook;
  /** Position in dispatch order (priority, identifier, id). */
  readonly rank: number;
  /** `activeFrom` in ms, or -Infinity. */
  readonly from: number;
  /** `activeUntil` in ms (exclusive), or +Infinity. */
  readonly until: number;
  /** What `events` matches the `type` against; undefined matches every type. */
  readonly eventFilter?: EventFilter;
  readonly events?: Matcher;
  readonly topics?: CompiledTopics;
  readonly condition?: Condition;
  readonly errors: ThrottleState;
}

/**
 * The type filter of a webhook: its `events` patterns, else (seed 004) the
 * types of its `hooks`, which match an event type exactly or its part after
 * the last dot, as the renderer picks a hook (`order_created` takes
 * `shop.order_created`). Empty lists mean no filter, like absent ones.
 */
export type EventFilter =
  | { source: 'events'; patterns: readonly string[] }
  | { source: 'hooks'; types: readonly string[] };

export function eventFilterOf(w: Webhook): EventFilter | undefined {
  if (w.events?.length) return { source: 'events', patterns: w.events };
  if (w.hooks?.length) return { source: 'hooks', types: [...new Set(w.hooks.map((h) => h.type))] };
  return undefined;
}

function compileEventFilter(f: EventFilter): Matcher {
  if (f.source === 'events') return compilePatterns(f.patterns);
  const types = new Set(f.types);
  return (t) => typeof t === 'string' && (types.has(t) || types.has(t.slice(t.lastIndexOf('.') + 1)));
}

export interface RuleProblemLike {
  path: (string | number)[];
  message: string;
}

/** Compiles one webhook; problems (a bad condition) are pushed and undefined returned. */
export function compileRule(webhook: Webhook, rank: number, problems: RuleProblemLike[]): Rule | undefined {
  let condition: Condition | undefined;
  if (webhook.groupCondition !== undefined) {
    try {
      condition = compileCondition(webhook.groupCondition);
    } catch (err) {
      if (!(err instanceof ConditionSyntaxError)) throw err;
      problems.push({ path: ['groupCondition'], message: err.message });
      return undefined;
    }
  }
  const eventFilter = eventFilterOf(webhook);
  return {
    webhook,
    rank,
    from: webhook.activeFrom ?? Number.NEGATIVE_INFINITY,
    until: webhook.activeUntil ?? Number.POSITIVE_INFINITY,
    eventFilter,
    events: eventFilter ? compileEventFilter(eventFilter) : undefined,
    topics: webhook.topics?.length ? compileTopics(webhook.topics) : undefined,
    condition,
    errors: newThrottleState(),
  };
}
