/**
 * `hookd explain --event FILE [--subject S] [--json] [--config FILE]
 * [--rules DIR] [--at TIME]`: for one event (or a JSON array of events),
 * every webhook with whether it matched and the first reason it did not,
 * then the winners in dispatch order with the request each would get,
 * secrets redacted. Nothing is sent and no metric is counted.
 *
 * Exit 0 when it could explain (matched or not), 1 for invalid config,
 * rules or event, 2 for bad usage.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type Catalog, openCatalog } from '../catalog/index.ts';
import type { Config } from '../config/index.ts';
import { ConfigError, formatProblem, loadConfig } from '../config/index.ts';
import {
  describeMatch,
  describeReason,
  type ExplainEntry,
  type ExplainResult,
  type Origin,
  type Webhook,
} from '../rules/index.ts';
import { decodeEvent, type HookEvent } from '../source/index.ts';
import type { RenderedRequest, TransportRegistry } from '../transports/index.ts';
import type { Output } from './output.ts';

const USAGE = `usage: hookd explain --event FILE [--subject S] [--json] [--config FILE] [--rules DIR] [--at TIME]

  --event FILE    the event as JSON (one object, or an array of them)
  --subject S     the NATS subject it arrives on (default: http, as over HTTP ingest)
  --json          machine-readable output
  --config FILE   default: config/hookd.yaml when it exists, else the built-in defaults
  --rules DIR     default: rules
  --at TIME       check activeFrom/activeUntil at this time (ISO 8601) instead of now`;

const DEFAULT_CONFIG = 'config/hookd.yaml';

/** Stand-in for a secret in explain's output. */
export const REDACTED = '<redacted>';

/** Key names whose values are secret wherever they appear (transport data, rendered fields, headers). */
const SECRET_NAME = /pass(word|phrase)?$|secret|token|private.?key|api.?key|credential|authorization|^auth$/i;

class UsageError extends Error {}

export async function runExplain(argv: string[], out: Output): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (err) {
    out.stderr(`hookd explain: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    out.stdout(USAGE);
    return 0;
  }
  try {
    return await explain(args, out);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) out.stderr(formatProblem(p));
      return 1;
    }
    if (err instanceof UsageError) {
      out.stderr(`hookd explain: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      event: { type: 'string' },
      subject: { type: 'string', default: 'http' },
      json: { type: 'boolean', default: false },
      config: { type: 'string' },
      rules: { type: 'string', default: 'rules' },
      at: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (!values.help && values.event === undefined) throw new Error('--event FILE is required');
  if (values.at !== undefined && Number.isNaN(Date.parse(values.at))) {
    throw new Error(`--at: "${values.at}" is not a date or date-time`);
  }
  return { ...values, subject: values.subject!, rules: values.rules!, json: values.json! };
}

async function explain(args: ReturnType<typeof parse>, out: Output): Promise<number> {
  const configFile = args.config ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
  const config = loadConfig(configFile);
  // The catalog `hookd run` would compile: rule files, API webhooks of the store, plugins.
  const opened = await openCatalog({ config, rulesDir: args.rules, apiWebhooks: true });
  for (const s of opened.skipped)
    out.stderr(`hookd explain: webhook ${s.id}: ${s.message}: ${s.errors.join('; ')}`);
  const events = readEvents(args.event!, args.subject, config);
  const at = args.at === undefined ? Date.now() : Date.parse(args.at);
  const ctx: Ctx = { registry: opened.registry, origins: opened.origins, catalog: opened.catalog };
  const reports: Report[] = [];
  for (const e of events) reports.push(await report(e, opened.catalog.rules.explain(e, at), ctx));
  if (args.json) out.stdout(JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2));
  else out.stdout(reports.map((r) => formatText(r, opened.catalog.size)).join('\n\n'));
  return 0;
}

function readEvents(file: string, subject: string, config: Config): HookEvent[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --event ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file}: not JSON: ${(err as Error).message}`);
  }
  const items = Array.isArray(parsed) ? parsed : [parsed];
  return items.map((item, i) => {
    const d = decodeEvent({
      payload: JSON.stringify(item),
      subject,
      maxBytes: config.events.maxBytes,
      receivedAt: Date.now(),
      fallbackId: Array.isArray(parsed) ? `${file}#${i}` : file,
    });
    if (!d.ok)
      throw new UsageError(
        `${file}${Array.isArray(parsed) ? `[${i}]` : ''}: rejected (${d.reason}): ${d.detail}`,
      );
    return d.event;
  });
}

