/**
 * Topic attributes of an event (DESIGN.md section 2): built-ins plus the
 * configured name → JSON pointer map (`events.attributes`).
 */
import type { HookEvent } from '../source/event.ts';
import { compilePointer, type Pointer } from '../templates/pointer.ts';

export type Attributes = Record<string, string | undefined>;

export interface AttributeMap {
  /** Computes the attributes of one event. */
  of(event: HookEvent): Attributes;
}

function scalar(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return undefined;
}

/** Compiles the configured pointers once. */
export function compileAttributeMap(configured: Record<string, string>): AttributeMap {
  const pointers: [string, Pointer][] = Object.entries(configured).map(([name, p]) => [name, compilePointer(p)]);
  return {
    of(event) {
      const type = event.type;
      const dot = type.lastIndexOf('.');
      const attrs: Attributes = {
        ...event.extensions,
        type,
        resourceType: dot >= 0 ? type.slice(0, dot) : type,
        event: dot >= 0 ? type.slice(dot + 1) : type,
        subject: event.subject,
        source: event.source,
        identifier: scalar(event.body.webhook) ?? event.extensions.webhook,
      };
      for (const [name, ptr] of pointers) {
        const v = scalar(ptr.get(event.body));
        if (v !== undefined) attrs[name] = v;
      }
      return attrs;
    },
  };
}
