/**
 * `HOOKD_<SECTION>_<KEY>` overrides (DESIGN.md section 1): the key path in
 * upper snake case, e.g. `HOOKD_NATS_URL`, `HOOKD_DELIVERY_TIMEOUT_MS`,
 * `HOOKD_DELIVERY_RETRY_SCHEDULE`, `HOOKD_SECURITY_ALLOW_PRIVATE_NETWORKS`.
 * The names are derived from the schema, so every setting has one.
 */
import type { z } from 'zod';
import type { Problem } from './problems.ts';

export function upperSnake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

type Leaf = { path: string[]; kind: 'string' | 'number' | 'boolean' | 'json' };

function unwrap(s: z.core.$ZodType): z.core.$ZodType {
  let cur = s;
  for (;;) {
    const def = cur._zod.def as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType };
    if (def.innerType) cur = def.innerType;
    else if (def.type === 'pipe' && def.in) cur = def.in;
    else return cur;
  }
}

/** Every leaf setting of an object schema with its value kind. */
export function leaves(schema: z.core.$ZodType, prefix: string[] = []): Leaf[] {
  const s = unwrap(schema);
  const def = s._zod.def as { type: string; shape?: Record<string, z.core.$ZodType> };
  if (def.type === 'object' && def.shape) {
    return Object.entries(def.shape).flatMap(([k, v]) => leaves(v, [...prefix, k]));
  }
  const kind =
    def.type === 'string' || def.type === 'enum' || def.type === 'literal'
      ? 'string'
      : def.type === 'number'
        ? 'number'
        : def.type === 'boolean'
          ? 'boolean'
          : 'json';
  return [{ path: prefix, kind }];
}

/**
 * Applies overrides from `env` onto the parsed file value. Lists and maps
 * take JSON (`["5s","1m"]`) or, for lists of strings, comma-separated text.
 */
export function applyEnv(
  schema: z.core.$ZodType,
  value: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): { value: Record<string, unknown>; problems: Problem[]; applied: { name: string; path: string[] }[] } {
  const out = structuredClone(value);
  const problems: Problem[] = [];
  const applied: { name: string; path: string[] }[] = [];
  for (const leaf of leaves(schema)) {
    const name = `HOOKD_${leaf.path.map(upperSnake).join('_')}`;
    const raw = env[name];
    if (raw === undefined) continue;
    let v: unknown = raw;
    if (leaf.kind === 'number') {
      v = Number(raw);
      if (raw.trim() === '' || Number.isNaN(v)) {
        problems.push({
          file: `env ${name}`,
          line: 1,
          col: 1,
          message: `${name}: expected a number, got "${raw}"`,
        });
        continue;
      }
    } else if (leaf.kind === 'boolean') {
      if (!/^(true|false|1|0)$/i.test(raw)) {
        problems.push({
          file: `env ${name}`,
          line: 1,
          col: 1,
          message: `${name}: expected true or false, got "${raw}"`,
        });
        continue;
      }
      v = /^(true|1)$/i.test(raw);
    } else if (leaf.kind === 'json') {
      try {
        v = JSON.parse(raw);
      } catch {
        v = raw
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean);
      }
    }
    let node = out as Record<string, unknown>;
    for (const seg of leaf.path.slice(0, -1)) {
      if (node[seg] === null || typeof node[seg] !== 'object') node[seg] = {};
      node = node[seg] as Record<string, unknown>;
    }
    node[leaf.path[leaf.path.length - 1]!] = v;
    applied.push({ name, path: leaf.path });
  }
  return { value: out, problems, applied };
}