interface Ctx {
  registry: TransportRegistry;
  origins: Map<string, Origin>;
  catalog: Catalog;
}

/** What explain says about one event; also the `--json` shape. */
export interface Report {
  event: { id: string; type: string; subject: string; source?: string };
  at: string;
  attributes: Record<string, string>;
  webhooks: (WebhookRef & {
    matched: boolean;
    reason?: ExplainEntry['reason'];
    detail: string;
  })[];
  winners: Winner[];
}

/** How explain names a webhook. */
interface WebhookRef {
  id: string;
  identifier: string;
  /** What people call it: the identifier, or its name when the identifier is only the id. */
  label: string;
  type: string;
  priority: number;
  location?: string;
}

interface Winner extends WebhookRef {
  /** The rendered request as it would be stored, secrets redacted. */
  request?: RenderedRequest;
  /** Added per attempt by the transport, not stored: signature and credentials (described, not shown). */
  addedAtSend: string[];
  /** The transport's settings (`data`), secrets redacted. */
  data: Record<string, unknown>;
  /** Rendering failed: the delivery would fail permanently. */
  renderError?: string;
}

function labelOf(w: Webhook): string {
  if (w.identifier !== w.id || w.name === undefined) return w.identifier;
  return typeof w.name === 'string' ? w.name : (w.name['en-GB'] ?? Object.values(w.name)[0] ?? w.identifier);
}

function locationOf(w: Webhook, ctx: Ctx): string | undefined {
  const o = ctx.origins.get(w.id);
  if (!o) return undefined;
  const { line } = o.src.locate(o.prefix);
  return `${w.file ?? o.src.file}:${line}`;
}

async function report(e: HookEvent, result: ExplainResult, ctx: Ctx): Promise<Report> {
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(result.attributes)) if (v !== undefined) attributes[k] = v;
  const winners: Winner[] = [];
  for (const w of result.winners) winners.push(await winner(w, e, ctx));
  return {
    event: { id: e.id, type: e.type, subject: e.subject, source: e.source },
    at: new Date(result.at).toISOString(),
    attributes,
    webhooks: result.entries.map((entry) => ({
      id: entry.webhook.id,
      identifier: entry.webhook.identifier,
      label: labelOf(entry.webhook),
      type: entry.webhook.typeName,
      priority: entry.webhook.priority,
      location: locationOf(entry.webhook, ctx),
      matched: entry.matched,
      reason: entry.reason,
      detail: entry.matched ? describeMatch(entry.note!) : describeReason(entry.reason!),
    })),
    winners,
  };
}

async function winner(w: Webhook, e: HookEvent, ctx: Ctx): Promise<Winner> {
  const transport = ctx.registry.get(w.type);
  const secretPaths = (transport?.secretFields ?? []).map((f) => f.split('.'));
  const base: Winner = {
    id: w.id,
    identifier: w.identifier,
    label: labelOf(w),
    type: w.typeName,
    priority: w.priority,
    location: locationOf(w, ctx),
    addedAtSend: addedAtSend(w),
    data: redactData(w.data, secretPaths),
  };
  try {
    // The templates `hookd run` renders with, compiled once by the catalog.
    const req = await ctx.catalog.templates.get(w.id)!.render(e);
    return { ...base, request: redactRequest(req, secretPaths) };
  } catch (err) {
    return { ...base, renderError: (err as Error).message };
  }
}

/** What the transport adds per attempt: named, never shown. */
function addedAtSend(w: Webhook): string[] {
  const out: string[] = [];
  for (const [name, h] of Object.entries(w.headers)) {
    if (h.secret && h.value !== undefined) out.push(`header ${name}: ${REDACTED} (secret header)`);
  }
  const a = w.authentication;
  if (a !== undefined && a !== 'none' && a.type !== 'none') {
    if (a.type === 'basic') out.push(`authorization: Basic ${REDACTED} (user ${a.username})`);
    else if (a.type === 'bearer') out.push(`authorization: Bearer ${REDACTED}`);
    else
      out.push(
        `${a.header_format}: ${a.header_value_format.replace('%ACCESS_TOKEN%', REDACTED)} (OAuth2 token from ${a.endpoint})`,
      );
  }
  if (w.secret)
    out.push(
      `webhook-id, webhook-timestamp, webhook-signature: Standard Webhooks signature with the webhook secret ${REDACTED}`,
    );
  return out;
}

