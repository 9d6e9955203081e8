/**
 * The `jetstream` backend (DESIGN.md section 8, issue 15): the shared state
 * every replica watches (API webhooks in `HOOKD_WEBHOOKS`, webhook states in
 * `HOOKD_STATES`), and the deliveries' streams with the queue the
 * dispatcher works from (`JetStreamDispatchQueue`: intake, per-webhook
 * consumers, the waiting room for retries, end records and dead letters).
 * The store every replica opens (`JetStreamStore`, store.ts) answers the
 * API's reads from the streams; the breakers' outcome stream and probe
 * claims are outcomes.ts and probes.ts.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { SpecSeal } from '../contract.ts';
import { decodeWebhooksEntry, JetStreamApiWebhooks, type WebhooksEntry } from './api-webhooks.ts';
import { openBucket, STATES_BUCKET, WEBHOOKS_BUCKET } from './buckets.ts';
import { KvView } from './kv-view.ts';
import { WebhookNumbers } from './webhook-numbers.ts';
import { decodeStateRecord, JetStreamWebhookStates, type StateRecord } from './webhook-states.ts';

export { JetStreamApiWebhooks, type WebhookRecord } from './api-webhooks.ts';
export { idToken, NUMBERS_STREAM, STATES_BUCKET, tokenId, WEBHOOKS_BUCKET } from './buckets.ts';
export {
  type AckableEvent,
  ATTEMPT_HEADER,
  DELIVERIES_STREAM,
  DeliveryQueue,
  deliverySubject,
  NOT_BEFORE_HEADER,
  type QueuedDelivery,
} from './delivery-queue.ts';
export { type DispatchQueueOptions, JetStreamDispatchQueue } from './dispatch-queue.ts';
export { decodeOutcome, OutcomeFeed, type OutcomeFeedOptions } from './outcomes.ts';
export { type PresenceOptions, REPLICAS_BUCKET, ReplicaPresence } from './presence.ts';
export { ProbeClaims } from './probes.ts';
export {
  DEAD_LETTERS_STREAM,
  type FinishedRecord,
  msgIds,
  OUTCOMES_STREAM,
  type OutcomeRecord,
  PROBES_STREAM,
  type QueuedMessage,
  REASON_HEADER,
  REJECTED_STREAM,
  RETRIES_STREAM,
  type RejectedRecord,
  SUCCEEDED_STREAM,
  subjects,
} from './records.ts';
export { backlogByWebhook, ensureStreams } from './streams.ts';
export { RETRIES_CONSUMER } from './waiting-room.ts';
export { consumerName } from './webhook-queue.ts';
export { JetStreamWebhookStates, type StateRecord } from './webhook-states.ts';

export interface SharedStateOptions {
  /** Replicas of the buckets and streams hookd creates (`store.jetstream.replicas`: 3 on a cluster). */
  replicas: number;
  seal?: SpecSeal;
  /** Failed background writes and unreadable entries (also reported by `flush`). */
  onError?: (err: Error) => void;
  /** How long a KV write is retried before it fails and is undone in the view (default 30 s). */
  writeDeadlineMs?: number;
}

/** One replica's view of the shared state, current once `openSharedState` resolves. */
export interface SharedState {
  readonly webhooks: JetStreamApiWebhooks;
  readonly webhookStates: JetStreamWebhookStates;
  /** Waits until every write made through this replica is in the buckets; rejects with the first failure. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export async function openSharedState(nc: NatsConnection, opts: SharedStateOptions): Promise<SharedState> {
  const { onError, writeDeadlineMs } = opts;
  const hooks = await KvView.open<WebhooksEntry>(
    await openBucket(nc, WEBHOOKS_BUCKET, opts.replicas),
    WEBHOOKS_BUCKET,
    {
      decode: decodeWebhooksEntry,
      onError,
      writeDeadlineMs,
    },
  );
  const states = await KvView.open<StateRecord>(
    await openBucket(nc, STATES_BUCKET, opts.replicas),
    STATES_BUCKET,
    {
      decode: decodeStateRecord,
      onError,
      writeDeadlineMs,
    },
  );
  const numbers = await WebhookNumbers.open(nc, { replicas: opts.replicas, onError });
  return {
    webhooks: new JetStreamApiWebhooks(hooks, numbers, opts.seal),
    webhookStates: new JetStreamWebhookStates(states),
    flush: async () => {
      // Both views' writes are awaited before either's failure is reported.
      const done = await Promise.allSettled([hooks.flush(), states.flush()]);
      const failed = done.find((d) => d.status === 'rejected');
      if (failed) throw failed.reason;
    },
    close: async () => {
      await Promise.all([hooks.close(), states.close()]);
    },
  };
}
