#!/usr/bin/env node
// Runs the compiled CLI when built (dist/), else the TypeScript sources through tsx.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'cli.js');
let cli;
if (existsSync(built)) cli = await import(pathToFileURL(built).href);
else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(pathToFileURL(join(root, 'src', 'cli.ts')).href);
}
process.exitCode = await cli.main(process.argv.slice(2));
