/**
 * The catalog the one-shot commands see (`check`, `explain`): the transports
 * with their plugins, the rule files and, for explain, the API webhooks of
 * the store (only read), compiled exactly as `hookd run` compiles them.
 */
import { existsSync } from 'node:fs';
import type { Config } from '../config/index.ts';
import { JetStreamStore, openStore } from '../outbox/index.ts';
import { KeyRing, specSeal } from '../secrets/index.ts';
import type { TransportRegistry } from '../transports/index.ts';
import { readApiWebhooks, type SkippedApiWebhook } from './api-webhooks.ts';
import { type LoadedCatalog, loadCatalog } from './load-catalog.ts';
import { loadTransports } from './transports.ts';

export interface OpenedCatalog extends LoadedCatalog {
  registry: TransportRegistry;
  /** Stored API webhooks left out (unreadable or invalid), as the daemon leaves them out. */
  skipped: SkippedApiWebhook[];
}

export interface OpenCatalogOptions {
  config: Config;
  rulesDir: string;
  /** Join the API webhooks of the store: `store.path` (when the file exists), or NATS with `store.backend: jetstream`. */
  apiWebhooks?: boolean;
}

/** Throws `ConfigError` (every problem with its position) like `hookd run` does. */
export async function openCatalog(opts: OpenCatalogOptions): Promise<OpenedCatalog> {
  const { config } = opts;
  const registry = await loadTransports(config);
  const api = opts.apiWebhooks ? await storedApiWebhooks(config, registry) : { loaded: [], skipped: [] };
  const loaded = loadCatalog({
    config,
    rulesDir: opts.rulesDir,
    registry,
    extra: api.loaded.map((e) => e.webhook),
  });
  return { ...loaded, registry, skipped: api.skipped };
}

async function storedApiWebhooks(config: Config, registry: TransportRegistry) {
  const keys = new KeyRing(config.security.secretsKey, config.security.previousSecretsKeys);
  const seal = specSeal(keys, registry);
  const path = config.store.path;
  if (config.store.backend === 'jetstream') {
    // The webhooks every replica has: the KV bucket, read once.
    const store = await JetStreamStore.connect(config.nats.url!, {
      name: 'hookd explain',
      replicas: config.store.jetstream.replicas,
      retention: config.store.retention,
      seal,
    });
    try {
      return readApiWebhooks(store.webhooks.all(), registry);
    } finally {
      await store.close();
    }
  }
  if (path === ':memory:' || !existsSync(path)) return { loaded: [], skipped: [] };
  // Read once: no writer thread for a command that writes nothing.
  const store = openStore(path, { seal, writer: 'inline' });
  try {
    return readApiWebhooks(store.webhooks.all(), registry);
  } finally {
    await store.close();
  }
}
