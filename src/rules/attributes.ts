/**
 * Topic attributes of an event (DESIGN.md section 2): built-ins plus the
 * configured name → JSON pointer map (`events.attributes`).
 *
 * Built in, lowest precedence first: every CloudEvents extension; then
 * `type`, `resourceType` and `event` (the parts of `type` before and after
 * its last dot; a type without a dot is both), `subject`, `source` and
 * `identifier` (`/webhook`, else extension `webhook`). A configured pointer
 * overrides a built-in of the same name when the event has a scalar value
 * there. Only scalars become attributes (numbers and booleans as text);
 * objects, arrays and null leave the attribute absent.
 */
import type { HookEvent } from '../source/index.ts';
import { compilePointer, type Pointer } from '../source/index.ts';

/**
 * Attribute name → value. A plain object: read values with a `typeof v ===
 * 'string'` check, since a name such as `constructor` reaches
 * `Object.prototype` (matchers do).
 */
export type Attributes = Record<string, string | undefined>;

const hasOwn = Object.prototype.hasOwnProperty;

export interface AttributeMap {
  /** Computes the attributes of one event: one object, no other allocation beyond the pointer lookups. */
  of(event: HookEvent): Attributes;
  /**
   * True when `type`, `resourceType` and `event` are the built-ins (none is
   * configured), so `resourceType` + `event` determine `type`. The index
   * relies on this to turn such topics into exact type keys.
   */
  readonly builtinType: boolean;
  /** Names of the configured attributes. */
  readonly configured: readonly string[];
}

/** The text of a scalar JSON value, undefined for anything else. */
export function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return undefined;
}

/** Compiles the configured pointers once. Throws `PointerSyntaxError` for a bad pointer. */
export function compileAttributeMap(configured: Record<string, string> = {}): AttributeMap {
  const names = Object.keys(configured);
  const pointers: Pointer[] = names.map((n) => compilePointer(configured[n]!));
  return {
    builtinType: !('type' in configured || 'resourceType' in configured || 'event' in configured),
    configured: names,
    of(event) {
      const type = event.type;
      const dot = type.lastIndexOf('.');
      // A literal of fixed shape: object spread costs microseconds here (V8 on Node 20).
      const attrs: Attributes = {
        type,
        resourceType: dot >= 0 ? type.slice(0, dot) : type,
        event: dot >= 0 ? type.slice(dot + 1) : type,
        subject: event.subject,
        source: event.source,
        identifier: scalarText(event.body.webhook) ?? event.extensions.webhook,
      };
      // Extensions below the built-ins: an extension named `identifier` does not select webhooks.
      const ext = event.extensions;
      for (const k in ext) {
        if (!hasOwn.call(attrs, k) && hasOwn.call(ext, k)) attrs[k] = ext[k];
      }
      for (let i = 0; i < pointers.length; i++) {
        const v = scalarText(pointers[i]!.get(event.body));
        if (v !== undefined) attrs[names[i]!] = v;
      }
      return attrs;
    },
  };
}
