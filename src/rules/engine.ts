/**
 * The rule engine: which webhooks want one event (DESIGN.md section 3,
 * "Selection"). First cut: active flag and window, identifier, `events`.
 */
import type { HookEvent } from '../source/event.ts';
import { type AttributeMap, compileAttributeMap } from './attributes.ts';
import { compilePatterns, type Matcher } from './topic-match.ts';
import type { Webhook } from './webhook-schema.ts';

export interface RuleEngineOptions {
  /** Configured attribute pointers (`events.attributes`). */
  attributes?: Record<string, string>;
  now?: () => number;
}

export interface RuleSet {
  readonly webhooks: readonly Webhook[];
  /** Webhooks that want the event, in dispatch order (priority, then identifier). */
  select(event: HookEvent): Webhook[];
  get(id: string): Webhook | undefined;
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

interface Compiled {
  webhook: Webhook;
  events?: Matcher;
}

export function byDispatchOrder(a: Webhook, b: Webhook): number {
  return a.priority - b.priority || (a.identifier < b.identifier ? -1 : a.identifier > b.identifier ? 1 : 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

export function compileRuleSet(webhooks: readonly Webhook[], opts: RuleEngineOptions = {}): RuleSet {
  const now = opts.now ?? Date.now;
  const attributes: AttributeMap = compileAttributeMap(opts.attributes ?? {});
  const compiled: Compiled[] = [...webhooks]
    .sort(byDispatchOrder)
    .map((webhook) => ({ webhook, events: webhook.events ? compilePatterns(webhook.events) : undefined }));
  const byId = new Map(webhooks.map((w) => [w.id, w]));
  return {
    webhooks,
    get: (id) => byId.get(id),
    select(event) {
      const attrs = attributes.of(event);
      const t = now();
      const out: Webhook[] = [];
      for (const c of compiled) {
        const w = c.webhook;
        if (!w.active) continue;
        if (w.activeFrom !== undefined && t < w.activeFrom) continue;
        if (w.activeUntil !== undefined && t >= w.activeUntil) continue;
        if (attrs.identifier !== undefined && w.identifier !== attrs.identifier) continue;
        if (c.events && !c.events(attrs.type)) continue;
        out.push(w);
      }
      return out;
    },
  };
}
