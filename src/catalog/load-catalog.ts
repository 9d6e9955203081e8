/**
 * Loads every rule file, validates it, and compiles the catalog, reporting
 * every problem as `file:line:col: message`. Shared by `hookd run`,
 * `hookd check` and reloads, so all three agree on what is valid.
 */

import type { Config } from '../config/index.ts';
import { ConfigError, formatPath, type Problem } from '../config/index.ts';
import type { ConditionRunner, RuleEngineOptions, Webhook } from '../rules/index.ts';
import { loadRuleFiles, type Origin, type RuleFileText } from '../rules/index.ts';
import { type JsonataRunner, sandboxedJsonata } from '../templates/index.ts';
import type { TransportRegistry } from '../transports/index.ts';
import { buildCatalog, type Catalog, CatalogError } from './catalog.ts';

export interface LoadedCatalog {
  catalog: Catalog;
  fileWebhooks: Webhook[];
  /** Where each file webhook was defined (for `file:line` in messages and explain). */
  origins: Map<string, Origin>;
}

export interface LoadCatalogOptions {
  config: Config;
  rulesDir: string;
  registry: TransportRegistry;
  /** Webhooks from other sources (the API), joined into the same index. */
  extra?: readonly Webhook[];
  onConditionError?: RuleEngineOptions['onConditionError'];
  /** The rule files already read (the daemon's reload reads them off the event loop); default: read now. */
  files?: readonly RuleFileText[];
  /** Where conditions and JSONata templates are evaluated (the daemon's sandbox); default: in this thread. */
  sandbox?: Sandboxed;
}

/** What the catalog needs of the sandbox. */
export type Sandboxed = ConditionRunner & JsonataRunner;

/** Maps compile problems (webhook id + field path) back to the rule file positions. */
export function locate(problems: CatalogError['problems'], origins: Map<string, Origin>): Problem[] {
  return problems.map((p) => {
    const o = origins.get(p.webhookId);
    if (!o)
      return {
        file: `webhook ${p.webhookId}`,
        line: 1,
        col: 1,
        message: `${formatPath(p.path)}: ${p.message}`,
      };
    const path = [...o.prefix, ...writtenPath(entryAt(o.src.value, o.prefix), p.path)];
    return o.src.problem(path, `${formatPath(path)}: ${p.message}`);
  });
}

/** The raw rule-file entry of a webhook, to see which alias it was written with. */
function entryAt(doc: unknown, prefix: readonly (string | number)[]): unknown {
  let cur = doc;
  for (const seg of prefix) cur = (cur as Record<string | number, unknown> | undefined)?.[seg];
  return cur;
}

/** Model paths use the canonical names; point at the alias when that is what the file says. */
function writtenPath(entry: unknown, path: readonly (string | number)[]): (string | number)[] {
  const raw = entry !== null && typeof entry === 'object' ? (entry as Record<string, unknown>) : {};
  if (path[0] === 'url' && raw.url === undefined && raw.targetUrl !== undefined)
    return ['targetUrl', ...path.slice(1)];
  return [...path];
}

export function loadCatalog(opts: LoadCatalogOptions): LoadedCatalog {
  const loaded = loadRuleFiles(opts.rulesDir, opts.registry, opts.files);
  if (loaded.problems.length) throw new ConfigError(loaded.problems);
  const fileIds = new Set(loaded.webhooks.map((w) => w.id));
  const extra = (opts.extra ?? []).filter((w) => !fileIds.has(w.id));
  try {
    const catalog = buildCatalog([...loaded.webhooks, ...extra], {
      registry: opts.registry,
      attributes: opts.config.events.attributes,
      onConditionError: opts.onConditionError,
      conditions: opts.sandbox,
      jsonata: opts.sandbox && sandboxedJsonata(opts.sandbox),
    });
    return { catalog, fileWebhooks: loaded.webhooks, origins: loaded.origins };
  } catch (err) {
    if (err instanceof CatalogError) throw new ConfigError(locate(err.problems, loaded.origins));
    throw err;
  }
}
