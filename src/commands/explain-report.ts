/**
 * What `hookd explain` says about one event: every webhook with whether it
 * matched and why not, then the winners in dispatch order with the request
 * each would get, all from the compiled catalog `hookd run` uses, secrets
 * redacted by the one redaction of logs and API views (`redactWebhook`).
 */
import type { Catalog } from '../catalog/index.ts';
import {
  describeMatch,
  describeReason,
  type ExplainEntry,
  type ExplainResult,
  type Origin,
  type Webhook,
} from '../rules/index.ts';
import { redactWebhook, SECRET_HEADER_NAMES } from '../secrets/index.ts';
import type { HookEvent } from '../source/index.ts';
import type { RenderedRequest, TransportRegistry } from '../transports/index.ts';

/** Stand-in for a secret in explain's output. */
export const REDACTED = '<redacted>';

export interface ExplainContext {
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

function locationOf(w: Webhook, ctx: ExplainContext): string | undefined {
  const o = ctx.origins.get(w.id);
  if (!o) return undefined;
  const { line } = o.src.locate(o.prefix);
  return `${w.file ?? o.src.file}:${line}`;
}

export async function report(e: HookEvent, result: ExplainResult, ctx: ExplainContext): Promise<Report> {
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

async function winner(w: Webhook, e: HookEvent, ctx: ExplainContext): Promise<Winner> {
  const base: Winner = {
    id: w.id,
    identifier: w.identifier,
    label: labelOf(w),
    type: w.typeName,
    priority: w.priority,
    location: locationOf(w, ctx),
    addedAtSend: ctx.registry.get(w.type)?.describe?.(w, REDACTED) ?? [],
    data: redactData(w, w.data, ctx.registry),
  };
  try {
    // The templates `hookd run` renders with, compiled once by the catalog.
    const req = await ctx.catalog.templates.get(w.id)!.render(e);
    return { ...base, request: redactRequest(w, req, ctx.registry) };
  } catch (err) {
    return { ...base, renderError: (err as Error).message };
  }
}

/** `data` (or rendered `fields`, named like `data`) with the webhook's transport's secret fields replaced. */
function redactData(
  w: Webhook,
  data: Record<string, unknown>,
  registry: TransportRegistry,
): Record<string, unknown> {
  return redactWebhook({ data }, registry, () => REDACTED, w.type).data;
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

function redactRequest(w: Webhook, req: RenderedRequest, registry: TransportRegistry): RenderedRequest {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    headers[k] = SECRET_HEADER_NAMES.includes(k.toLowerCase()) ? REDACTED : v;
  }
  return { ...req, url: redactUrl(req.url), headers, fields: redactData(w, req.fields, registry) };
}
