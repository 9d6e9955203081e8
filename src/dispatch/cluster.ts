/**
 * Breakers, webhook states and rate limits cluster-wide
 * (`store.backend: jetstream`, DESIGN.md section 8), wired onto one
 * replica's `WebhookStates` and dispatcher:
 *
 * - **Breakers by construction, no compare-and-set** (nats-server #4320):
 *   this replica's attempt outcomes go to `HOOKD_OUTCOMES` instead of its
 *   own breakers; every replica reads that stream in its order and feeds its
 *   breakers from it alone, with each record's time as the clock, so all
 *   reach the same transition at the same record and save the same whole
 *   state record (idempotent). A 410 still stops the webhook at once.
 * - **One probe per cooldown**: a half-open probe goes out only from the
 *   replica whose claim of the round `HOOKD_PROBES` stored (`ProbeRounds`).
 * - **States set through another replica** (`HOOKD_STATES`) are applied and
 *   reported here (a resumed webhook drains), never written back.
 * - **Rate limits**: each replica takes `rateLimit / live replicas`
 *   (`HOOKD_REPLICAS`), approximate while replicas join or leave.
 *
 * Attach before the dispatcher starts, and pass `replicas()` to the
 * dispatcher's `rateLimitReplicas` and `onAttempt` as its `onAttempt`.
 */
import { hostname } from 'node:os';
import type { NatsConnection } from '@nats-io/transport-node';
import { OutcomeFeed, ProbeClaims, ReplicaPresence } from '../outbox/index.ts';
import type { Webhook } from '../rules/index.ts';
import type { SendResult } from '../transports/index.ts';
import type { Decision } from './delivery-policy.ts';
import { ProbeRounds } from './probe-rounds.ts';
import { UnseenFailures } from './unseen-failures.ts';
import type { SavedState, WebhookStates } from './webhook-states.ts';

export interface ClusterDeps {
  nc: NatsConnection;
  /** Replicas of the streams and the bucket when created (`store.jetstream.replicas`). */
  replicas: number;
  /** This replica's name in what it publishes (default: host, pid and a random part). */
  replica?: string;
  states: WebhookStates;
  /** `HOOKD_STATES` as this replica follows it (`JetStreamWebhookStates`): changes made through others. */
  sharedStates: { onRemoteChange(fn: (webhookId: string, saved: SavedState | undefined) => void): void };
  /** The webhook as currently configured (undefined: not known here, or removed). */
  webhook: (id: string) => Webhook | undefined;
  /** Asks the dispatcher for admissions again (a probe's round was claimed; the replicas changed). */
  wake: () => void;
  /** The longest breaker cooldown in force: claims are remembered at least this long. */
  maxCooldownMs?: number;
  /** Outcomes or claims that could not be published, unreadable records. */
  onError?: (err: Error) => void;
  heartbeatMs?: number;
  /** Successes of one webhook are summed over this long before they are published (default 250 ms). */
  batchMs?: number;
}

export interface Cluster {
  readonly replica: string;
  /** The dispatcher's `onAttempt`: a 410 stops the webhook; every other outcome goes to the outcome stream. */
  onAttempt(w: Webhook, decision: Decision, result: SendResult, deliveryId: string): void;
  /** Replicas running now, this one included (the dispatcher's `rateLimitReplicas`). */
  replicas(): number;
  /** Publishes pending outcomes and waits for them. */
  flush(): Promise<void>;
  /** Flushes, stops reading, and leaves the replica count. */
  close(): Promise<void>;
}

export async function attachCluster(deps: ClusterDeps): Promise<Cluster> {
  const { nc, states, webhook, onError } = deps;
  const replica = deps.replica ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const claims = await ProbeClaims.open(nc, {
    replicas: deps.replicas,
    replica,
    windowMs: deps.maxCooldownMs,
  });
  const rounds = new ProbeRounds({
    claim: (id, openedAt, round) => claims.claim(id, openedAt, round),
    wake: deps.wake,
    onError,
  });
  const unseen = new UnseenFailures();
  states.shareBreakers(rounds, unseen);
  deps.sharedStates.onRemoteChange((id, saved) => states.applyRemote(id, saved, webhook(id)));
  const feed = await OutcomeFeed.open(nc, {
    replicas: deps.replicas,
    replica,
    batchMs: deps.batchMs,
    onError,
    onRecord: (id, r) => {
      const w = webhook(id);
      if (w && r.kind === 'failure') states.recordShared(w, false, r.at, 1, r.probe);
      else if (w && r.kind === 'successes') states.recordShared(w, true, r.at, r.count, r.probe);
      // One of ours came back: a webhook waiting for it may go on (or its breaker opened).
      if (r.kind === 'failure' && r.replica === replica && unseen.seen(id)) deps.wake();
    },
  });
  let presence: ReplicaPresence;
  try {
    presence = await ReplicaPresence.open(nc, {
      replicas: deps.replicas,
      replica,
      heartbeatMs: deps.heartbeatMs,
      onChange: deps.wake,
      onError,
    });
  } catch (err) {
    await feed.close();
    throw err;
  }
  return {
    replica,
    onAttempt: (w, { webhook: effect }, _result, deliveryId) => {
      const probe = rounds.takeProbe(deliveryId);
      if (effect.kind === 'stop') {
        states.setState(w, 'Stopped', effect.reason, Date.now());
        return;
      }
      if (effect.ok) feed.success(w.id, probe);
      else {
        unseen.published(w.id, Date.now());
        feed.failure(w.id, deliveryId, probe);
      }
    },
    replicas: () => presence.live(),
    flush: () => feed.flush(),
    close: async () => {
      await feed.close();
      await presence.close();
    },
  };
}
