/**
 * Reads the shipped observability artifacts (the Grafana dashboard and the
 * Prometheus alert rules) into the queries a test can run, and substitutes
 * Grafana's variables the way Grafana does before it sends a query.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '../../..');
export const DASHBOARD_PATH = join(ROOT, 'config/grafana/hookd.json');
export const ALERTS_PATH = join(ROOT, 'config/prometheus/alerts.yml');
export const ALERT_TESTS_PATH = join(import.meta.dirname, 'alerts.promtool.yml');
export const PROMETHEUS_EXAMPLE_PATH = join(ROOT, 'config/prometheus/prometheus.example.yml');

export interface DataSourceRef {
  type?: string;
  uid?: string;
}

export interface Target {
  refId: string;
  expr: string;
  instant?: boolean;
  datasource?: DataSourceRef;
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: DataSourceRef;
  targets?: Target[];
  panels?: Panel[];
}

export interface Variable {
  name: string;
  type: string;
  query?: string | { query: string };
  definition?: string;
  datasource?: DataSourceRef;
  includeAll?: boolean;
  multi?: boolean;
  allValue?: string;
}

export interface Dashboard {
  title: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

export function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_PATH, 'utf8')) as Dashboard;
}

/** Panels grouped under the row that precedes them (Grafana's layout for uncollapsed rows). */
export function rows(d: Dashboard): { title: string; panels: Panel[] }[] {
  const out: { title: string; panels: Panel[] }[] = [];
  for (const p of d.panels) {
    if (p.type === 'row') out.push({ title: p.title, panels: [...(p.panels ?? [])] });
    else {
      if (out.length === 0) out.push({ title: '', panels: [] });
      out.at(-1)!.panels.push(p);
    }
  }
  return out;
}

export interface PanelQuery {
  row: string;
  panel: string;
  refId: string;
  expr: string;
}

export function panelQueries(d: Dashboard): PanelQuery[] {
  return rows(d).flatMap((r) =>
    r.panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({ row: r.title, panel: p.title, refId: t.refId, expr: t.expr })),
    ),
  );
}

export function variableQuery(v: Variable): string {
  return typeof v.query === 'string' ? v.query : (v.query?.query ?? v.definition ?? '');
}

/** `label_values(selector, label)` → its parts (the only variable query form the dashboard uses). */
export function parseLabelValues(q: string): { match: string; label: string } {
  const m = /^label_values\((.+),\s*([a-zA-Z_]\w*)\s*\)$/.exec(q.trim());
  if (!m) throw new Error(`not a label_values() query: ${q}`);
  return { match: m[1]!.trim(), label: m[2]! };
}

/**
 * Grafana's substitution: `$name` and `${name}` variables, then the
 * built-in intervals. `$__rate_interval` and `$__range` become `range`.
 */
export function substitute(expr: string, values: Record<string, string>, range = '5m'): string {
  let out = expr.replaceAll('$__rate_interval', range).replaceAll('$__interval', range);
  out = out.replaceAll('$__range', range);
  for (const [name, value] of Object.entries(values)) {
    out = out.replaceAll(`\${${name}}`, value).replace(new RegExp(`\\$${name}\\b`, 'g'), value);
  }
  const left = /\$\{?\w+/.exec(out);
  if (left) throw new Error(`unsubstituted variable ${left[0]} in ${out}`);
  return out;
}

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RuleFile {
  groups: { name: string; interval?: string; rules: AlertRule[] }[];
}

export function loadAlertRules(): RuleFile {
  return parse(readFileSync(ALERTS_PATH, 'utf8')) as RuleFile;
}

/** The series selectors an expression reads (`hookd_*` metrics and `up`), with their matchers. */
export function selectors(expr: string): string[] {
  return [...expr.matchAll(/\b((?:hookd|process|nodejs)_\w+|up)\b(\{[^}]*\})?/g)].map((m) => m[0]);
}

/** Runs promtool; returns its exit status and everything it printed (stdout and stderr). */
export function promtool(args: string[], input?: string): { status: number; output: string } {
  const r = spawnSync('promtool', args, { input, encoding: 'utf8' });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new Error('promtool is not installed: run `apt-get install -y prometheus` (Debian package)');
  }
  if (r.error) throw r.error;
  return { status: r.status ?? 1, output: `${r.stdout}${r.stderr}` };
}
