#!/usr/bin/env node
// The image's HEALTHCHECK: GET /healthz where hookd listens, from the same
// config hookd reads (the --config of the running `hookd run`, PID 1 in the
// container, else config/hookd.yaml) with the same HOOKD_* overrides.
// Exit 0 when it answers 200, else 1 with the reason.
import { readFileSync } from 'node:fs';
import { importHookd } from './source.js';

function configFile() {
  const fromArgs = process.argv.indexOf('--config');
  if (fromArgs >= 0) return process.argv[fromArgs + 1];
  try {
    const args = readFileSync('/proc/1/cmdline', 'utf8').split('\0');
    const i = args.indexOf('--config');
    if (i >= 0 && args[i + 1]) return args[i + 1];
  } catch {
    // Not in a container or no /proc: the default below.
  }
  return 'config/hookd.yaml';
}

let url = '(no config)';
try {
  const { loadConfig } = await importHookd('config/load');
  const { healthUrl } = await importHookd('config/health-url');
  url = healthUrl(loadConfig(configFile()).http);
  const r = await fetch(url, { signal: AbortSignal.timeout(2500) });
  if (!r.ok) throw new Error(`answered ${r.status}`);
  process.exitCode = 0;
} catch (err) {
  const cause =
    err instanceof Error ? `${err.message}${err.cause ? ` (${err.cause.message ?? err.cause})` : ''}` : err;
  console.error(`hookd healthcheck: ${url}: ${cause}`);
  process.exitCode = 1;
}
