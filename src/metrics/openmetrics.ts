/**
 * The OpenMetrics 1.0 text format of hookd's registry, for scrapers that
 * ask for it (`Accept: application/openmetrics-text`, as Prometheus does).
 * prom-client's own OpenMetrics mode renames counters on the shared metric
 * objects (dropping `_total` from every later Prometheus-format scrape), so
 * the families are written here from the registry's JSON view instead.
 */
import type { Registry } from 'prom-client';

export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricsFormat = 'prometheus' | 'openmetrics';

/**
 * The format an `Accept` header prefers: OpenMetrics when it is listed with
 * a weight at least that of `text/plain` (or `text/plain` is absent).
 */
export function negotiateFormat(accept: string | undefined): MetricsFormat {
  if (!accept) return 'prometheus';
  let open = 0;
  let text = -1;
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const q = Number(params.find((p) => p.startsWith('q='))?.slice(2) ?? 1);
    const weight = Number.isFinite(q) ? q : 0;
    if (type === 'application/openmetrics-text') open = Math.max(open, weight);
    else if (type === 'text/plain') text = Math.max(text, weight);
  }
  return open > 0 && open >= text ? 'openmetrics' : 'prometheus';
}

const escapeHelp = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeLabel = escapeHelp;

function number(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

function labels(set: Record<string, string | number | undefined>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(set)) {
    if (v === undefined) continue;
    parts.push(`${k}="${escapeLabel(typeof v === 'number' ? number(v) : v)}"`);
  }
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** Writes every family of `registry` in OpenMetrics text, ending with `# EOF`. */
export async function openMetricsText(registry: Registry): Promise<string> {
  const lines: string[] = [];
  for (const metric of await registry.getMetricsAsJSON()) {
    const kind = String(metric.type);
    // A 1-valued gauge named *_info is an info family; counters are named without _total.
    let type = kind;
    let family = metric.name;
    if (kind === 'counter') family = metric.name.replace(/_total$/, '');
    else if (kind === 'gauge' && metric.name.endsWith('_info')) {
      type = 'info';
      family = metric.name.slice(0, -'_info'.length);
    }
    lines.push(`# TYPE ${family} ${type}`, `# HELP ${family} ${escapeHelp(metric.help)}`);
    for (const v of metric.values) {
      const named = v as typeof v & { metricName?: string };
      const sample = kind === 'counter' ? `${family}_total` : (named.metricName ?? metric.name);
      lines.push(`${sample}${labels(v.labels)} ${number(v.value)}`);
    }
  }
  lines.push('# EOF');
  return `${lines.join('\n')}\n`;
}
