/** A stored delivery as the dispatcher reads it: what every backend hands out for a new delivery. */
import type { DueRow, NewDelivery } from './contract.ts';

export type QueuedFields = Pick<
  NewDelivery,
  | 'id'
  | 'eventId'
  | 'eventType'
  | 'webhookId'
  | 'identifier'
  | 'transport'
  | 'priority'
  | 'receivedAt'
  | 'request'
>;

export function dueRowOf(d: QueuedFields, attempts = 0): DueRow {
  return {
    id: d.id,
    event_id: d.eventId,
    event_type: d.eventType,
    webhook_id: d.webhookId,
    identifier: d.identifier,
    transport: d.transport,
    priority: d.priority,
    attempts,
    received_at: d.receivedAt,
    request: d.request,
  };
}
