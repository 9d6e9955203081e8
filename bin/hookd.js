#!/usr/bin/env node
// Runs the compiled CLI when built (dist/), else the TypeScript sources through tsx.
import { importHookd } from './source.js';

const cli = await importHookd('cli');
process.exitCode = await cli.main(process.argv.slice(2));
