/**
 * Loads transport plugins from `plugins.dir`: every `*.js`, `*.mjs` or `*.ts`
 * file directly in the directory is imported, and its `default` (or
 * `transport`) export must be a transport module (DESIGN.md section 8:
 * `types`, `dataSchema`, `create`, optional `secretFields`,
 * `templateFields`, `validate`). Everything is checked before anything is
 * registered, so a broken plugin leaves the registry untouched and the error
 * names each bad file.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TransportModule, TransportRegistry } from '../transports/index.ts';

export interface PluginProblem {
  file: string;
  message: string;
}

export class PluginLoadError extends Error {
  readonly code = 'HOOKD_PLUGIN_INVALID';
  constructor(readonly problems: PluginProblem[]) {
    super(`plugins.dir: ${problems.map((p) => `${p.file}: ${p.message}`).join('; ')}`);
    this.name = 'PluginLoadError';
  }
}

const PLUGIN_FILE = /\.(m?js|ts)$/;

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string' && x !== '');
}

/** Why `m` is not a transport module, or undefined when it is one. */
function shapeProblem(m: unknown): string | undefined {
  if (m === null || typeof m !== 'object') return 'the export is not an object';
  const t = m as Record<string, unknown>;
  if (!isStringList(t.types) || t.types.length === 0) return '"types" must be a non-empty list of type names';
  const schema = t.dataSchema as { safeParse?: unknown } | undefined;
  if (!schema || typeof schema.safeParse !== 'function') return '"dataSchema" must be a zod schema';
  if (typeof t.create !== 'function') return '"create" must be a function (ctx) => { send, close }';
  if (t.secretFields !== undefined && !isStringList(t.secretFields))
    return '"secretFields" must be a list of strings';
  if (t.templateFields !== undefined && !isStringList(t.templateFields)) {
    return '"templateFields" must be a list of strings';
  }
  if (t.validate !== undefined && typeof t.validate !== 'function') return '"validate" must be a function';
  if (t.describe !== undefined && typeof t.describe !== 'function') return '"describe" must be a function';
  return undefined;
}

export async function loadPlugins(dir: string, registry: TransportRegistry): Promise<void> {
  const root = resolve(dir);
  let names: string[];
  try {
    names = readdirSync(root).filter((n) => PLUGIN_FILE.test(n) && !n.endsWith('.d.ts'));
  } catch (err) {
    throw new PluginLoadError([
      { file: root, message: `cannot read the directory (${(err as Error).message})` },
    ]);
  }
  const problems: PluginProblem[] = [];
  const loaded: { file: string; module: TransportModule }[] = [];
  const claimed = new Map<string, string>();
  for (const name of names.sort()) {
    const file = join(root, name);
    if (!statSync(file).isFile()) continue;
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    } catch (err) {
      problems.push({ file, message: `failed to load: ${(err as Error).message}` });
      continue;
    }
    const candidate = mod.default ?? mod.transport;
    if (candidate === undefined) {
      problems.push({ file, message: 'exports no transport module (export it as "default" or "transport")' });
      continue;
    }
    const problem = shapeProblem(candidate);
    if (problem) {
      problems.push({ file, message: `is not a valid transport module: ${problem}` });
      continue;
    }
    const module = candidate as TransportModule;
    const clash = module.types.find((t) => registry.get(t) !== undefined || claimed.has(t));
    if (clash) {
      const owner = claimed.get(clash) ?? 'a built-in transport';
      problems.push({ file, message: `type "${clash}" is already provided by ${owner}` });
      continue;
    }
    for (const t of module.types) claimed.set(t, file);
    loaded.push({ file, module });
  }
  if (problems.length) throw new PluginLoadError(problems);
  for (const { module } of loaded) registry.register(module);
}
