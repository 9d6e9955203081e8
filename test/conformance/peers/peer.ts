/**
 * What the conformance suite needs from each transport's real peer. A peer
 * factory starts the peer (on free loopback ports, temp dirs) and builds
 * deliveries for it; the suite drives the same checks against every one.
 */
import { randomUUID } from 'node:crypto';
import type { Webhook } from '../../../src/rules/webhook-schema.ts';
import type { Delivery, RenderedRequest, TransportModule } from '../../../src/transports/contract.ts';

export interface Arrival {
  /** The payload as the peer stored it. */
  body: string;
  /** Where a rendered template field shows (URL path, file path, subject). */
  rendered: string;
  /** The delivery id when the peer carries it (message id, header). */
  id?: string;
}

export type DeliveryFor = (marker: string) => Delivery | Promise<Delivery>;

/** A scripted failure: the delivery that provokes it and what the error must say. */
export interface Failure {
  delivery: DeliveryFor;
  error: RegExp;
}

export interface Peer {
  module: TransportModule;
  /** A delivery the running peer accepts; its body and a rendered field carry `marker`. */
  delivery(marker: string): Delivery;
  /** What the peer holds for `marker`, once a send of `delivery(marker)` succeeded. */
  arrival(marker: string): Promise<Arrival | undefined>;
  /** `delivery(marker)`, aimed at another loopback port. */
  deliveryTo(port: number, marker: string): Delivery;
  /** Deliveries the live peer rejects for good, by reason. */
  permanent: Record<string, Failure>;
  /** Deliveries the live peer fails for now (beyond peer down, refused and timeout), by reason. */
  retryable: Record<string, Failure>;
  stop(): Promise<void>;
}

export interface PeerFactory {
  name: string;
  start(): Promise<Peer>;
}

/** A rendered delivery for a webhook of `type` with `data`, as the outbox hands it to a transport. */
export function makeDelivery(
  type: string,
  data: Record<string, unknown>,
  request: Partial<RenderedRequest> & { body: string },
  extra: Partial<Webhook> = {},
): Delivery {
  const webhook: Webhook = {
    id: randomUUID(),
    source: 'file',
    identifier: `conformance-${type}`,
    type,
    typeName: type,
    priority: 0,
    active: true,
    state: 'Active',
    data,
    method: 'POST',
    headers: {},
    versionNo: 1,
    ...extra,
  };
  return {
    id: randomUUID(),
    eventId: randomUUID(),
    eventType: 'contact.created',
    attempt: 1,
    webhook,
    request: { headers: {}, contentType: 'application/json', fields: {}, ...request },
  };
}

/** A JSON body carrying the marker, as a template would render it. */
export const bodyFor = (marker: string) => JSON.stringify({ type: 'contact.created', data: { marker } });
