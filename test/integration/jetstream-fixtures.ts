/** A rendered delivery as intake hands it to the `jetstream` delivery queue (tests of outbox/jetstream). */
import { deliveryId, type NewDelivery } from '../../src/outbox/index.ts';

export const newDelivery = (eventId: string, webhookId: string, at = 1_700_000_000_000): NewDelivery => ({
  id: deliveryId(eventId, webhookId),
  eventId,
  eventType: 'orders.created',
  webhookId,
  identifier: webhookId,
  transport: 'http',
  priority: 0,
  receivedAt: at,
  nextAttemptAt: at + 5,
  request: { body: JSON.stringify({ eventId, webhookId }) },
});
