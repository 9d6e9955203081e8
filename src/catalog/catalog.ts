/**
 * A catalog is one compiled, immutable set of webhooks: the rule index and
 * each webhook's compiled templates. Reloads build a new catalog and swap
 * it in at once, so no event is ever evaluated against a half-updated set.
 */

import type { Webhook } from '../rules/index.ts';
import {
  compileRuleSet,
  RuleCompileError,
  type RuleEngineOptions,
  type RuleProblem,
  type RuleSet,
} from '../rules/index.ts';
import type { JsonataEngine } from '../templates/index.ts';
import { compileWebhookTemplates, TemplateCompileError, type WebhookTemplates } from '../templates/index.ts';
import type { TransportRegistry } from '../transports/index.ts';

export interface Catalog {
  readonly rules: RuleSet;
  readonly templates: ReadonlyMap<string, WebhookTemplates>;
  webhook(id: string): Webhook | undefined;
  readonly size: number;
}

export class CatalogError extends Error {
  readonly code = 'HOOKD_CATALOG_INVALID';
  constructor(readonly problems: RuleProblem[]) {
    super(problems.map((p) => `webhook ${p.webhookId}: ${p.path.join('.')}: ${p.message}`).join('\n'));
  }
}

export interface CatalogOptions extends RuleEngineOptions {
  registry: TransportRegistry;
  /** JSONata compiler of the templates (the sandboxed one in the daemon). @default defaultJsonataEngine */
  jsonata?: JsonataEngine;
}

/** Compiles every template and rule once; throws `CatalogError` with every problem found. */
export function buildCatalog(webhooks: readonly Webhook[], opts: CatalogOptions): Catalog {
  const problems: RuleProblem[] = [];
  const templates = new Map<string, WebhookTemplates>();
  for (const w of webhooks) {
    try {
      templates.set(
        w.id,
        compileWebhookTemplates(w, {
          templateFields: opts.registry.get(w.type)?.templateFields ?? [],
          // The same pointer selects topics and templates (bug 1: explain and run once disagreed here).
          contentTypeId: opts.attributes?.contentTypeId,
          jsonata: opts.jsonata,
        }),
      );
    } catch (err) {
      if (!(err instanceof TemplateCompileError)) throw err;
      problems.push({ webhookId: w.id, path: err.path, message: err.message });
    }
  }
  let rules: RuleSet | undefined;
  try {
    rules = compileRuleSet(webhooks, opts);
  } catch (err) {
    if (!(err instanceof RuleCompileError)) throw err;
    problems.push(...err.problems);
  }
  if (problems.length || !rules) throw new CatalogError(problems);
  const byId = new Map(webhooks.map((w) => [w.id, w]));
  return { rules, templates, webhook: (id) => byId.get(id), size: webhooks.length };
}
