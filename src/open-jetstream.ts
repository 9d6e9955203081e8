/**
 * `store.backend: jetstream`, opened before the App (DESIGN.md section 8):
 * one NATS connection for the store (its streams, KV views and dispatch
 * queue), current before the App exists, and this replica's name. The App
 * joins the cluster (breakers, probes, shared states and rate limits) once
 * it exists (`App.open`).
 */
import type { Logger } from 'pino';
import type { Config } from './config/index.ts';
import { JetStreamDispatchQueue, JetStreamStore } from './outbox/index.ts';
import { KeyRing, specSeal } from './secrets/index.ts';
import type { TransportRegistry } from './transports/index.ts';

/** What is opened before the App with the jetstream store. */
export interface OpenedJetStream {
  replica: string;
  store: JetStreamStore;
  keys: KeyRing;
  seal: ReturnType<typeof specSeal>;
}

export interface JetStreamAppHooks {
  /** A webhook's cluster-wide concurrency: its queue's limit (the App's once it exists). */
  concurrency: (webhookId: string) => number;
  /** The queue has work for a webhook due at `at`. */
  onWork: (webhookId: string, at: number) => void;
  onError: (err: Error) => void;
}

/** Connects (waiting for NATS: hookd serves nothing before its store is there) and opens the store's streams. */
export async function openJetStream(
  config: Config,
  registry: TransportRegistry,
  replica: string,
  log: Logger,
  hooks: JetStreamAppHooks,
): Promise<OpenedJetStream> {
  const keys = new KeyRing(config.security.secretsKey, config.security.previousSecretsKeys);
  const seal = specSeal(keys, registry);
  const { replicas } = config.store.jetstream;
  log.info({ nats: config.nats.url, replica }, 'opening the jetstream store (waits for NATS)');
  const store = await JetStreamStore.connect(config.nats.url!, {
    name: `hookd ${replica}`,
    waitForServer: true,
    replicas,
    retention: config.store.retention,
    seal,
    onError: hooks.onError,
    dispatch: (nc) =>
      JetStreamDispatchQueue.open(nc, {
        replicas,
        retention: config.store.retention,
        // Above the longest attempt: a taken delivery goes to another replica only when this one is gone.
        ackWaitMs: Math.max(30_000, 2 * config.delivery.timeoutMs),
        concurrency: hooks.concurrency,
        onWork: hooks.onWork,
        onError: hooks.onError,
      }),
  });
  return { replica, store, keys, seal };
}