function isSecretName(key: string): boolean {
  return SECRET_NAME.test(key);
}

/** A copy with the transport's secret fields and secret-looking keys replaced, at any depth. */
function redactData(data: Record<string, unknown>, secretPaths: string[][]): Record<string, unknown> {
  const copy = structuredClone(data);
  for (const path of secretPaths) {
    let cur: unknown = copy;
    for (let i = 0; i < path.length - 1 && cur !== null && typeof cur === 'object'; i++) {
      cur = (cur as Record<string, unknown>)[path[i]!];
    }
    const last = path[path.length - 1]!;
    if (cur !== null && typeof cur === 'object' && (cur as Record<string, unknown>)[last] !== undefined) {
      (cur as Record<string, unknown>)[last] = REDACTED;
    }
  }
  return redactNames(copy) as Record<string, unknown>;
}

function redactNames(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redactNames);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v))
    out[k] = isSecretName(k) && x !== undefined ? REDACTED : redactNames(x);
  return out;
}

function redactUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    const u = new URL(url);
    if (!u.password && !u.username) return url;
    u.password = u.password ? 'redacted' : '';
    return u.toString().replace(':redacted@', `:${REDACTED}@`);
  } catch {
    return url;
  }
}

function redactRequest(req: RenderedRequest, secretPaths: string[][]): RenderedRequest {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k] = isSecretName(k) ? REDACTED : v;
  return {
    ...req,
    url: redactUrl(req.url),
    headers,
    fields: redactData(req.fields, secretPaths),
  };
}

const BODY_PREVIEW = 2000;

function formatText(r: Report, total: number): string {
  const lines: string[] = [];
  lines.push(
    `event ${r.event.id}  type ${JSON.stringify(r.event.type)}  subject ${r.event.subject}${
      r.event.source ? `  source ${r.event.source}` : ''
    }  at ${r.at}`,
  );
  lines.push(
    `attributes ${Object.entries(r.attributes)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(' ')}`,
  );
  lines.push('');
  lines.push(`webhooks (${total}, in dispatch order)`);
  const width = Math.min(36, Math.max(10, ...r.webhooks.map((w) => w.label.length)));
  const whereWidth = Math.max(0, ...r.webhooks.map((w) => (w.location ?? w.id).length));
  for (const w of r.webhooks) {
    const where = (w.location ?? w.id).padEnd(whereWidth);
    const prio = String(w.priority).padStart(2);
    lines.push(
      `  ${w.matched ? 'MATCH' : 'skip '}  ${w.label.padEnd(width)}  prio ${prio}  ${where}  ${w.detail}`,
    );
  }
  lines.push('');
  lines.push(r.winners.length ? `winners (${r.winners.length}, in dispatch order)` : 'winners: none');
  r.winners.forEach((w, i) => {
    lines.push(`  ${i + 1}. ${w.label} (${w.id})  ${w.type}${w.location ? `  ${w.location}` : ''}`);
    if (w.renderError) {
      lines.push(`     render failed, the delivery would fail permanently: ${w.renderError}`);
      return;
    }
    const req = w.request!;
    if (req.url !== undefined) lines.push(`     ${req.method ?? 'POST'} ${req.url}`);
    for (const [k, v] of Object.entries(req.headers)) lines.push(`     ${k}: ${v}`);
    for (const s of w.addedAtSend) lines.push(`     + ${s}`);
    const data = Object.entries(w.data);
    if (data.length && req.url === undefined) lines.push(`     data ${JSON.stringify(w.data)}`);
    for (const [k, v] of Object.entries(req.fields))
      lines.push(`     ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
    const body =
      req.body.length > BODY_PREVIEW
        ? `${req.body.slice(0, BODY_PREVIEW)}… (${req.body.length} bytes)`
        : req.body;
    lines.push(`     body (${req.contentType}) ${body}`);
  });
  return lines.join('\n');
}
