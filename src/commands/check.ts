/**
 * `hookd check`: validates the config and every rule file without starting
 * anything. Exit 0 when valid; 1 with one `file:line:col: message` per problem.
 */

import { openCatalog } from '../catalog/index.ts';
import { ConfigError, formatProblem, loadConfig } from '../config/index.ts';
import type { Output } from './output.ts';

export async function runCheck(
  opts: { config?: string; rules: string },
  out: Output,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  try {
    const config = loadConfig(opts.config, env);
    // The catalog hookd run would compile from these files (API webhooks are checked when written).
    const { catalog } = await openCatalog({ config, rulesDir: opts.rules });
    out.stdout(`ok: config valid, ${catalog.size} webhook${catalog.size === 1 ? '' : 's'} in ${opts.rules}`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) out.stdout(formatProblem(p));
    return 1;
  }
}
