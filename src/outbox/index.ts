/** The outbox's public surface: the store contract and how to open one. */
export * from './contract.ts';
export { deliveryId } from './delivery-id.ts';
export { dueRowOf } from './due-row.ts';
export { DuplicateWebhookError, InvalidCursorError, StoreError } from './errors.ts';
export {
  type DispatchQueueOptions,
  JetStreamDispatchQueue,
  JetStreamWebhookStates,
  OutcomeFeed,
  type OutcomeRecord,
  openSharedState,
  ProbeClaims,
  ReplicaPresence,
  type SharedState,
  type StateRecord,
} from './jetstream/index.ts';
export { type DispatchSide, JetStreamStore, type JetStreamStoreOptions } from './jetstream/store.ts';
export { ensureStreams } from './jetstream/streams.ts';
export { RetentionLoop, type RetentionLoopDeps } from './retention-loop.ts';
export { openStore, SqliteStore } from './sqlite/index.ts';
