/**
 * Transports: the contract, the explicit registry, and the built-ins. They
 * come before outbox, catalog and dispatch in the import order: the catalog
 * validates webhooks against their schemas and the dispatcher calls them.
 * This file is the folder's surface: other folders import only from here.
 */
export type {
  Delivery,
  RenderedRequest,
  SendResult,
  TransportInstance,
  TransportModule,
} from './contract.ts';
export { BUILTIN_TRANSPORTS, TransportRegistry } from './registry.ts';
