/**
 * Starts a real Prometheus (Debian package `prometheus`) on a free loopback
 * port with temp storage and a temp config that scrapes the given targets
 * every second and evaluates the given rule files every second. Never binds
 * 9090. Queries go through the HTTP API, as Grafana's would.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { GiveUp, waitFor } from './wait.ts';

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PromAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing' | 'inactive';
  value: string;
}

/** An error answer from the Prometheus API (bad query, unknown function, ...). */
export class PromQueryError extends Error {
  constructor(
    readonly expr: string,
    readonly errorType: string,
    message: string,
  ) {
    super(`${errorType}: ${message} (in: ${expr})`);
  }
}

export interface Prometheus {
  url: string;
  port: number;
  /** Instant query at now; throws `PromQueryError` when Prometheus refuses it. */
  query(expr: string): Promise<PromSample[]>;
  /** Values of `label` on series matching `match` (Grafana's `label_values(match, label)`). */
  labelValues(label: string, match: string): Promise<string[]>;
  /** Active alerts (pending and firing). */
  alerts(): Promise<PromAlert[]>;
  /** Polls `expr` until `done(result)` holds; throws after `timeoutMs` with the last result. */
  waitFor(
    expr: string,
    done: (r: PromSample[]) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<PromSample[]>;
  stop(): Promise<void>;
}

const CANDIDATES = ['/usr/bin/prometheus', '/usr/local/bin/prometheus'];

function binary(): string {
  const broken: string[] = [];
  for (const p of CANDIDATES) {
    try {
      execFileSync(p, ['--version'], { stdio: 'ignore' });
      return p;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') broken.push(`${p} (${(err as Error).message})`);
    }
  }
  throw new Error(
    broken.length
      ? `prometheus does not run: ${broken.join('; ')}`
      : 'prometheus is not installed: run `node scripts/setup-peers.mjs` (or `apt-get install -y prometheus`, which brings promtool)',
  );
}

/** A free port that is not Prometheus' standard 9090 (which a system Prometheus may hold). */
async function port(): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (p !== 9090) return p;
  }
}

export async function startPrometheus(opts: {
  /** `host:port` of each hookd to scrape. */
  targets: string[];
  job?: string;
  ruleFiles?: string[];
}): Promise<Prometheus> {
  const bin = binary();
  const dir = mkdtempSync(join(tmpdir(), 'hookd-prom-'));
  const configPath = join(dir, 'prometheus.yml');
  // JSON is YAML: no YAML writer needed, and nothing to escape by hand.
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    rule_files: opts.ruleFiles ?? [],
    scrape_configs: [{ job_name: opts.job ?? 'hookd', static_configs: [{ targets: opts.targets }] }],
  };
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const p = await port();
  const url = `http://127.0.0.1:${p}`;
  let output = '';
  const child: ChildProcess = spawn(
    bin,
    [
      `--config.file=${configPath}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${p}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const append = (b: Buffer) => {
    output = (output + b.toString()).slice(-8000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await waitFor(
      `prometheus (pid ${child.pid}) to be ready on ${url}`,
      async () => {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new GiveUp(`prometheus exited with ${child.exitCode ?? child.signalCode}:\n${output}`);
        return (await fetch(`${url}/-/ready`)).ok;
      },
      { intervalMs: 100, saw: () => `its output:\n${output}` },
    );
  } catch (err) {
    await stop();
    throw err;
  }

  async function api<T>(path: string, expr = ''): Promise<T> {
    const r = await fetch(`${url}${path}`);
    const body = (await r.json()) as { status: string; data: T; errorType?: string; error?: string };
    if (body.status !== 'success')
      throw new PromQueryError(expr, body.errorType ?? 'error', body.error ?? '');
    return body.data;
  }

  const query = async (expr: string): Promise<PromSample[]> => {
    const data = await api<{ resultType: string; result: PromSample[] | [number, string] }>(
      `/api/v1/query?query=${encodeURIComponent(expr)}`,
      expr,
    );
    // Scalars and strings come back as one [time, value] pair.
    if (data.resultType === 'scalar' || data.resultType === 'string') {
      return [{ metric: {}, value: data.result as [number, string] }];
    }
    return data.result as PromSample[];
  };

  return {
    url,
    port: p,
    query,
    labelValues: (label, match) =>
      api<string[]>(`/api/v1/label/${encodeURIComponent(label)}/values?match[]=${encodeURIComponent(match)}`),
    alerts: async () => (await api<{ alerts: PromAlert[] }>('/api/v1/alerts')).alerts,
    waitFor: (expr, done, what, timeoutMs = 30_000) => {
      let last: PromSample[] = [];
      return waitFor(
        what,
        async () => {
          try {
            last = await query(expr);
          } catch (err) {
            // A query Prometheus refuses will not get better by asking again.
            if (err instanceof PromQueryError) throw new GiveUp(err.message, { cause: err });
            throw err;
          }
          return done(last) && last;
        },
        { timeoutMs, intervalMs: 250, saw: () => `\`${expr}\` returned ${JSON.stringify(last)}` },
      );
    },
    stop,
  };
}
