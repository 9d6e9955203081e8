/**
 * `JetStreamStore`'s reads (issue 15, DESIGN.md section 8) on a real
 * nats-server 2.9 and a 3-node cluster: records are published here in the
 * shapes records.ts pins (as intake and the dispatch queue write them), and
 * two stores on their own connections (two replicas) read them. A webhook's
 * page merges pending (deliveries and retries work queues, read without a
 * consumer and without taking anything) and finished records (succeeded,
 * dead letters) newest first, pages through an opaque cursor without
 * repeating or skipping, filters by state, and is the same on both
 * replicas; `get`, `attempts.of`, `rejected.list`; `retryFailed` requeues a
 * dead letter once however many replicas run it; depth and bytes come from
 * the streams; retention is the streams' max age.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection, nanos } from '@nats-io/transport-node';
import {
  type AttemptRow,
  type DeliveryRow,
  InvalidCursorError,
  JetStreamStore,
  type Retention,
} from '../../src/outbox/index.ts';
import {
  ATTEMPT_HEADER,
  DEAD_LETTERS_STREAM,
  DELIVERIES_STREAM,
  type FinishedRecord,
  NOT_BEFORE_HEADER,
  type QueuedMessage,
  REJECTED_STREAM,
  RETRIES_STREAM,
  type RejectedRecord,
  SUCCEEDED_STREAM,
  subjects,
} from '../../src/outbox/jetstream/records.ts';
import { usePeers } from '../helpers/peers.ts';
import { waitFor } from '../helpers/wait.ts';
import { newDelivery } from './jetstream-fixtures.ts';

const peers = usePeers();
const RETENTION: Retention = { succeeded: 3_600_000, failed: 7_200_000, rejected: 10_800_000 };

const attempt = (n: number, outcome: AttemptRow['outcome'], error: string | null): AttemptRow => ({
  attempt: n,
  started_at: 1_700_000_000_000 + n,
  duration_ms: 12,
  outcome,
  status: outcome === 'success' ? 200 : 503,
  error,
  response: null,
});

/** Publishes records as intake and the dispatch queue do, each in a later millisecond than the one before. */
class Writer {
  private last = 0;
  constructor(readonly nc: NatsConnection) {}

  private async tick(): Promise<void> {
    // Distinct stream times, so "newest first" has one answer: wait for the clock, not a fixed time.
    await waitFor('the next millisecond', () => Date.now() > this.last, { intervalMs: 1 });
    this.last = Date.now();
  }

  private async publish(subject: string, body: unknown, h: Record<string, string>, msgID: string) {
    await this.tick();
    const hs = headers();
    for (const [k, v] of Object.entries(h)) hs.set(k, v);
    return jetstream(this.nc).publish(subject, JSON.stringify(body), { headers: hs, msgID });
  }

  queued(eventId: string, webhookId: string, notBefore = 1_700_000_000_005) {
    const { renderError: _r, nextAttemptAt: _n, ...m } = newDelivery(eventId, webhookId);
    return this.publish(
      subjects.delivery(webhookId),
      m satisfies QueuedMessage,
      {
        [ATTEMPT_HEADER]: '0',
        [NOT_BEFORE_HEADER]: String(notBefore),
      },
      m.id,
    ).then(() => m.id);
  }

  retry(eventId: string, webhookId: string, notBefore: number) {
    const { renderError: _r, nextAttemptAt: _n, ...d } = newDelivery(eventId, webhookId);
    const m: QueuedMessage = { ...d, attempts: [attempt(1, 'retryable', 'HTTP 503')] };
    return this.publish(
      subjects.retry(webhookId),
      m,
      {
        [ATTEMPT_HEADER]: '1',
        [NOT_BEFORE_HEADER]: String(notBefore),
      },
      `${m.id}.1`,
    ).then(() => m.id);
  }

  finished(eventId: string, webhookId: string, state: 'succeeded' | 'failed', identifier = webhookId) {
    const { renderError: _r, nextAttemptAt: _n, ...d } = newDelivery(eventId, webhookId);
    const attempts =
      state === 'succeeded'
        ? [attempt(1, 'retryable', 'HTTP 503'), attempt(2, 'success', null)]
        : [attempt(1, 'retryable', 'HTTP 503'), attempt(2, 'permanent', 'HTTP 410')];
    const r: FinishedRecord = {
      ...d,
      identifier,
      state,
      attempts,
      finishedAt: this.last + 1,
      lastError: state === 'failed' ? 'HTTP 410' : null,
    };
    const subject =
      state === 'succeeded' ? subjects.succeeded(webhookId, r.id) : subjects.dead(webhookId, r.id);
    return this.publish(subject, r, { [ATTEMPT_HEADER]: '2' }, `${r.id}.f2`).then((ack) => ({
      id: r.id,
      seq: ack.seq,
    }));
  }

