/**
 * Compiles a webhook's templates once and renders the outgoing request for
 * one event (DESIGN.md section 3, "Templates"): target (url or hooks[]),
 * header values, transport fields and the body, all resolved against the
 * whole event object.
 *
 * Rendering is synchronous (a plain object) unless the templates used for
 * this event contain JSONata; then it returns a Promise.
 */
import type { Webhook } from '../rules/index.ts';
import type { HookEvent } from '../source/index.ts';
import { compilePointer, type Pointer } from '../source/index.ts';
import { type FieldPath, RenderError, TemplateCompileError } from './errors.ts';
import { defaultJsonataEngine, type JsonataEngine } from './jsonata-engine.ts';
import type { RenderedRequest } from './rendered-request.ts';
import { compileStringTemplate, type StringTemplate } from './string-template.ts';
import { compileUrlTemplate, type UrlTemplate } from './url-template.ts';
import { compileValueTemplate, mergeProperties, type ValueTemplate } from './value-template.ts';

export { RenderError, TemplateCompileError } from './errors.ts';

export interface WebhookTemplates {
  /** Throws (or, when async, rejects with) `RenderError`: a permanent delivery error. */
  render(event: HookEvent): RenderedRequest | Promise<RenderedRequest>;
  /** True when some template of this webhook is JSONata (its renders may be async). */
  readonly usesJsonata: boolean;
}

export interface CompileOptions {
  /** Keys of `webhook.data` rendered into `request.fields` (the transport's `templateFields`). */
  templateFields?: readonly string[];
  /**
   * JSON pointer to the event's content type id, used to pick
   * `templates["<resourceType>.<contentTypeId>"]`; pass the configured
   * `events.attributes.contentTypeId` when there is one.
   * Without it: the CloudEvents extension `contenttypeid`, then the first of
   * `DEFAULT_CONTENT_TYPE_POINTERS` that holds a string.
   */
  contentTypeId?: string;
  /** JSONata compiler; injectable so tests can observe it. @default defaultJsonataEngine */
  jsonata?: JsonataEngine;
}

/** Where a seed 003 style content type id is looked for, in order. */
export const DEFAULT_CONTENT_TYPE_POINTERS: readonly string[] = [
  '/contentTypeId',
  '/resource/sys/contentTypeId',
  '/data/contentTypeId',
  '/data/sys/contentTypeId',
];

// RFC 9110 token characters; header values must not carry line breaks or NUL.
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_HEADER_VALUE = /[\r\n\0]/;
const JSON_CONTENT_TYPE = /^application\/json\b|[/+]json\b/i;

interface Target {
  method: string;
  url: UrlTemplate | undefined;
}

interface TypePlan {
  /** Templates for this event's resourceType by contentTypeId, when there are any. */
  byContentType: Map<string, Body> | undefined;
  /** templates[resourceType], else the webhook's body. */
  fallback: Body;
}

const MAX_CACHED_TYPES = 1024;

/** A body template with `properties` already merged in when its shape allows (`merge`: merge per render). */
interface Body {
  template: ValueTemplate | undefined;
  merge: boolean;
}

