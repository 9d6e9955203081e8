/**
 * Runs hookd for tests: in process (`startHookd`) or as a child process
 * (`spawnHookd`, for kill -9 tests), with a temp store, temp rules and a
 * free port. Loopback targets are allowed (tests deliver to local receivers).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { App } from '../../src/app.ts';
import { loadTransports } from '../../src/catalog/index.ts';
import { type Config, type ConfigInput, ConfigSchema } from '../../src/config/schema.ts';
import { createLogger } from '../../src/logging.ts';
import { freePort } from './ports.ts';
import { GiveUp, waitFor } from './wait.ts';

export interface TestDirs {
  dir: string;
  rulesDir: string;
  storePath: string;
  configPath: string;
  cleanup(): void;
}

export function makeDirs(rules: Record<string, string> = {}): TestDirs {
  const dir = mkdtempSync(join(tmpdir(), 'hookd-test-'));
  const rulesDir = join(dir, 'rules');
  mkdirSync(rulesDir);
  for (const [name, text] of Object.entries(rules)) writeFileSync(join(rulesDir, name), text);
  writeFileSync(join(dir, 'hookd.yaml'), '# test config: settings come from HOOKD_* variables\n');
  return {
    dir,
    rulesDir,
    storePath: join(dir, 'hookd.db'),
    configPath: join(dir, 'hookd.yaml'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Deep-merges test overrides onto sensible test defaults. */
export function testConfig(dirs: TestDirs, overrides: ConfigInput = {}): Config {
  const base: ConfigInput = {
    store: { path: dirs.storePath },
    http: { host: '127.0.0.1', port: 0 },
    security: { allowPrivateNetworks: true },
    log: { level: 'silent' },
  };
  return ConfigSchema.parse(merge(base, overrides));
}

/** `b` deep-merged over `a` (objects merged key by key; arrays and values replaced). */
export function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
        ? merge(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

export interface RunningHookd {
  app: App;
  url: string;
  dirs: TestDirs;
  /** Every log line, parsed. */
  logs: Record<string, unknown>[];
  stop(): Promise<void>;
}

/** Calls a running hookd's API (no token: tests run without `api.tokens`); the answer's status and JSON body. */
export async function api(h: RunningHookd, method: string, path: string, body?: unknown) {
  const r = await fetch(`${h.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

export async function startHookd(opts: {
  rules?: Record<string, string>;
  config?: ConfigInput;
  dirs?: TestDirs;
  watchRules?: boolean;
  /** Level of the captured log (default info; successes are logged at debug). */
  logLevel?: string;
}): Promise<RunningHookd> {
  const dirs = opts.dirs ?? makeDirs(opts.rules);
  const config = testConfig(dirs, opts.config);
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line));
      cb();
    },
  });
  const app = await App.open({
    config,
    rulesDir: dirs.rulesDir,
    // The plugins of plugins.dir, as `hookd run` loads them.
    registry: config.plugins.dir ? await loadTransports(config) : undefined,
    logger: createLogger(opts.logLevel ?? 'info', sink),
    watchRules: opts.watchRules ?? false,
  });
  let port: number;
  try {
    ({ port } = await app.start());
  } catch (err) {
    // A half-started hookd (NATS connected, store open) must not outlive the failed start.
    await app.stop().catch(() => {});
    if (!opts.dirs) dirs.cleanup();
    throw err;
  }
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    dirs,
    logs,
    stop: async () => {
      await app.stop();
      if (!opts.dirs) dirs.cleanup();
    },
  };
}

export interface HookdProcess {
  child: ChildProcess;
  port: number;
  url: string;
  output: () => string;
  /** Resolves when the process exits. */
  exited: Promise<number | null>;
}

/** Starts `hookd run` as a child process with env overrides; resolves when /readyz answers. */
export async function spawnHookd(
  dirs: TestDirs,
  env: Record<string, string>,
  opts: {
    configPath?: string;
    nodeArgs?: string[];
    /** What node runs (default: the sources through tsx); e.g. a build's `cli.js`. */
    entry?: string[];
  } = {},
): Promise<HookdProcess> {
  const port = await freePort();
  let output = '';
  const child = spawn(
    process.execPath,
    [
      ...(opts.nodeArgs ?? []),
      ...(opts.entry ?? ['--import', 'tsx', 'src/cli.ts']),
      'run',
      '--config',
      opts.configPath ?? dirs.configPath,
      '--rules',
      dirs.rulesDir,
    ],
    {
      cwd: join(import.meta.dirname, '../..'),
      env: {
        ...process.env,
        HOOKD_HTTP_PORT: String(port),
        HOOKD_STORE_PATH: dirs.storePath,
        HOOKD_SECURITY_ALLOW_PRIVATE_NETWORKS: 'true',
        HOOKD_LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const append = (b: Buffer) => {
    output = (output + b.toString()).slice(-20_000);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      `hookd (pid ${child.pid}) to answer ${url}/healthz`,
      async () => {
        if (child.exitCode !== null) throw new GiveUp(`hookd exited with ${child.exitCode}:\n${output}`);
        return (await fetch(`${url}/healthz`)).ok;
      },
      { intervalMs: 100, saw: () => `its output:\n${output}` },
    );
  } catch (err) {
    // Never leave a half-started hookd behind.
    child.kill('SIGKILL');
    await exited;
    throw err;
  }
  return { child, port, url, output: () => output, exited };
}
