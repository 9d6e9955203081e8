/**
 * The catalog (after outbox, before dispatch): loads the rule files, the API
 * webhooks and the plugins, compiles rules and templates once, and is what
 * `run`, reload, the API, `check` and `explain` all use. Intake applies it to
 * events and stores the deliveries.
 * This file is the folder's surface: other folders import only from here.
 */

export {
  type LoadedApiWebhook,
  type PathProblem,
  readApiWebhooks,
  type SkippedApiWebhook,
  specSource,
  validateApiWebhook,
} from './api-webhooks.ts';
export { buildCatalog, type Catalog, CatalogError } from './catalog.ts';
export { Intake } from './intake.ts';
export { LiveCatalog, type LiveCatalogDeps, type ReloadResult } from './live-catalog.ts';
export { loadCatalog, locate } from './load-catalog.ts';
export { type OpenCatalogOptions, type OpenedCatalog, openCatalog } from './open-catalog.ts';
export { watchRules } from './rules-watcher.ts';
export { loadTransports } from './transports.ts';