  rejected(reason: string, payload: string) {
    const r: RejectedRecord = {
      receivedAt: Date.now(),
      source: 'nats',
      subject: 'events.x',
      reason,
      detail: `because ${reason}`,
      payload: Buffer.from(payload).toString('base64'),
    };
    return this.publish(subjects.rejected, r, {}, `rej-${reason}-${Date.now()}`);
  }
}

async function allPages(
  store: JetStreamStore,
  webhookId: string,
  limit: number,
  state?: DeliveryRow['state'],
) {
  const pages: string[][] = [];
  let before: string | undefined;
  do {
    const page = await store.deliveries.byWebhook(webhookId, { limit, before, state });
    pages.push(page.items.map((d) => d.id));
    assert.ok(page.items.length <= limit);
    before = page.next ?? undefined;
  } while (before !== undefined && pages.length < 100);
  return pages;
}

describe('JetStreamStore on one nats-server, two replicas', () => {
  let url: string;
  let jsm: JetStreamManager;
  let writer: Writer;
  let a: JetStreamStore;
  let b: JetStreamStore;
  /** Every record of webhook `hook-a`, in the order it was stored (oldest first), with its state. */
  const order: { id: string; state: DeliveryRow['state'] }[] = [];

  const open = async (retention = RETENTION) => {
    const nc = await peers.start(
      'replica connection',
      () => connect({ servers: url }),
      (c) => c.close(),
    );
    return peers.start(
      'jetstream store',
      () => JetStreamStore.open(nc, { replicas: 1, retention, refreshMs: 60_000 }),
      (s) => s.close(),
    );
  };

  test('setup: two replicas open the store; the streams exist with the retention as max age', async () => {
    url = (await peers.nats()).url;
    const nc = await peers.start(
      'writer connection',
      () => connect({ servers: url }),
      (c) => c.close(),
    );
    jsm = await jetstreamManager(nc);
    writer = new Writer(nc);
    a = await open();
    b = await open();
    const ages = Object.fromEntries(
      await Promise.all(
        [SUCCEEDED_STREAM, DEAD_LETTERS_STREAM, REJECTED_STREAM, DELIVERIES_STREAM, RETRIES_STREAM].map(
          async (s) => [s, (await jsm.streams.info(s)).config.max_age] as const,
        ),
      ),
    );
    assert.deepEqual(ages, {
      [SUCCEEDED_STREAM]: nanos(RETENTION.succeeded),
      [DEAD_LETTERS_STREAM]: nanos(RETENTION.failed),
      [REJECTED_STREAM]: nanos(RETENTION.rejected),
      // Pending work has no age limit.
      [DELIVERIES_STREAM]: 0,
      [RETRIES_STREAM]: 0,
    });
  });

  test("a webhook's page merges queued, retrying, succeeded and dead deliveries newest first, the same on both replicas", async () => {
    const plan: [string, 'queued' | 'retry' | 'succeeded' | 'failed'][] = [];
    for (let i = 0; i < 23; i++)
      plan.push([`e${i}`, (['queued', 'succeeded', 'retry', 'failed'] as const)[i % 4]!]);
    for (const [eventId, kind] of plan) {
      // Another webhook's records in between: never in hook-a's pages.
      await writer.queued(`noise-${eventId}`, 'hook-b');
      if (kind === 'queued') order.push({ id: await writer.queued(eventId, 'hook-a'), state: 'pending' });
      else if (kind === 'retry')
        order.push({ id: await writer.retry(eventId, 'hook-a', 1_800_000_000_000), state: 'pending' });
      else order.push({ id: (await writer.finished(eventId, 'hook-a', kind)).id, state: kind });
    }
    const newestFirst = order.map((o) => o.id).reverse();
    for (const limit of [1, 5, 7, 23, 50]) {
      const pages = await allPages(a, 'hook-a', limit);
      assert.deepEqual(pages.flat(), newestFirst, `limit ${limit}: every record once, newest first`);
      assert.deepEqual(await allPages(b, 'hook-a', limit), pages, `limit ${limit}: replica B pages the same`);
    }
    for (const state of ['pending', 'succeeded', 'failed'] as const) {
      const want = order
        .filter((o) => o.state === state)
        .map((o) => o.id)
        .reverse();
      assert.deepEqual((await allPages(a, 'hook-a', 4, state)).flat(), want, `state ${state}`);
    }
    // Reading took nothing from the work queues.
    assert.equal((await jsm.streams.info(DELIVERIES_STREAM)).state.messages, 23 + 6);
    assert.equal((await jsm.streams.info(RETRIES_STREAM)).state.messages, 6);
  });

  test('rows carry what the records say: state, attempts, next attempt, last error, request', async () => {
    const first = await a.deliveries.byWebhook('hook-a', { limit: 50 });
    const byState = (s: string) => first.items.find((d) => d.state === s)!;
    const retrying = first.items.find((d) => d.state === 'pending' && d.attempts === 1)!;
    assert.equal(retrying.next_attempt_at, 1_800_000_000_000);
    assert.equal(retrying.last_error, 'HTTP 503');
    assert.equal(byState('failed').last_error, 'HTTP 410');
    assert.equal(byState('failed').attempts, 2);
    assert.equal(byState('succeeded').last_error, null);
    const d = byState('succeeded');
    assert.deepEqual(JSON.parse(d.request.body), { eventId: d.event_id, webhookId: 'hook-a' });
    assert.equal(d.identifier, 'hook-a');
    // Attempts come from the record itself.
    assert.deepEqual(
      (await b.attempts.of(byState('failed').id)).map((x) => [x.attempt, x.outcome, x.error]),
      [
        [1, 'retryable', 'HTTP 503'],
        [2, 'permanent', 'HTTP 410'],
      ],
    );
    assert.deepEqual(
      (await b.attempts.of(retrying.id)).map((x) => x.outcome),
      ['retryable'],
    );
  });

  test('a cursor that is not one of ours is InvalidCursorError', async () => {
    for (const bad of ['', '12', 'js1:1.2.3', 'js1:a.b.c.d', 'js1:1.2.3.99999999999999999'])
      await assert.rejects(
        a.deliveries.byWebhook('hook-a', { limit: 5, before: bad }),
        InvalidCursorError,
        bad,
      );
  });

  test('get finds finished deliveries by subject and pending ones in their queue, on either replica', async () => {
    for (const o of order.slice(0, 8)) {
      const [ra, rb] = [await a.deliveries.get(o.id), await b.deliveries.get(o.id)];
      assert.equal(ra?.state, o.state, o.id);
      assert.deepEqual(rb, ra);
    }
    assert.equal(await a.deliveries.get('msg_nope'), undefined);
    // Not a delivery id: never a subject wildcard.
    assert.equal(await a.deliveries.get('*'), undefined);
    assert.equal(await a.deliveries.get('>'), undefined);
    assert.deepEqual(await a.attempts.of('msg_nope'), []);
  });

  test('a sparse webhook in a long stream pages correctly (reads skip what is not its)', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const js = jetstream(writer.nc);
      await Promise.all(
        Array.from({ length: 400 }, (_, j) =>
          js.publish(
            subjects.succeeded('busy', `msg_busy${i}x${j}`),
            JSON.stringify({ id: `busy${i}x${j}` }),
          ),
        ),
      );
      ids.push((await writer.finished(`sparse${i}`, 'sparse', 'succeeded')).id);
    }
    assert.deepEqual((await allPages(a, 'sparse', 1)).flat(), ids.reverse());
  });

  test('rejected.list: newest first, with payloads', async () => {
    await writer.rejected('invalid_json', '{nope');
    await writer.rejected('too_large', 'x'.repeat(10));
    const list = await b.rejected.list(10);
    assert.deepEqual(
      list.map((r) => r.reason),
      ['too_large', 'invalid_json'],
    );
    assert.equal(Buffer.from(list[1]!.payload!).toString(), '{nope');
    assert.ok(list[0]!.id > list[1]!.id, 'ids are stream sequences');
    assert.deepEqual(
      (await b.rejected.list(1)).map((r) => r.reason),
      ['too_large'],
    );
  });

  test('retryFailed requeues each dead letter once with a fresh budget, even when both replicas run it at once', async () => {
    const dead = [
      await writer.finished('d1', 'hook-r', 'failed', 'orders-hook'),
      await writer.finished('d2', 'hook-r', 'failed', 'orders-hook'),
      await writer.finished('d3', 'hook-other', 'failed'),
    ];
    const before = (
      await jsm.streams.info(DELIVERIES_STREAM, { subjects_filter: subjects.delivery('hook-r') })
    ).state;
    // By identifier (what operators see), on both replicas at once.
    const [na, nb] = await Promise.all([
      a.deliveries.retryFailed({ webhookId: 'orders-hook', dueAt: 1_900_000_000_000 }, Date.now()),
      b.deliveries.retryFailed({ webhookId: 'orders-hook', dueAt: 1_900_000_000_000 }, Date.now()),
    ]);
    assert.equal(na + nb, 2, `requeued ${na} + ${nb}`);
    const after = await jsm.streams.info(DELIVERIES_STREAM, { subjects_filter: subjects.delivery('hook-r') });
    assert.equal(after.state.messages - before.messages, 2, 'stored once each');
    for (const { seq } of dead.slice(0, 2))
      assert.equal(
        await jsm.streams.getMessage(DEAD_LETTERS_STREAM, { seq }),
        null,
        'the dead letter is gone',
      );
    assert.ok(
      await jsm.streams.getMessage(DEAD_LETTERS_STREAM, { seq: dead[2]!.seq }),
      'another webhook kept',
    );
    // Back in the queue: attempt 0, due when asked, history kept, same delivery id.
    const m = await jsm.streams.getMessage(DELIVERIES_STREAM, { last_by_subj: subjects.delivery('hook-r') });
    assert.equal(m!.header.get(ATTEMPT_HEADER), '0');
    assert.equal(m!.header.get(NOT_BEFORE_HEADER), '1900000000000');
    assert.equal(m!.header.get('Nats-Msg-Id'), `${dead[1]!.id}.r${dead[1]!.seq}`);
    const q = m!.json<QueuedMessage & { state?: string }>();
    assert.equal(q.id, dead[1]!.id);
    assert.equal(q.state, undefined, 'a queued message, not a finished record');
    assert.deepEqual(
      q.attempts!.map((x) => x.outcome),
      ['retryable', 'permanent'],
    );
    const row = await a.deliveries.get(dead[1]!.id);
    assert.equal(row?.state, 'pending');
    assert.equal(row?.attempts, 0);
    // Nothing left to requeue.
    assert.equal(await a.deliveries.retryFailed({ webhookId: 'hook-r' }, Date.now()), 0);
    // By id, and by since.
    assert.equal(await b.deliveries.retryFailed({ ids: [dead[2]!.id, '*'] }, Date.now()), 1);
    await writer.finished('d4', 'hook-s', 'failed');
    await writer.finished('d5', 'hook-s', 'failed');
    assert.equal(
      await a.deliveries.retryFailed({ webhookId: 'hook-s', since: Date.now() + 60_000 }, Date.now()),
      0,
    );
    assert.equal(await a.deliveries.retryFailed({ webhookId: 'hook-s', since: 0 }, Date.now()), 2);
  });

  test('depth and bytes come from the streams; prune leaves retention to the server; probe says reachable', async () => {
    await a.refresh();
    const msgs = async (s: string) => (await jsm.streams.info(s)).state.messages;
    const depth = a.deliveries.depth();
    assert.deepEqual(depth, {
      pending: (await msgs(DELIVERIES_STREAM)) + (await msgs(RETRIES_STREAM)),
      inflight: 0,
      succeeded: await msgs(SUCCEEDED_STREAM),
      failed: await msgs(DEAD_LETTERS_STREAM),
    });
    let bytes = 0;
    for await (const s of jsm.streams.list()) if (/^(KV_)?HOOKD_/.test(s.config.name)) bytes += s.state.bytes;
    assert.equal(a.bytes(), bytes);
    assert.ok(bytes > 0);
    assert.deepEqual(await a.prune(RETENTION, Date.now(), 500), { deliveries: 0, attempts: 0, rejected: 0 });
    assert.equal(a.probe(), true);
  });

  test('a store opened with another retention sets the streams max age to it', async () => {
    const changed: Retention = { succeeded: 60_000, failed: 120_000, rejected: 180_000 };
    await open(changed);
    assert.equal((await jsm.streams.info(SUCCEEDED_STREAM)).config.max_age, nanos(60_000));
    assert.equal((await jsm.streams.info(DEAD_LETTERS_STREAM)).config.max_age, nanos(120_000));
    assert.equal((await jsm.streams.info(REJECTED_STREAM)).config.max_age, nanos(180_000));
    assert.ok((await jsm.streams.info(SUCCEEDED_STREAM)).config.duplicate_window <= nanos(60_000));
  });

  test('opened without a dispatch queue, intake and dispatch say so instead of pretending', async () => {
    await assert.rejects(a.deliveries.insert([]), /opened for reads and requeues only/);
    assert.throws(() => a.deliveries.claimed(1), /opened for reads and requeues only/);
    assert.deepEqual(a.deliveries.dueByWebhook(), []);
  });
});

