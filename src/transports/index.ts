/**
 * Transports: the contract, the explicit registry, and the built-ins. They
 * come before outbox, catalog and dispatch in the import order: the catalog
 * validates webhooks against their schemas and the dispatcher calls them.
 * This file is the folder's surface: other folders import only from here.
 */
export type {
  Delivery,
  HostContext,
  HttpClient,
  HttpClientRequest,
  RenderedRequest,
  SendResult,
  TransportContext,
  TransportInstance,
  TransportModule,
  TransportSender,
  TypedDelivery,
} from './contract.ts';
export { permanent, retryable, success } from './contract.ts';
export { createHttpClient } from './http/client.ts';
export { TransportInstances } from './instances.ts';
export { BUILTIN_TRANSPORTS, instantiate, TransportRegistry } from './registry.ts';
