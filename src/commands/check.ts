/**
 * `hookd check`: validates the config and every rule file without starting
 * anything. Exit 0 when valid; 1 with one `file:line:col: message` per problem.
 */

import { loadCatalog, loadTransports } from '../catalog/index.ts';
import { ConfigError, formatProblem, loadConfig } from '../config/index.ts';
import type { Output } from './output.ts';

export async function runCheck(
  opts: { config?: string; rules: string },
  out: Output,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  try {
    const config = loadConfig(opts.config, env);
    const registry = await loadTransports(config);
    const { catalog } = loadCatalog({ config, rulesDir: opts.rules, registry });
    out.stdout(`ok: config valid, ${catalog.size} webhook${catalog.size === 1 ? '' : 's'} in ${opts.rules}`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) out.stdout(formatProblem(p));
    return 1;
  }
}
