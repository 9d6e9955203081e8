import { mock } from 'node:test';
/** Shared pieces of the dispatch unit tests: a webhook, a stored delivery, a scripted transport. */

import { deliveryId } from '../../../src/outbox/delivery-id.ts';
import type { NewDelivery, StoredRequest } from '../../../src/outbox/index.ts';
import type { Webhook } from '../../../src/rules/webhook-schema.ts';
import type { Delivery, SendResult, TransportInstance } from '../../../src/transports/contract.ts';

export const webhook = (id: string, over: Partial<Webhook> = {}): Webhook =>
  ({
    id,
    identifier: id,
    type: 'http',
    state: 'Active',
    headers: {},
    data: {},
    priority: 0,
    active: true,
    method: 'POST',
    typeName: 'http',
    source: 'file',
    versionNo: 1,
    ...over,
  }) as Webhook;

export const delivery = (eventId: string, webhookId: string, at: number): NewDelivery => ({
  id: deliveryId(eventId, webhookId),
  eventId,
  eventType: 'x.y',
  webhookId,
  identifier: webhookId,
  transport: 'http',
  priority: 0,
  receivedAt: at,
  nextAttemptAt: at,
  request: { headers: {}, body: '{}', contentType: 'application/json', fields: {} } as StoredRequest,
});

/** A transport whose attempts stay open until the test answers them. */
export class ScriptedTransport implements TransportInstance {
  readonly open: { delivery: Delivery; answer: (r: SendResult) => void; signal: AbortSignal }[] = [];
  readonly sent: Delivery[] = [];

  send(delivery: Delivery, signal: AbortSignal): Promise<SendResult> {
    this.sent.push(delivery);
    return new Promise((answer) => {
      this.open.push({ delivery, answer, signal });
    });
  }

  /** Answers every open attempt (of one webhook, when given). */
  answerAll(result: SendResult, webhookId?: string): number {
    const now = this.open.filter((o) => webhookId === undefined || o.delivery.webhook.id === webhookId);
    for (const o of now) {
      this.open.splice(this.open.indexOf(o), 1);
      o.answer(result);
    }
    return now.length;
  }

  inFlightOf(webhookId: string): number {
    return this.open.filter((o) => o.delivery.webhook.id === webhookId).length;
  }

  async close(): Promise<void> {}
}

/** Moves the fake clock (`mock.timers`) and lets the pump, the attempts and the result writer run. */
export async function advance(ms: number): Promise<void> {
  await settle();
  mock.timers.tick(ms);
  await settle();
  mock.timers.tick(0);
  await settle();
}

/** Lets promise callbacks run (the fake clock does not move them). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await Promise.resolve();
}
