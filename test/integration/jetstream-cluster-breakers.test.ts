/**
 * Breakers, webhook states and rate limits cluster-wide (issue 15,
 * `store.backend: jetstream`): two replicas in one process, each with its
 * own NATS connection, shared state (`HOOKD_STATES`), `WebhookStates`, real
 * `Dispatcher` and HTTP transport, wired by `attachCluster`, sending to one
 * real receiver on loopback, through a real nats-server and through a
 * 3-node cluster (R3, each replica connected to another member). Each
 * replica has its own outbox of deliveries (as if each had taken half of
 * the work).
 *
 * - A failing receiver opens one breaker: both open at the same record of
 *   `HOOKD_OUTCOMES`, the threshold-th failure, and save the same record.
 * - Exactly one probe per cooldown goes out across both; a successful probe
 *   closes both and both drain what they held.
 * - `Stopped` set through one replica is honoured by the other within 1 s;
 *   `Active` set through it resumes the other, which drains.
 * - Each replica counts the other (`HOOKD_REPLICAS`) and takes half a rate limit.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { ConfigSchema } from '../../src/config/schema.ts';
import {
  attachCluster,
  type Cluster,
  Dispatcher,
  type StateChange,
  type Transition,
  WebhookStates,
} from '../../src/dispatch/index.ts';
import { Metrics } from '../../src/metrics/metrics.ts';
import { type NewDelivery, SqliteStore } from '../../src/outbox/index.ts';
import {
  decodeOutcome,
  idToken,
  OUTCOMES_STREAM,
  type OutcomeRecord,
  openSharedState,
  type SharedState,
  type StateRecord,
} from '../../src/outbox/jetstream/index.ts';
import type { Webhook } from '../../src/rules/webhook-schema.ts';
import { KeyRing, specSeal } from '../../src/secrets/index.ts';
import { createHttp } from '../../src/transports/http/index.ts';
import { TransportRegistry } from '../../src/transports/index.ts';
import { loopbackOnlyNetwork } from '../conformance/peers/network.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';
import { delivery, webhook } from '../unit/dispatch/fixtures.ts';

const peers = usePeers();
const seal = specSeal(new KeyRing(randomBytes(32).toString('base64')), new TransportRegistry());
const FAILURES = 5;
const BREAKER = {
  failures: FAILURES,
  rate: 1,
  minAttempts: 1000,
  windowMs: 60_000,
  cooldownMs: 1500,
  maxCooldownMs: 3000,
};

/** An API webhook of one attempt at a time per replica. */
const hook = (id: string, over: Partial<Webhook> = {}): Webhook => webhook(id, { concurrency: 1, ...over });

interface Replica {
  name: string;
  shared: SharedState;
  states: WebhookStates;
  cluster: Cluster;
  dispatcher: Dispatcher;
  store: SqliteStore;
  changes: StateChange[];
  transitions: (Transition & { webhookId: string })[];
  probes: { webhookId: string; deliveryId: string | undefined }[];
  add(webhookId: string, n: number, prefix: string): void;
}