export function compileWebhookTemplates(webhook: Webhook, opts: CompileOptions = {}): WebhookTemplates {
  const engine = opts.jsonata ?? defaultJsonataEngine;
  const headers = compileHeaders(webhook);
  const defaultTarget: Target = {
    method: webhook.method,
    url: webhook.url === undefined ? undefined : compileUrlTemplate(webhook.url, ['url']),
  };
  const hooks = compileHooks(webhook);

  const fieldKeys: string[] = [];
  const fieldTemplates: ValueTemplate[] = [];
  for (const k of opts.templateFields ?? []) {
    if (webhook.data[k] === undefined) continue;
    fieldKeys.push(k);
    fieldTemplates.push(compileValueTemplate(webhook.data[k], ['data', k], engine));
  }
  const fieldsAsync = fieldTemplates.some((t) => t.async);

  const properties =
    webhook.properties && Object.keys(webhook.properties).length > 0 ? webhook.properties : undefined;
  const body = (template: ValueTemplate | undefined): Body => {
    if (!properties) return { template, merge: false };
    const merged = template && mergeProperties(template, properties);
    return merged ? { template: merged, merge: false } : { template, merge: true };
  };
  const bodies = new Map<string, Body>();
  for (const [k, v] of Object.entries(webhook.templates ?? {})) {
    bodies.set(k, body(compileValueTemplate(v, ['templates', k], engine)));
  }
  const defaultBody = body(
    webhook.body === undefined ? undefined : compileValueTemplate(webhook.body, ['body'], engine),
  );
  const contentTypeIdOf = contentTypeIdReader(opts.contentTypeId);
  const contentType =
    typeof webhook.data.contentType === 'string' ? webhook.data.contentType : 'application/json';
  // A non-JSON content type (data.contentType) sends a rendered string as it is.
  const rawStrings = !JSON_CONTENT_TYPE.test(contentType);

  // Which templates an event type can use, worked out once per type (bounded: types are few).
  const plans = new Map<string, TypePlan>();
  const planFor = (type: string): TypePlan => {
    let plan = plans.get(type);
    if (plan) return plan;
    const dot = type.lastIndexOf('.');
    const resourceType = dot >= 0 ? type.slice(0, dot) : type;
    const prefix = `${resourceType}.`;
    const byContentType = new Map<string, Body>();
    for (const [key, b] of bodies) {
      if (key.startsWith(prefix)) byContentType.set(key.slice(prefix.length), b);
    }
    plan = {
      byContentType: byContentType.size > 0 ? byContentType : undefined,
      fallback: bodies.get(resourceType) ?? defaultBody,
    };
    if (plans.size < MAX_CACHED_TYPES) plans.set(type, plan);
    return plan;
  };
  // templates["<resourceType>.<contentTypeId>"], then templates["<resourceType>"], then body.
  const chooseBody = (event: HookEvent): Body => {
    const plan = planFor(event.type);
    if (plan.byContentType) {
      const contentTypeId = contentTypeIdOf(event);
      const b = contentTypeId === undefined ? undefined : plan.byContentType.get(contentTypeId);
      if (b) return b;
    }
    return plan.fallback;
  };

  const serialize = (value: unknown, merge: boolean): string => {
    let v = value === undefined ? null : value;
    if (merge && v !== null && typeof v === 'object' && !Array.isArray(v)) v = { ...v, ...properties };
    if (rawStrings && typeof v === 'string') return v;
    return JSON.stringify(v) ?? 'null';
  };

  const renderHeaders = (doc: unknown): Record<string, string> => {
    const h: Record<string, string> = {};
    for (let i = 0; i < headers.length; i++) {
      const [name, t] = headers[i]!;
      const v = t.text(doc);
      if (v === undefined) continue;
      if (t.placeholders.length > 0 && BAD_HEADER_VALUE.test(v)) {
        throw new RenderError(`headers.${name} renders to a value with a line break or NUL`, [
          'headers',
          name,
        ]);
      }
      h[name] = v;
    }
    return h;
  };

  // A field whose value is missing is left out, like a header.
  const fields = (values: unknown[]): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < fieldKeys.length; i++) {
      const v = values[i];
      if (v !== undefined && v !== null) out[fieldKeys[i]!] = v;
    }
    return out;
  };
  const syncFields = (doc: unknown): Record<string, unknown> => {
    if (fieldTemplates.length === 0) return {};
    return fields(fieldTemplates.map((t) => t.render(doc)));
  };

  const pickTarget = (type: string): Target => {
    if (!hooks) return defaultTarget;
    const hook = hooks.get(type) ?? hooks.get(type.slice(type.lastIndexOf('.') + 1));
    if (hook) return hook;
    if (defaultTarget.url) return defaultTarget;
    throw new RenderError(
      `no hooks[] entry for event type "${type}" (hook types: ${[...hooks.keys()].join(', ')}) and no url`,
      ['hooks'],
    );
  };

  const renderAsync = async (
    doc: Record<string, unknown>,
    target: Target,
    url: string | undefined,
    h: Record<string, string>,
    b: Body,
  ): Promise<RenderedRequest> => {
    const [values, value] = await Promise.all([
      Promise.all(fieldTemplates.map((t) => t.render(doc))),
      b.template ? b.template.render(doc) : doc,
    ]);
    return request(target, url, h, serialize(value, b.merge), contentType, fields(values));
  };

  return {
    usesJsonata:
      fieldsAsync ||
      defaultBody.template?.async === true ||
      [...bodies.values()].some((b) => b.template?.async),
    render(event) {
      const doc = event.body;
      const target = pickTarget(event.type);
      const url = target.url === undefined ? undefined : target.url.render(doc);
      const h = renderHeaders(doc);
      const b = bodies.size === 0 ? defaultBody : chooseBody(event);
      const t = b.template;
      if (fieldsAsync || t?.async) return renderAsync(doc, target, url, h, b);
      // The fast path: no JSONata for this event, a plain object back.
      const text =
        t === undefined
          ? serialize(doc, b.merge)
          : rawStrings || b.merge
            ? serialize(t.render(doc), b.merge)
            : t.json(doc);
      return request(target, url, h, text, contentType, syncFields(doc));
    },
  };
}

