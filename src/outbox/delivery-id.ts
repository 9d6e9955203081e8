import { hash as oneShot } from 'node:crypto';

/** A lone surrogate (UTF-8 cannot keep it) or NUL (the first formula's separator). */
const UNSAFE_FOR_UTF8 = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]|\0/;

/** What makes an event itself (DESIGN.md section 2): CloudEvents' (`source`, `id`), or `id` alone. */
export interface EventIdentity {
  id: string;
  source?: string;
}

/**
 * A delivery's id, derived from (event identity, webhook id): the same pair
 * always gets the same id, so a NATS redelivery, a crash between store and
 * ack, or a retry all carry the same Standard Webhooks `webhook-id`; two
 * identities that differ in any code unit get different ids. A string is an
 * id without a source. One-shot hashes: a Hash object per delivery was
 * 2.7 % of a drain's main thread.
 */
export function deliveryId(identity: EventIdentity | string, webhookId: string): string {
  const event = typeof identity === 'string' ? { id: identity } : identity;
  if (event.source === undefined && !UNSAFE_FOR_UTF8.test(event.id)) {
    // The first formula, kept for plain ids: UTF-8 is exact for well-formed
    // strings and NUL cannot occur in the id, so ids of deliveries stored
    // before an upgrade stay the same when NATS redelivers their events.
    return `msg_${oneShot('sha256', `${event.id}\0${webhookId}`, 'base64url').slice(0, 27)}`;
  }
  // Exact code units (UTF-16; a lone surrogate is kept, not replaced by
  // U+FFFD as UTF-8 would), each part prefixed with its length.
  const parts = event.source === undefined ? ['id', event.id] : ['source+id', event.source, event.id];
  parts.push(webhookId);
  const bytes = Buffer.allocUnsafe(parts.reduce((n, p) => n + 4 + 2 * p.length, 0));
  let at = 0;
  for (const part of parts) {
    at = bytes.writeUInt32BE(2 * part.length, at);
    at += bytes.write(part, at, 'utf16le');
  }
  return `msg_${oneShot('sha256', bytes, 'base64url').slice(0, 27)}`;
}
