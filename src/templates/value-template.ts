/**
 * JSON value templates: body templates and transport fields. Strings may hold
 * placeholders; an object that is exactly `{"jsonata": "<expression>"}` is a
 * JSONata expression evaluated against the event. Everything else is literal.
 *
 * A template compiles to synchronous functions unless some part of it is
 * JSONata; only then does rendering return a Promise. Synchronous templates
 * also write their JSON text directly (`json`), without building the value
 * first: the same bytes `JSON.stringify(render(doc))` would give, faster.
 */
import { formatPath } from '../config/index.ts';
import { type FieldPath, RenderError, TemplateCompileError } from './errors.ts';
import { type JsonataEngine, jsonataMessage } from './jsonata-engine.ts';
import { compileStringTemplate } from './string-template.ts';

export type ValueTemplate = SyncValueTemplate | AsyncValueTemplate;

export interface SyncValueTemplate {
  readonly async: false;
  /** The rendered value, or undefined when a top-level placeholder's value is missing. */
  render(doc: unknown): unknown;
  /** `JSON.stringify` of the rendered value, missing as `null`. */
  json(doc: unknown): string;
  /** The object's template keys and parts, when this is an object template (for compile-time merging). */
  readonly entries?: readonly (readonly [string, ValueTemplate])[];
}

export interface AsyncValueTemplate {
  readonly async: true;
  render(doc: unknown): Promise<unknown>;
  readonly entries?: readonly (readonly [string, ValueTemplate])[];
}

// Characters JSON.stringify would escape in a string (and surrogates, which it escapes when unpaired).
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * JSON text of a value. Strings that need no escaping are quoted by
 * concatenation: the same bytes as JSON.stringify, about twice as fast here,
 * and the body is flattened once at the end instead of once per value.
 */
function jsonOf(v: unknown): string {
  if (typeof v === 'string') return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`;
  return v === undefined ? 'null' : (JSON.stringify(v) ?? 'null');
}

/** A literal value: rendered as itself. */
export function literalTemplate(value: unknown): SyncValueTemplate {
  const text = jsonOf(value);
  return { async: false, render: () => value, json: () => text };
}

export function compileValueTemplate(value: unknown, path: FieldPath, engine: JsonataEngine): ValueTemplate {
  if (typeof value === 'string') {
    const t = compileStringTemplate(value, path);
    if (t.placeholders.length === 0) return literalTemplate(value);
    if (t.single) {
      const get = t.single.get;
      return { async: false, render: get, json: (doc) => jsonOf(get(doc)) };
    }
    return { async: false, render: (doc) => t.text(doc), json: (doc) => jsonOf(t.text(doc)) };
  }
  if (Array.isArray(value))
    return arrayTemplate(value.map((v, i) => compileValueTemplate(v, [...path, i], engine)));
  if (value !== null && typeof value === 'object') {
    if (Object.hasOwn(value, 'jsonata')) return compileJsonata(value as { jsonata: unknown }, path, engine);
    const entries = Object.keys(value).map(
      (k) => [k, compileValueTemplate((value as Record<string, unknown>)[k], [...path, k], engine)] as const,
    );
    return objectTemplate(entries);
  }
  return literalTemplate(value);
}

function compileJsonata(
  value: { jsonata: unknown },
  path: FieldPath,
  engine: JsonataEngine,
): AsyncValueTemplate {
  const at = [...path, 'jsonata'];
  const extra = Object.keys(value).filter((k) => k !== 'jsonata');
  if (extra.length > 0) {
    throw new TemplateCompileError(
      `a {"jsonata": ...} template takes no other keys (found ${extra.map((k) => `"${k}"`).join(', ')})`,
      path,
    );
  }
  const expression = value.jsonata;
  if (typeof expression !== 'string' || expression.trim() === '') {
    throw new TemplateCompileError('"jsonata" must be a non-empty JSONata expression string', at);
  }
  let compiled: ReturnType<JsonataEngine['compile']>;
  try {
    compiled = engine.compile(expression);
  } catch (err) {
    throw new TemplateCompileError(`JSONata syntax error: ${jsonataMessage(err)}`, at, { cause: err });
  }
  const where = formatPath(path);
  return {
    async: true,
    render: (doc) =>
      compiled.evaluate(doc).then(undefined, (err: unknown) => {
        throw new RenderError(
          `${where}: JSONata expression ${JSON.stringify(expression)} failed: ${jsonataMessage(err)}`,
          at,
          { cause: err },
        );
      }),
  };
}

/** Missing values inside objects and arrays become null (DESIGN.md section 3). */
const orNull = (v: unknown) => (v === undefined ? null : v);

function arrayTemplate(items: ValueTemplate[]): ValueTemplate {
  const n = items.length;
  if (items.some((t) => t.async)) {
    return {
      async: true,
      render: async (doc) => (await Promise.all(items.map((t) => t.render(doc)))).map(orNull),
    };
  }
  const sync = items as SyncValueTemplate[];
  return {
    async: false,
    render(doc) {
      const out = new Array<unknown>(n);
      for (let i = 0; i < n; i++) out[i] = orNull(sync[i]!.render(doc));
      return out;
    },
    json(doc) {
      if (n === 0) return '[]';
      let out = `[${sync[0]!.json(doc)}`;
      for (let i = 1; i < n; i++) out += `,${sync[i]!.json(doc)}`;
      return `${out}]`;
    },
  };
}

/** An object template from its keys and parts, in order. Exported for compile-time `properties` merging. */
export function objectTemplate(entries: readonly (readonly [string, ValueTemplate])[]): ValueTemplate {
  const keys = entries.map(([k]) => k);
  const items = entries.map(([, t]) => t);
  const n = keys.length;
  // A key named __proto__ must become an own property, not the prototype.
  const protoKey = keys.indexOf('__proto__');
  const build = (values: unknown[]) => {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      if (i === protoKey) {
        Object.defineProperty(out, '__proto__', {
          value: values[i],
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else out[keys[i]!] = values[i];
    }
    return out;
  };
  if (items.some((t) => t.async)) {
    return {
      async: true,
      entries,
      render: async (doc) => build((await Promise.all(items.map((t) => t.render(doc)))).map(orNull)),
    };
  }
  const sync = items as SyncValueTemplate[];
  // `"key":` with its leading `{` or `,`, worked out once.
  const prefixes = keys.map((k, i) => `${i === 0 ? '{' : ','}${JSON.stringify(k)}:`);
  return {
    async: false,
    entries,
    render(doc) {
      if (protoKey >= 0) return build(sync.map((t) => orNull(t.render(doc))));
      const out: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) out[keys[i]!] = orNull(sync[i]!.render(doc));
      return out;
    },
    json(doc) {
      if (n === 0) return '{}';
      let out = '';
      for (let i = 0; i < n; i++) out += prefixes[i]! + sync[i]!.json(doc);
      return `${out}}`;
    },
  };
}

/**
 * `{...template, ...properties}` decided at compile time for an object
 * template: a property replaces the part with its key in place, new keys go
 * last. Other templates return undefined (their shape is only known per event).
 */
export function mergeProperties(
  t: ValueTemplate,
  properties: Record<string, unknown>,
): ValueTemplate | undefined {
  if (!t.entries) return undefined;
  const merged = t.entries.map(([k, v]) =>
    Object.hasOwn(properties, k) ? ([k, literalTemplate(properties[k])] as const) : ([k, v] as const),
  );
  for (const k of Object.keys(properties)) {
    if (!t.entries.some(([key]) => key === k)) merged.push([k, literalTemplate(properties[k])] as const);
  }
  return objectTemplate(merged);
}
