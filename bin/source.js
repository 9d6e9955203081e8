// Imports a module of hookd: the compiled one when built (dist/), else the
// TypeScript source through tsx (a development checkout, where tsx is a dev
// dependency). The image ships dist/ only.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** `name` without extension, relative to src/ (e.g. `cli`, `config/load`). */
export async function importHookd(name) {
  const built = join(root, 'dist', `${name}.js`);
  if (existsSync(built)) return import(pathToFileURL(built).href);
  const { register } = await import('tsx/esm/api');
  register();
  return import(pathToFileURL(join(root, 'src', `${name}.ts`)).href);
}