test('probe: not ready while NATS is down, ready again once it is back', async () => {
  const nats = await peers.nats();
  const nc = await peers.start(
    'replica connection',
    () => connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 }),
    (c) => c.close(),
  );
  const store = await peers.start(
    'jetstream store',
    () => JetStreamStore.open(nc, { replicas: 1, retention: RETENTION, refreshMs: 200 }),
    (s) => s.close(),
  );
  assert.equal(store.probe(), true);
  await nats.kill();
  await waitFor('probe() false with NATS down', () => !store.probe());
  await nats.start();
  await waitFor('probe() true once NATS is back', () => store.probe(), { timeoutMs: 60_000 });
});

describe('JetStreamStore on a 3-node cluster (R3 streams)', () => {
  test('replicas on different members page the same deliveries', async () => {
    const cluster = await peers.natsCluster();
    const stores: JetStreamStore[] = [];
    for (const member of cluster.urls.slice(0, 2)) {
      const nc = await peers.start(
        'replica connection',
        () => connect({ servers: member }),
        (c) => c.close(),
      );
      stores.push(
        await peers.start(
          'jetstream store',
          () => JetStreamStore.open(nc, { replicas: 3, retention: RETENTION, refreshMs: 60_000 }),
          (s) => s.close(),
        ),
      );
    }
    const nc = await peers.start(
      'writer connection',
      () => connect({ servers: cluster.urls[2]! }),
      (c) => c.close(),
    );
    const info = await (await jetstreamManager(nc)).streams.info(SUCCEEDED_STREAM);
    assert.equal(info.config.num_replicas, 3);
    const writer = new Writer(nc);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      ids.push(
        i % 2
          ? (await writer.finished(`c${i}`, 'hook-c', 'succeeded')).id
          : await writer.queued(`c${i}`, 'hook-c'),
      );
    }
    const [pa, pb] = [await allPages(stores[0]!, 'hook-c', 4), await allPages(stores[1]!, 'hook-c', 4)];
    assert.deepEqual(pa.flat(), ids.reverse());
    assert.deepEqual(pb, pa);
  });
});

