/**
 * One hookd replica's dispatch in `jetstream` mode, for tests of
 * `JetStreamDispatchQueue`: its own NATS connection, the queue, the real
 * `Dispatcher` (policy, scheduler, result writer) and the real http
 * transport (loopback only), wired as app.ts wires them. `stop()` is a clean
 * shutdown; `kill()` is a replica gone: its connection closes before
 * anything it holds is settled or handed back.
 */
import { type ConnectionOptions, connect, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { ConfigSchema } from '../../src/config/schema.ts';
import { type Admission, Dispatcher, type DispatcherDeps } from '../../src/dispatch/index.ts';
import { Metrics } from '../../src/metrics/metrics.ts';
import { deliveryId, type NewDelivery } from '../../src/outbox/index.ts';
import { type DispatchQueueOptions, JetStreamDispatchQueue } from '../../src/outbox/jetstream/index.ts';
import type { Webhook } from '../../src/rules/webhook-schema.ts';
import { createHttp } from '../../src/transports/http/index.ts';
import { loopbackOnlyNetwork } from '../conformance/peers/network.ts';
import type { Peers } from '../helpers/peers.ts';
import { webhook } from '../unit/dispatch/fixtures.ts';

export const RETENTION = { succeeded: 3_600_000, failed: 3_600_000, rejected: 3_600_000 };

/** An http webhook posting to `url`, signed (so each request carries its delivery id as `webhook-id`). */
export function httpHook(id: string, url: string, over: Partial<Webhook> = {}): Webhook {
  return webhook(id, { url, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', ...over });
}

/** A rendered delivery of `hook` as intake hands it to the store, due at `at`. */
export function rendered(eventId: string, hook: Webhook, at = Date.now()): NewDelivery {
  return {
    id: deliveryId(eventId, hook.id),
    eventId,
    eventType: 'orders.created',
    webhookId: hook.id,
    identifier: hook.identifier,
    transport: 'http',
    priority: 0,
    receivedAt: at,
    nextAttemptAt: at,
    request: {
      method: 'POST',
      url: hook.url,
      headers: {},
      body: JSON.stringify({ eventId }),
      contentType: 'application/json',
      fields: {},
    } as NewDelivery['request'],
  };
}

export interface Replica {
  nc: NatsConnection;
  queue: JetStreamDispatchQueue;
  dispatcher: Dispatcher;
  errors: Error[];
  /** How often the queue told this replica that a webhook has work (`onWork`), by webhook. */
  told: Map<string, number>;
  /** Attempts this replica made, by webhook. */
  attempts: Map<string, number>;
  /** Clean shutdown: in-flight attempts finish (up to `graceMs`), their results are written, the rest handed back. */
  stop(graceMs?: number): Promise<void>;
  /** Gone: the connection closes first, nothing held is settled or handed back. */
  kill(): Promise<void>;
}

export interface ReplicaOptions {
  servers: string | string[];
  hooks: readonly Webhook[];
  /** Global concurrency of the dispatcher (default 32). */
  concurrency?: number;
  ackWaitMs?: number;
  replicas?: number;
  /** Whether a webhook may get attempts now (default: always). */
  admit?: (w: Webhook) => boolean;
  queue?: Partial<DispatchQueueOptions>;
  connection?: Partial<ConnectionOptions>;
}

export async function startReplica(peers: Peers, o: ReplicaOptions): Promise<Replica> {
  const byId = new Map(o.hooks.map((w) => [w.id, w]));
  const settings = ConfigSchema.parse({
    delivery: { concurrency: o.concurrency ?? 32, perWebhookConcurrency: 8, retry: { jitter: 0 } },
  }).delivery;
  const errors: Error[] = [];
  const attempts = new Map<string, number>();
  const told = new Map<string, number>();
  const nc = await connect({
    servers: o.servers,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
    ...o.connection,
  });
  let dispatcher: Dispatcher | undefined;
  let queue: JetStreamDispatchQueue;
  try {
    queue = await JetStreamDispatchQueue.open(nc, {
      replicas: o.replicas ?? 1,
      retention: RETENTION,
      concurrency: (id) => byId.get(id)?.concurrency ?? settings.perWebhookConcurrency ?? 8,
      ackWaitMs: o.ackWaitMs ?? 60_000,
      onWork: (id, at) => {
        told.set(id, (told.get(id) ?? 0) + 1);
        dispatcher?.notify(id, at);
      },
      onError: (err) => errors.push(err),
      ...o.queue,
    });
  } catch (err) {
    await nc.close();
    throw err;
  }
  const http = createHttp({
    logger: pino({ level: 'silent' }),
    timeoutMs: 10_000,
    security: { allowPrivateNetworks: true, allowList: [] },
    network: loopbackOnlyNetwork(),
  });
  const admit = o.admit;
  const admission: DispatcherDeps['admission'] = admit && {
    admit: (w: Webhook): Admission => ({ allowed: admit(w) ? Number.MAX_SAFE_INTEGER : 0, probe: false }),
    probeStarted: () => {},
  };
  dispatcher = new Dispatcher({
    work: queue,
    outbox: queue,
    webhook: (id) => byId.get(id),
    transport: () => http,
    settings,
    metrics: new Metrics({ perWebhookLabels: true }),
    logger: pino({ level: 'silent' }),
    admission,
    onAttempt: (w) => attempts.set(w.id, (attempts.get(w.id) ?? 0) + 1),
  });
  dispatcher.start();
  const d = dispatcher;
  let done = false;
  const stop = async (graceMs = 5000) => {
    if (done) return;
    done = true;
    await d.stop(graceMs);
    await queue.close();
    await http.close();
    await nc.close();
  };
  const kill = async () => {
    if (done) return;
    done = true;
    await nc.close();
    await queue.close();
    await d.stop(0);
    await http.close();
  };
  peers.defer('replica', stop);
  return { nc, queue, dispatcher, errors, attempts, told, stop, kill };
}
