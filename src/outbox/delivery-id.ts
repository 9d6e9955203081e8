import { createHash } from 'node:crypto';

/**
 * A delivery's id, derived from (event id, webhook id): the same pair always
 * gets the same id, so a NATS redelivery, a crash between store and ack, or a
 * retry all carry the same Standard Webhooks `webhook-id`.
 */
export function deliveryId(eventId: string, webhookId: string): string {
  return `msg_${createHash('sha256').update(eventId).update('\0').update(webhookId).digest('base64url').slice(0, 27)}`;
}
