/**
 * The transports of a catalog: the built-ins plus the plugins of
 * `plugins.dir`. A broken plugin is a config error naming its file, the same
 * for `run`, `check` and `explain`.
 */
import { type Config, ConfigError } from '../config/index.ts';
import { loadPlugins, PluginLoadError } from '../plugins/index.ts';
import { TransportRegistry } from '../transports/index.ts';

export async function loadTransports(config: Config): Promise<TransportRegistry> {
  const registry = new TransportRegistry();
  if (!config.plugins.dir) return registry;
  try {
    await loadPlugins(config.plugins.dir, registry);
  } catch (err) {
    if (!(err instanceof PluginLoadError)) throw err;
    throw new ConfigError(
      err.problems.map((p) => ({ file: p.file, line: 1, col: 1, message: `plugin: ${p.message}` })),
    );
  }
  return registry;
}
