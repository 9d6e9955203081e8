/**
 * Selection by scanning every webhook, recording why each one did or did
 * not match. This is `RuleSet.explain` and the reference the indexed
 * `select` is tested against: it follows DESIGN.md section 3 step by step
 * with no index and no shortcuts, so it is slow (it evaluates every
 * reachable condition) but obviously right.
 */
import type { Attributes } from './attributes.ts';
import { type ConditionContext, ConditionEvalError } from './condition.ts';
import type { Rule } from './rule.ts';
import type { TopicFailure } from './topic-match.ts';
import type { Webhook } from './webhook-schema.ts';

/** The first reason a webhook was not selected. */
export type SkipReason =
  | { code: 'inactive' }
  | { code: 'not-yet-active'; activeFrom: string }
  | { code: 'expired'; activeUntil: string }
  | { code: 'identifier'; want: string; got: string }
  | { code: 'events'; type: string; source: 'events' | 'hooks'; patterns: readonly string[] }
  | { code: 'topics'; failures: TopicFailure[] }
  | { code: 'condition-false'; condition: string }
  | { code: 'condition-error'; condition: string; error: string }
  | { code: 'group-lost'; group: string; winner: { id: string; identifier: string } };

/** How a selected webhook got there. */
export type MatchNote = {
  /** Index of the first topic that matched, when the webhook has topics. */
  topic?: number;
} & (
  | { code: 'plain' }
  | { code: 'condition-true'; condition: string; group?: string }
  | { code: 'group-fallback'; group: string }
);

export interface ExplainEntry {
  webhook: Webhook;
  matched: boolean;
  /** Set when not matched. */
  reason?: SkipReason;
  /** Set when matched. */
  note?: MatchNote;
}

export interface ExplainResult {
  /** The attributes topics were matched against. */
  attributes: Attributes;
  /** The time the window was checked at (ms). */
  at: number;
  /** Every webhook, in dispatch order. */
  entries: ExplainEntry[];
  /** The selected webhooks, in dispatch order (what `select` returns). */
  winners: Webhook[];
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Scans `rules` (all webhooks, in dispatch order) for one event. */
export function scanAll(
  rules: readonly Rule[],
  attrs: Attributes,
  at: number,
  ctx: ConditionContext,
): ExplainResult {
  const entries: ExplainEntry[] = [];
  const winners: Webhook[] = [];
  const groupWinner = new Map<string, Webhook>();
  const identifier = attrs.identifier;
  for (const r of rules) {
    const w = r.webhook;
    const skip = (reason: SkipReason) => entries.push({ webhook: w, matched: false, reason });
    if (!w.active) {
      skip({ code: 'inactive' });
      continue;
    }
    if (w.activeFrom !== undefined && at < w.activeFrom) {
      skip({ code: 'not-yet-active', activeFrom: iso(w.activeFrom) });
      continue;
    }
    if (w.activeUntil !== undefined && at >= w.activeUntil) {
      skip({ code: 'expired', activeUntil: iso(w.activeUntil) });
      continue;
    }
    if (identifier !== undefined && w.identifier !== identifier) {
      skip({ code: 'identifier', want: w.identifier, got: identifier });
      continue;
    }
    if (r.events && !r.events(attrs.type)) {
      const f = r.eventFilter!;
      const patterns = f.source === 'events' ? f.patterns : f.types;
      skip({ code: 'events', type: attrs.type ?? '', source: f.source, patterns });
      continue;
    }
    if (r.topics && !r.topics.matches(attrs)) {
      skip({ code: 'topics', failures: r.topics.failures(attrs) });
      continue;
    }
    const group = w.groupIdentifier;
    const winner = group === undefined ? undefined : groupWinner.get(group);
    if (group !== undefined && winner) {
      skip({ code: 'group-lost', group, winner: { id: winner.id, identifier: winner.identifier } });
      continue;
    }
    if (r.condition) {
      let ok: boolean;
      try {
        ok = r.condition.evaluate(ctx);
      } catch (err) {
        const error = err instanceof ConditionEvalError ? err.message : String(err);
        skip({ code: 'condition-error', condition: r.condition.source, error });
        continue;
      }
      if (!ok) {
        skip({ code: 'condition-false', condition: r.condition.source });
        continue;
      }
    }
    if (group !== undefined) groupWinner.set(group, w);
    const note: MatchNote = r.condition
      ? { code: 'condition-true', condition: r.condition.source, group }
      : group !== undefined
        ? { code: 'group-fallback', group }
        : { code: 'plain' };
    if (r.topics) note.topic = r.topics.firstMatch(attrs);
    entries.push({ webhook: w, matched: true, note });
    winners.push(w);
  }
  return { attributes: attrs, at, entries, winners };
}

const list = (xs: readonly string[]) => xs.map((x) => JSON.stringify(x)).join(', ');

/** One line saying why a webhook was skipped, for people. */
export function describeReason(r: SkipReason): string {
  switch (r.code) {
    case 'inactive':
      return 'inactive (active: false)';
    case 'not-yet-active':
      return `outside its window: active from ${r.activeFrom}`;
    case 'expired':
      return `outside its window: active until ${r.activeUntil}`;
    case 'identifier':
      return `identifier mismatch: the event is for ${JSON.stringify(r.got)}, this webhook is ${JSON.stringify(r.want)}`;
    case 'events':
      return r.source === 'events'
        ? `events: type ${JSON.stringify(r.type)} is not one of ${list(r.patterns)}`
        : `hooks: type ${JSON.stringify(r.type)} has no hooks[] entry (types ${list(r.patterns)})`;
    case 'topics':
      return `topics: ${r.failures
        .map(
          (f) =>
            `#${f.topic} ${f.key} is ${f.actual === undefined ? 'missing' : JSON.stringify(f.actual)}, wanted ${list(f.expected)}`,
        )
        .join('; ')}`;
    case 'condition-false':
      return `groupCondition is false: ${r.condition}`;
    case 'condition-error':
      return `groupCondition failed (counts as false): ${r.error}`;
    case 'group-lost':
      return `lost group ${JSON.stringify(r.group)} to ${r.winner.identifier} (${r.winner.id})`;
  }
}

/** One line saying how a selected webhook matched. */
export function describeMatch(n: MatchNote): string {
  const topic = n.topic === undefined ? '' : ` topic #${n.topic}`;
  switch (n.code) {
    case 'plain':
      return `matched${topic}`;
    case 'condition-true':
      return n.group === undefined
        ? `matched${topic}, groupCondition is true`
        : `matched${topic}, won group ${JSON.stringify(n.group)}: groupCondition is true`;
    case 'group-fallback':
      return `matched${topic}, won group ${JSON.stringify(n.group)} as its fallback (no condition)`;
  }
}