function request(
  target: Target,
  url: string | undefined,
  headers: Record<string, string>,
  body: string,
  contentType: string,
  fields: Record<string, unknown>,
): RenderedRequest {
  return url === undefined
    ? { headers, body, contentType, fields }
    : { method: target.method, url, headers, body, contentType, fields };
}

/** Non-secret headers with a value. Secret values are opaque and are added by the transport per attempt. */
function compileHeaders(webhook: Webhook): [string, StringTemplate][] {
  const out: [string, StringTemplate][] = [];
  for (const [name, spec] of Object.entries(webhook.headers)) {
    if (!HEADER_NAME.test(name)) {
      throw new TemplateCompileError(`"${name}" is not a valid HTTP header name`, ['headers', name]);
    }
    if (spec.secret || spec.value === undefined) continue;
    const path: FieldPath = ['headers', name, 'value'];
    if (BAD_HEADER_VALUE.test(spec.value)) {
      throw new TemplateCompileError(`header "${name}" contains a line break or NUL`, path);
    }
    // Header values are always text: a one-placeholder number or object is written as text/JSON.
    out.push([name, compileStringTemplate(spec.value, path)]);
  }
  return out;
}

/** Seed 004: method and endpoint per event type; the first entry for a type wins. */
function compileHooks(webhook: Webhook): Map<string, Target> | undefined {
  if (!webhook.hooks || webhook.hooks.length === 0) return undefined;
  const out = new Map<string, Target>();
  webhook.hooks.forEach((hook, i) => {
    const target = { method: hook.method, url: compileUrlTemplate(hook.endpoint, ['hooks', i, 'endpoint']) };
    if (!out.has(hook.type)) out.set(hook.type, target);
  });
  return out;
}

function contentTypeIdReader(pointer: string | undefined): (event: HookEvent) => string | undefined {
  const scalar = (v: unknown) =>
    typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
  if (pointer !== undefined) {
    let p: Pointer;
    try {
      p = compilePointer(pointer);
    } catch (err) {
      throw new TemplateCompileError(`contentTypeId pointer: ${(err as Error).message}`, [], { cause: err });
    }
    return (event) => scalar(p.get(event.body));
  }
  const pointers = DEFAULT_CONTENT_TYPE_POINTERS.map(compilePointer);
  return (event) => {
    const ext = event.extensions.contenttypeid;
    if (ext !== undefined) return ext;
    for (const p of pointers) {
      const v = scalar(p.get(event.body));
      if (v !== undefined) return v;
    }
    return undefined;
  };
}
