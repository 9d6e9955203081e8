/**
 * Compiles a webhook's templates once and renders the outgoing request for
 * one event (DESIGN.md section 3, "Templates"). First cut: `{/pointer}`
 * placeholders in url, headers, transport fields and body templates.
 */
import type { HookEvent } from '../source/event.ts';
import type { Webhook } from '../rules/webhook-schema.ts';
import type { RenderedRequest } from '../transports/contract.ts';
import { compilePointer, type Pointer } from './pointer.ts';

/** A template could not be compiled; `path` is the field path inside the webhook. */
export class TemplateCompileError extends Error {
  readonly code = 'HOOKD_TEMPLATE_INVALID';
  constructor(
    message: string,
    readonly path: (string | number)[],
  ) {
    super(message);
  }
}

/** Rendering failed for this event: a permanent delivery error. */
export class RenderError extends Error {
  readonly code = 'HOOKD_RENDER_FAILED';
}

export interface WebhookTemplates {
  render(event: HookEvent): RenderedRequest | Promise<RenderedRequest>;
}

type Part = string | Pointer;
type StringTemplate = (doc: unknown, encode?: (s: string) => string) => unknown;

const PLACEHOLDER = /\{(\/[^{}]*)?\}/g;

function compileString(text: string, path: (string | number)[]): { tpl: StringTemplate; pointers: Pointer[] } {
  const parts: Part[] = [];
  let last = 0;
  for (const m of text.matchAll(PLACEHOLDER)) {
    if (m[1] === undefined) continue;
    parts.push(text.slice(last, m.index));
    try {
      parts.push(compilePointer(m[1].endsWith('/') ? m[1].slice(0, -1) : m[1]));
    } catch (err) {
      throw new TemplateCompileError((err as Error).message, path);
    }
    last = m.index! + m[0].length;
  }
  parts.push(text.slice(last));
  const pointers = parts.filter((p): p is Pointer => typeof p !== 'string');
  if (pointers.length === 0) return { tpl: () => text, pointers };
  if (parts.length === 3 && parts[0] === '' && parts[2] === '') {
    const p = parts[1] as Pointer;
    return { tpl: (doc) => p.get(doc), pointers };
  }
  return {
    pointers,
    tpl: (doc, encode) => {
      let out = '';
      for (const part of parts) {
        if (typeof part === 'string') out += part;
        else {
          const v = part.get(doc);
          if (v === undefined) return undefined;
          const s = typeof v === 'string' ? v : JSON.stringify(v);
          out += encode ? encode(s) : s;
        }
      }
      return out;
    },
  };
}

type ValueTemplate = (doc: unknown) => unknown;

function compileValue(value: unknown, path: (string | number)[]): ValueTemplate {
  if (typeof value === 'string') {
    const { tpl } = compileString(value, path);
    return (doc) => tpl(doc) ?? null;
  }
  if (Array.isArray(value)) {
    const items = value.map((v, i) => compileValue(v, [...path, i]));
    return (doc) => items.map((f) => f(doc));
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).map(([k, v]) => [k, compileValue(v, [...path, k])] as const);
    return (doc) => {
      const out: Record<string, unknown> = {};
      for (const [k, f] of entries) out[k] = f(doc);
      return out;
    };
  }
  return () => value;
}

export interface CompileOptions {
  /** Keys of `webhook.data` rendered into `request.fields`. */
  templateFields?: readonly string[];
}

export function compileWebhookTemplates(webhook: Webhook, opts: CompileOptions = {}): WebhookTemplates {
  const url = webhook.url === undefined ? undefined : compileString(webhook.url, ['url']);
  const headers = Object.entries(webhook.headers)
    .filter(([, h]) => !h.secret && h.value !== undefined)
    .map(([name, h]) => [name, compileString(h.value!, ['headers', name, 'value']).tpl] as const);
  const fields = (opts.templateFields ?? [])
    .filter((k) => webhook.data[k] !== undefined)
    .map((k) => [k, compileValue(webhook.data[k], ['data', k])] as const);
  const bodies = new Map(Object.entries(webhook.templates ?? {}).map(([k, v]) => [k, compileValue(v, ['templates', k])]));
  const defaultBody = webhook.body === undefined ? undefined : compileValue(webhook.body, ['body']);
  const properties = webhook.properties;

  return {
    render(event) {
      const doc = event.body;
      let renderedUrl: string | undefined;
      if (url) {
        const v = url.tpl(doc, encodeURIComponent);
        if (v === undefined || v === null) {
          const missing = url.pointers.filter((p) => p.get(doc) === undefined).map((p) => p.source);
          throw new RenderError(`url needs ${missing.join(', ')} but the event has no value there`);
        }
        renderedUrl = String(v);
      }
      const h: Record<string, string> = {};
      for (const [name, tpl] of headers) {
        const v = tpl(doc);
        if (v !== undefined && v !== null) h[name] = typeof v === 'string' ? v : JSON.stringify(v);
      }
      const f: Record<string, unknown> = {};
      for (const [k, tpl] of fields) f[k] = tpl(doc);
      const type = event.type;
      const dot = type.lastIndexOf('.');
      const resourceType = dot >= 0 ? type.slice(0, dot) : type;
      const contentTypeId = (doc.contentTypeId ?? (doc.data as Record<string, unknown> | undefined)?.contentTypeId) as
        | string
        | undefined;
      const tpl =
        (contentTypeId !== undefined ? bodies.get(`${resourceType}.${contentTypeId}`) : undefined) ??
        bodies.get(resourceType) ??
        defaultBody;
      let body: unknown = tpl ? tpl(doc) : doc;
      if (properties && body !== null && typeof body === 'object' && !Array.isArray(body)) {
        body = { ...(body as object), ...properties };
      }
      return {
        method: webhook.method,
        url: renderedUrl,
        headers: h,
        body: JSON.stringify(body),
        contentType: 'application/json',
        fields: f,
      };
    },
  };
}
