/**
 * The catalog in force in the daemon: compiled from the rule files and the
 * API webhooks, swapped whole on a reload or an API write (one assignment,
 * so no event sees half of it). An invalid change keeps the catalog in
 * force. Reloads read the files off the event loop and run one at a time.
 */
import type { Logger } from 'pino';
import { type Config, ConfigError, formatProblem } from '../config/index.ts';
import type { Metrics } from '../metrics/index.ts';
import { type ConditionErrorInfo, type RuleFileText, readRuleFiles, type Webhook } from '../rules/index.ts';
import { sandboxedJsonata } from '../templates/index.ts';
import type { TransportRegistry } from '../transports/index.ts';
import { buildCatalog, type Catalog } from './catalog.ts';
import { type LoadedCatalog, loadCatalog, type Sandboxed } from './load-catalog.ts';

export interface ReloadResult {
  ok: boolean;
  webhooks: number;
  errors: string[];
}

export interface LiveCatalogDeps {
  config: Config;
  rulesDir: string;
  registry: TransportRegistry;
  sandbox: Sandboxed;
  metrics: Metrics;
  logger: Logger;
  /** The API webhooks in force (joined after the file webhooks; a file webhook wins an id). */
  apiWebhooks: () => readonly Webhook[];
  /** A new catalog is in force (after a reload, `reloaded` is true). */
  onChange: (catalog: Catalog, reloaded: boolean) => void;
}

export class LiveCatalog {
  private catalog: Catalog;
  /** The file webhooks in force: API writes recompile with these, without re-reading the files. */
  private fileWebhooks: readonly Webhook[];
  private reloading: Promise<unknown> = Promise.resolve();

  /** Throws `ConfigError` when the rules are invalid: hookd does not start. */
  constructor(private readonly deps: LiveCatalogDeps) {
    const loaded = this.compile();
    this.catalog = loaded.catalog;
    this.fileWebhooks = loaded.fileWebhooks;
  }

  get current(): Catalog {
    return this.catalog;
  }

  /** A groupCondition failed (counted as false): always counted, logged once per webhook and burst. */
  private readonly onConditionError = (w: Webhook, err: Error, info: ConditionErrorInfo): void => {
    const { metrics, logger } = this.deps;
    metrics.conditionErrors.inc({ webhook: metrics.webhookLabel(w.identifier) });
    if (info.log) {
      logger.warn(
        { webhook: w.identifier, webhookId: w.id, error: err.message, suppressed: info.suppressed },
        'groupCondition failed; counted as false',
      );
    }
  };

  private compile(files?: readonly RuleFileText[]): LoadedCatalog {
    const { config, rulesDir, registry, sandbox } = this.deps;
    const loaded = loadCatalog({
      config,
      rulesDir,
      registry,
      extra: this.deps.apiWebhooks(),
      onConditionError: this.onConditionError,
      files,
      sandbox,
    });
    // Their series exist at zero from now on, so the first failure shows in rates and alerts.
    this.deps.metrics.initWebhooks(loaded.catalog.rules.webhooks);
    return loaded;
  }

  /** A catalog of the file webhooks in force and `api` (for an API write); throws `CatalogError`. */
  build(api: readonly Webhook[]): Catalog {
    const { config, registry, sandbox } = this.deps;
    const fileIds = new Set(this.fileWebhooks.map((w) => w.id));
    return buildCatalog([...this.fileWebhooks, ...api.filter((w) => !fileIds.has(w.id))], {
      registry,
      attributes: config.events.attributes,
      onConditionError: this.onConditionError,
      conditions: sandbox,
      jsonata: sandboxedJsonata(sandbox),
    });
  }

  /** Swaps in a catalog built by `build`. */
  install(catalog: Catalog): void {
    this.deps.metrics.initWebhooks(catalog.rules.webhooks);
    this.catalog = catalog;
    this.deps.onChange(catalog, false);
  }

  /** Validates everything, then swaps the catalog at once; an invalid change keeps the old rules. */
  reload(reason: string): Promise<ReloadResult> {
    const next = this.reloading.then(() => this.reloadNow(reason));
    this.reloading = next;
    return next;
  }

  private async reloadNow(reason: string): Promise<ReloadResult> {
    const { metrics, logger } = this.deps;
    try {
      const { catalog, fileWebhooks } = this.compile(await readRuleFiles(this.deps.rulesDir));
      this.catalog = catalog;
      this.fileWebhooks = fileWebhooks;
      metrics.configReloaded(true);
      logger.info({ reason, webhooks: catalog.size }, 'rules reloaded');
      this.deps.onChange(catalog, true);
      return { ok: true, webhooks: catalog.size, errors: [] };
    } catch (err) {
      metrics.configReloaded(false);
      const errors = err instanceof ConfigError ? err.problems.map(formatProblem) : [(err as Error).message];
      logger.error({ reason, errors }, 'rules reload failed; the previous rules stay in force');
      return { ok: false, webhooks: this.catalog.size, errors };
    }
  }
}
