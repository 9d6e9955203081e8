/**
 * Rendered transport fields (`request.fields`, from the transport's
 * `templateFields`). The renderer leaves out a field whose template found no
 * value, so a configured field missing from `request.fields` is `null` here
 * ("no value"), never the raw template: sending `{/data/missing}` literally
 * would be wrong. A field that is not configured at all is `undefined`.
 */
import type { Delivery } from './contract.ts';

export function renderedField(d: Delivery, data: object, key: string): unknown {
  const fields = d.request.fields;
  if (Object.hasOwn(fields, key)) return fields[key];
  return (data as Record<string, unknown>)[key] === undefined ? undefined : null;
}