describe('the daemon opening its store on a cluster without a JetStream quorum', () => {
  test('waits until JetStream answers instead of failing at start', async () => {
    const cluster = await peers.natsCluster();
    const probe = await peers.start(
      'probe connection',
      () => connect({ servers: cluster.urls[0]! }),
      (c) => c.close(),
    );
    const jsm = await jetstreamManager(probe);
    // Two of three members gone: no meta leader, every JetStream request times out (as while a
    // cluster that has just started, or lost its leader, elects one). The survivor may lead on
    // for a moment (and refuse R3 placement then): wait until it no longer answers.
    await Promise.all(cluster.members.slice(1).map((m) => m.kill()));
    await waitFor(
      'JetStream without a quorum to stop answering',
      () =>
        jsm.getAccountInfo().then(
          () => false,
          () => true,
        ),
      { timeoutMs: 60_000 },
    );
    const waits: string[] = [];
    let opened: JetStreamStore | undefined;
    // A test that fails before the store opens stops its waiting too (else it would wait for ever).
    const giveUp = new AbortController();
    peers.defer('the store waiting for JetStream', async () => {
      giveUp.abort();
      await opening.catch(() => {});
    });
    const opening = JetStreamStore.connect(cluster.urls[0]!, {
      signal: giveUp.signal,
      name: 'waiting replica',
      waitForServer: true,
      replicas: 3,
      retention: RETENTION,
      refreshMs: 60_000,
      onError: (err) => waits.push(err.message),
    }).then((s) => {
      opened = s;
      peers.defer('waiting store', () => s.close());
      return s;
    });
    await waitFor('the store to say it waits for JetStream', () => waits.length > 0, { timeoutMs: 60_000 });
    assert.equal(opened, undefined, 'not open without JetStream');
    assert.match(waits[0]!, /JetStream does not answer yet/);
    await Promise.all(cluster.members.slice(1).map((m) => m.start()));
    const store = await opening;
    const info = await (await jetstreamManager(store.nc)).streams.info(SUCCEEDED_STREAM);
    assert.equal(info.config.num_replicas, 3, 'opened once the quorum was back');
  });
});