function scenarios(name: string, setup: () => Promise<{ urls: string[]; replicas: number }>) {
  describe(name, () => {
    let urls: string[];
    let replicas: number;
    let receiver: Receiver;
    const hooks = new Map<string, Webhook>();
    let a: Replica;
    let b: Replica;
    /** Requests the receiver got, per webhook path. */
    const requestsTo = (id: string) => receiver.requests.filter((r) => r.url === `/${id}`);

    /** A replica whose connection prefers the `first`-th server (each replica on another cluster member). */
    const replica = async (name: string, first: number): Promise<Replica> => {
      const servers = [...urls.slice(first % urls.length), ...urls.slice(0, first % urls.length)];
      const nc = await peers.start(
        `${name}'s connection`,
        () => connect({ servers, noRandomize: true }),
        (c) => c.close(),
      );
      const shared = await openSharedState(nc, { replicas, seal });
      peers.defer(`${name}'s shared state`, () => shared.close());
      const store = new SqliteStore(':memory:');
      peers.defer(`${name}'s outbox`, () => store.close());
      const changes: StateChange[] = [];
      const transitions: Replica['transitions'] = [];
      const probes: Replica['probes'] = [];
      let dispatcher: Dispatcher | undefined;
      const states = new WebhookStates({
        store: shared.webhookStates,
        settings: BREAKER,
        onChange: (c) => {
          changes.push(c);
          if (c.to === 'Active') dispatcher?.rescanWebhook(c.webhookId);
        },
        onBreaker: (w, t) => {
          transitions.push({ ...t, webhookId: w.id });
          if (t.reopensAt !== undefined) dispatcher?.notify(w.id, t.reopensAt);
        },
      });
      const cluster = await attachCluster({
        nc,
        replicas,
        replica: name,
        states,
        sharedStates: shared.webhookStates,
        webhook: (id) => hooks.get(id),
        wake: () => dispatcher?.wake(),
        heartbeatMs: 200,
      });
      peers.defer(`${name}'s cluster`, () => cluster.close());
      const http = createHttp({
        logger: pino({ level: 'silent' }),
        timeoutMs: 5000,
        security: { allowPrivateNetworks: true, allowList: [] },
        network: loopbackOnlyNetwork(),
      });
      peers.defer(`${name}'s http transport`, () => http.close());
      const settings = ConfigSchema.parse({ delivery: { concurrency: 4 } }).delivery;
      dispatcher = new Dispatcher({
        work: store.deliveries,
        outbox: store.deliveries,
        webhook: (id) => hooks.get(id),
        transport: () => http,
        settings,
        metrics: new Metrics({ perWebhookLabels: true }),
        logger: pino({ level: process.env.DEBUG_JB ? 'info' : 'silent' }),
        admission: {
          admit: (w, now) => states.admit(w, now),
          probeStarted: (w, id) => {
            probes.push({ webhookId: w.id, deliveryId: id });
            states.probeStarted(w, id);
          },
        },
        onAttempt: cluster.onAttempt,
        rateLimitReplicas: cluster.replicas,
        random: () => 0.5,
      });
      const d = dispatcher;
      d.start();
      peers.defer(`${name}'s dispatcher`, () => d.stop(0));
      const add = (webhookId: string, n: number, prefix: string) => {
        const now = Date.now();
        const rows: NewDelivery[] = Array.from({ length: n }, (_, i) => ({
          ...delivery(`${prefix}-${i}`, webhookId, now),
          request: { method: 'POST', url: `${receiver.url}/${webhookId}`, headers: {}, body: '{}' },
        }));
        store.deliveries.insert(rows);
        d.stored(rows, true);
      };
      return { name, shared, states, cluster, dispatcher: d, store, changes, transitions, probes, add };
    };

    test('setup: a receiver, NATS and two replicas', async () => {
      ({ urls, replicas } = await setup());
      receiver = await peers.receiver();
      a = await replica('replica-a', 0);
      b = await replica('replica-b', 1);
    });

    test('a failing receiver opens one breaker: both at the threshold-th failure record, one probe per cooldown, a good probe resumes both', async (t) => {
      const w = hook('failing');
      hooks.set(w.id, w);
      let healthy = false;
      receiver.respond((req) => ({ status: req.url === '/failing' && !healthy ? 503 : 200 }));
      a.add(w.id, 20, 'fa');
      b.add(w.id, 20, 'fb');
      const opened = (r: Replica) => r.transitions.filter((x) => x.webhookId === w.id && x.from === 'closed');
      await waitFor('both breakers to open', () => opened(a).length > 0 && opened(b).length > 0, {
        saw: () => ({ a: a.transitions, b: b.transitions, requests: requestsTo(w.id).length }),
      });
      assert.equal(a.states.stateOf(w), 'TooManyErrors');
      assert.equal(b.states.stateOf(w), 'TooManyErrors');
      const [oa] = opened(a);
      const [ob] = opened(b);
      assert.equal(
        oa!.reason,
        `${FAILURES} consecutive failed attempts`,
        'threshold failures counted, not 2x',
      );
      assert.deepEqual(oa, ob, 'the same transition, reopening at the same time, on both');

      // The record it opened at is the threshold-th failure of the stream, whoever sent the failures.
      const nc = await connect({ servers: urls });
      let outcomes: OutcomeRecord[];
      try {
        const jsm = await jetstreamManager(nc);
        const last = (await jsm.streams.info(OUTCOMES_STREAM)).state.last_seq;
        outcomes = [];
        for (let seq = 1; seq <= last; seq++) {
          const m = await jsm.streams.getMessage(OUTCOMES_STREAM, { seq }).catch(() => undefined);
          if (m?.subject === `hookd.outcomes.${idToken(w.id)}`) outcomes.push(decodeOutcome(m.data)!);
        }
      } finally {
        await nc.close();
      }
      const failures = outcomes.filter((o) => o.kind === 'failure');
      assert.equal(
        oa!.reopensAt,
        failures[FAILURES - 1]!.at + BREAKER.cooldownMs,
        'opened at the 5th failure record',
      );
      const senders = new Set(failures.slice(0, FAILURES).map((f) => f.replica));
      t.diagnostic(
        `first ${FAILURES} failures from ${[...senders].join(', ')}; ${requestsTo(w.id).length} requests`,
      );

      const saved = await waitFor('the bucket to hold the breaker state', () => {
        const rows = a.shared.webhookStates.loadWebhookStates().filter((r) => r.webhookId === w.id);
        return rows[0]?.state === 'TooManyErrors' && rows[0];
      });
      assert.equal(JSON.parse(saved.data!).openedAt, oa!.reopensAt! - BREAKER.cooldownMs);
      assert.deepEqual(
        b.shared.webhookStates.loadWebhookStates().find((r) => r.webhookId === w.id),
        saved,
        'both see the one record',
      );

      // Two cooldowns of failing probes: exactly one probe each, from one of the replicas.
      const probesOf = () => [...a.probes, ...b.probes].filter((p) => p.webhookId === w.id);
      await waitFor('the first probe to fail and reopen both breakers', () =>
        [a, b].every(
          (r) => r.transitions.filter((x) => x.webhookId === w.id && x.reason === 'probe failed').length >= 1,
        ),
      );
      assert.equal(probesOf().length, 1, 'one probe in the first cooldown');
      const reopened = (r: Replica) =>
        r.transitions.find((x) => x.webhookId === w.id && x.reason === 'probe failed');
      assert.deepEqual(reopened(a)?.reopensAt, reopened(b)?.reopensAt, 'reopened at the same record');
      healthy = true;
      const before = requestsTo(w.id).length;
      await waitFor('the second probe to succeed and close both breakers', () =>
        [a, b].every((r) => r.states.stateOf(w) === 'Active'),
      );
      assert.equal(probesOf().length, 2, 'one probe in the second (doubled) cooldown');
      assert.ok(requestsTo(w.id).length - before >= 1, 'the probe reached the receiver');
      for (const r of [a, b]) {
        const to = r.changes.filter((c) => c.webhookId === w.id).map((c) => c.to);
        assert.deepEqual(
          to,
          ['TooManyErrors', 'TooManyErrors', 'Active'],
          `${r.name}: each change reported once`,
        );
      }
      await waitFor(
        'both to drain what they held',
        () => {
          const pending = [a, b].map((r) => r.store.deliveries.depth().pending);
          return pending.every((n) => n === 0) && pending;
        },
        { saw: () => [a, b].map((r) => r.store.deliveries.depth()) },
      );
    });

    test('Stopped set through one replica is honoured by the other within 1 s; Active resumes it and it drains', async (t) => {
      const w = hook('stoppable');
      hooks.set(w.id, w);
      receiver.respond(() => ({ status: 200 }));
      const started = Date.now();
      assert.equal(a.states.setState(w, 'Stopped', 'paused by an operator', started), true);
      await waitFor('replica B to stop the webhook', () => b.states.stateOf(w) === 'Stopped', {
        timeoutMs: 5000,
      });
      const took = Date.now() - started;
      t.diagnostic(`Stopped in force on B after ${took} ms`);
      assert.ok(took < 1000, `in force within 1 s (DESIGN.md section 8): ${took} ms`);
      assert.deepEqual(
        b.changes.filter((c) => c.webhookId === w.id).map((c) => [c.from, c.to, c.reason]),
        [['Active', 'Stopped', 'paused by an operator']],
        'reported on B like a local change',
      );
      assert.equal(b.states.admit(w, Date.now()).allowed, 0, 'B admits nothing');
      b.add(w.id, 10, 'sb');
      b.dispatcher.wake();
      assert.equal(a.states.setState(w, 'Active', 'resumed', Date.now()), true);
      await waitFor('B to resume and drain the 10 it held', () => requestsTo(w.id).length === 10, {
        saw: () => ({ state: b.states.stateOf(w), sent: requestsTo(w.id).length }),
      });
      assert.deepEqual(
        b.changes.filter((c) => c.webhookId === w.id).map((c) => c.to),
        ['Stopped', 'Active'],
      );
      assert.deepEqual(
        a.changes.filter((c) => c.webhookId === w.id).map((c) => c.to),
        ['Stopped', 'Active'],
        'A reported its own changes once, not again when they came back',
      );
      const row = (s: SharedState) =>
        s.webhookStates.loadWebhookStates().find((r) => r.webhookId === w.id) as unknown as StateRecord;
      assert.equal(row(b.shared).state, 'Active');
    });

    test('each replica counts the other and takes half of a rate limit; one gone, the other takes it all', async () => {
      await waitFor(
        'both replicas to count two',
        () => a.cluster.replicas() === 2 && b.cluster.replicas() === 2,
      );
      const w = hook('limited', { rateLimit: { perSecond: 0.2, burst: 6 }, concurrency: 10 });
      hooks.set(w.id, w);
      receiver.respond(() => ({ status: 200 }));
      a.add(w.id, 10, 'la');
      b.add(w.id, 10, 'lb');
      await waitFor('each replica to send its half of the burst', () => requestsTo(w.id).length === 6);
      for (const r of [a, b])
        assert.equal(
          r.states.admit(w, Date.now()).allowed,
          Number.POSITIVE_INFINITY,
          `${r.name}: not held by state`,
        );
      assert.equal(
        a.store.deliveries.depth().pending + b.store.deliveries.depth().pending,
        14,
        'each sent 3 (6 / 2 replicas) and holds the rest',
      );
      assert.equal(a.store.deliveries.depth().pending, 7);
      await b.cluster.close();
      await waitFor('A to count one replica once B left', () => a.cluster.replicas() === 1);
    });
  });
}

scenarios('two replicas on one nats-server', async () => ({ urls: [(await peers.nats()).url], replicas: 1 }));

scenarios('two replicas on a 3-node cluster (R3 streams and buckets), each on another member', async () => {
  const cluster = await peers.natsCluster();
  return { urls: cluster.urls, replicas: 3 };
});
