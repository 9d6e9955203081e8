/**
 * `JetStreamDispatchQueue` driven by the real `Dispatcher` and http
 * transport against a real HTTP receiver and a real nats-server (issue 15):
 * deliveries are delivered once and recorded in `HOOKD_SUCCEEDED`; a retry
 * waits in `HOOKD_RETRIES` and is attempted after its time with its
 * attempts carried; a dead letter carries every attempt; two replicas share
 * a webhook's work within its concurrency (the consumer's `MaxAckPending`);
 * what a replica killed for good held goes to the other with the same
 * delivery id; a held webhook's backlog stays stored, not pinned.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { describe, test } from 'node:test';
import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import {
  consumerName,
  DEAD_LETTERS_STREAM,
  DELIVERIES_STREAM,
  type FinishedRecord,
  type QueuedMessage,
  REJECTED_STREAM,
  RETRIES_CONSUMER,
  RETRIES_STREAM,
  type RejectedRecord,
  SUCCEEDED_STREAM,
  subjects,
} from '../../src/outbox/jetstream/index.ts';
import type { Webhook } from '../../src/rules/webhook-schema.ts';
import type { ReceivedRequest, Receiver } from '../helpers/http-receiver.ts';
import { usePeers } from '../helpers/peers.ts';
import { waitFor } from '../helpers/wait.ts';
import { httpHook, type Replica, rendered, startReplica } from './jetstream-replica.ts';

const peers = usePeers();

/** What the receiver saw: each request's webhook, delivery id (`webhook-id`), arrival, and answer. */
interface Seen {
  hook: string;
  id: string;
  at: number;
  status: number;
}

type Answer = { status: number; delayMs?: number } | 'hold';

/** The receiver's state: every request, open requests per webhook (and the most at once), held replies. */
function recorder(
  rx: Receiver,
  answer: (req: ReceivedRequest, hook: string, n: number) => Answer = () => ({ status: 200 }),
) {
  const seen: Seen[] = [];
  const open = new Map<string, number>();
  const most = new Map<string, number>();
  const held: ServerResponse[] = [];
  let n = 0;
  rx.respond((req, res) => {
    const hook = req.path.slice(1);
    const a = answer(req, hook, ++n);
    open.set(hook, (open.get(hook) ?? 0) + 1);
    most.set(hook, Math.max(most.get(hook) ?? 0, open.get(hook)!));
    const id = String(req.headers['webhook-id']);
    if (a === 'hold') {
      seen.push({ hook, id, at: Date.now(), status: 0 });
      held.push(res);
      return;
    }
    const reply = () => {
      open.set(hook, open.get(hook)! - 1);
      seen.push({ hook, id, at: Date.now(), status: a.status });
      res.writeHead(a.status).end();
    };
    if (a.delayMs) setTimeout(reply, a.delayMs);
    else reply();
  });
  return {
    seen,
    most,
    held,
    ok: (hook?: string) =>
      seen.filter((s) => s.status >= 200 && s.status < 300 && (!hook || s.hook === hook)),
  };
}

/** The last record on a subject (parsed), with its headers; undefined when there is none. */
async function last<T>(jsm: JetStreamManager, stream: string, subject: string) {
  const m = await jsm.streams.getMessage(stream, { last_by_subj: subject }).catch(() => null);
  if (!m) return undefined;
  const headers: Record<string, string> = {};
  for (const k of m.header?.keys() ?? []) headers[k] = m.header.get(k);
  return { subject: m.subject, headers, body: m.json<T>() };
}

const count = async (jsm: JetStreamManager, stream: string, subject: string) =>
  (await jsm.streams.info(stream, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;

/** Waits until no pull of the webhook waits on the server and nothing is handed out (or its consumer is gone). */
const noPullWaiting = (jsm: JetStreamManager, hookId: string) =>
  waitFor('no pull of the webhook waiting', async () => {
    const c = await jsm.consumers.info(DELIVERIES_STREAM, consumerName(hookId)).catch(() => null);
    return c === null || (c.num_waiting === 0 && c.num_ack_pending === 0);
  });

describe('JetStreamDispatchQueue with the dispatcher, one nats-server', () => {
  let url: string;
  let rx: Receiver;
  let jsm: JetStreamManager;
  const hook = (id: string, over: Partial<Webhook> = {}) => httpHook(id, `${rx.origin}/${id}`, over);
  const replica = (
    hooks: Webhook[],
    over: Partial<Parameters<typeof startReplica>[1]> = {},
  ): Promise<Replica> => startReplica(peers, { servers: url, hooks, ...over });

  test('setup', async () => {
    url = (await peers.nats()).url;
    rx = await peers.httpReceiver();
    const nc = await peers.start(
      'test connection',
      () => connect({ servers: url }),
      (c) => c.close(),
    );
    jsm = await jetstreamManager(nc);
  });

  test('every delivery is delivered once and recorded with its attempt; the queue is left empty', async (t) => {
    const seen = recorder(rx);
    const hooks = ['once-a', 'once-b', 'once-c'].map((id) => hook(id));
    const a = await replica(hooks);
    t.after(() => a.stop());
    const all = hooks.flatMap((h) => Array.from({ length: 100 }, (_, i) => rendered(`ev-${i}`, h)));
    assert.equal(await a.queue.insert(all), 300);
    assert.equal(await a.queue.insert(all.slice(0, 10)), 0, 'an event redelivered to intake adds nothing');
    await waitFor('300 deliveries to arrive', () => seen.ok().length >= 300, { saw: () => seen.ok().length });
    await waitFor(
      '300 end records',
      async () => (await jsm.streams.info(SUCCEEDED_STREAM)).state.messages === 300,
    );
    assert.deepEqual(
      seen.seen.map((s) => s.id).sort(),
      all.map((d) => d.id).sort(),
      'each delivery once, with its id as webhook-id',
    );
    const first = (await last<FinishedRecord>(
      jsm,
      SUCCEEDED_STREAM,
      subjects.succeeded('once-a', all[0]!.id),
    ))!;
    assert.equal(first.subject, subjects.succeeded('once-a', all[0]!.id));
    assert.equal(first.body.state, 'succeeded');
    assert.deepEqual(
      first.body.attempts.map((x) => [x.attempt, x.outcome, x.status]),
      [[1, 'success', 200]],
    );
    assert.equal(first.body.request, undefined, 'a succeeded record leaves the request out');
    assert.equal(first.body.eventId, all[0]!.eventId);
    await waitFor(
      'the work queue to be empty',
      async () => (await jsm.streams.info(DELIVERIES_STREAM)).state.messages === 0,
    );
    assert.deepEqual(a.errors, []);
  });

  test('a retry waits in HOOKD_RETRIES, is attempted after its time with its attempts carried, then succeeds', async (t) => {
    const h = hook('retry-hook', { retry: { schedule: [0, 1500] } });
    const seen = recorder(rx, (_req, hk) => ({
      status: hk === 'retry-hook' && seen.seen.filter((s) => s.hook === hk).length === 0 ? 503 : 200,
    }));
    const a = await replica([h]);
    t.after(() => a.stop());
    const d = rendered('r-1', h);
    await a.queue.insert([d]);
    const waiting = await waitFor('the retry to wait in HOOKD_RETRIES', () =>
      last<QueuedMessage>(jsm, RETRIES_STREAM, subjects.retry('retry-hook')),
    );
    const firstTry = seen.seen.find((s) => s.hook === 'retry-hook')!;
    assert.equal(firstTry.status, 503);
    assert.equal(waiting.headers['Hookd-Attempt'], '1');
    const notBefore = Number(waiting.headers['Hookd-Not-Before']);
    assert.ok(notBefore >= firstTry.at + 1000, 'due 1.5 s after the first attempt');
    assert.deepEqual(
      waiting.body.attempts?.map((x) => [x.attempt, x.outcome, x.status]),
      [[1, 'retryable', 503]],
    );
    await waitFor('the second attempt', () => seen.ok('retry-hook').length === 1);
    const second = seen.ok('retry-hook')[0]!;
    assert.ok(second.at >= notBefore, 'not attempted before its time');
    assert.equal(second.id, d.id, 'the same webhook-id');
    const done = await waitFor('its end record', () =>
      last<FinishedRecord>(jsm, SUCCEEDED_STREAM, subjects.succeeded('retry-hook', d.id)),
    );
    assert.deepEqual(
      done.body.attempts.map((x) => [x.attempt, x.outcome, x.status]),
      [
        [1, 'retryable', 503],
        [2, 'success', 200],
      ],
    );
    assert.equal(
      await count(jsm, RETRIES_STREAM, subjects.retry('retry-hook')),
      0,
      'the waiting room is empty',
    );
  });

  test('a delivery that fails every attempt is a dead letter with every attempt and the reason', async (t) => {
    const h = hook('dead-hook', { retry: { schedule: [0, 200, 200] } });
    recorder(rx, () => ({ status: 500 }));
    const a = await replica([h]);
    t.after(() => a.stop());
    const d = rendered('d-1', h);
    await a.queue.insert([d]);
    const dead = await waitFor('the dead letter', () =>
      last<FinishedRecord>(jsm, DEAD_LETTERS_STREAM, subjects.dead('dead-hook', d.id)),
    );
    assert.equal(dead.body.state, 'failed');
    assert.deepEqual(dead.body.request, d.request, 'a dead letter keeps the request as rendered');
    assert.deepEqual(
      dead.body.attempts.map((x) => [x.attempt, x.outcome, x.status]),
      [
        [1, 'retryable', 500],
        [2, 'retryable', 500],
        [3, 'retryable', 500],
      ],
    );
    assert.match(dead.body.lastError ?? '', /500/);
    assert.match(dead.headers['Hookd-Reason'] ?? '', /500/);
    assert.equal(await count(jsm, DELIVERIES_STREAM, subjects.delivery('dead-hook')), 0);
    assert.equal(await count(jsm, RETRIES_STREAM, subjects.retry('dead-hook')), 0);
  });

  test('intake: a render failure is a dead letter at once, a rejected event is kept', async (t) => {
    const h = hook('intake-hook');
    const a = await replica([h]);
    t.after(() => a.stop());
    const broken = { ...rendered('bad-1', h), renderError: 'render failed: no such field' };
    const added = await a.queue.insert(
      [broken],
      [
        {
          receivedAt: 1,
          source: 'nats',
          subject: 'orders.x',
          reason: 'unprocessable',
          payload: Buffer.from('{"x":'),
        },
      ],
    );
    assert.equal(added, 1);
    const dead = await last<FinishedRecord>(
      jsm,
      DEAD_LETTERS_STREAM,
      subjects.dead('intake-hook', broken.id),
    );
    assert.equal(dead?.body.state, 'failed');
    assert.equal(dead?.body.lastError, 'render failed: no such field');
    assert.deepEqual(
      dead?.body.attempts.map((x) => [x.attempt, x.outcome, x.error]),
      [[1, 'permanent', 'render failed: no such field']],
    );
    assert.equal(await count(jsm, DELIVERIES_STREAM, subjects.delivery('intake-hook')), 0, 'nothing queued');
    const rejected = (await last<RejectedRecord>(jsm, REJECTED_STREAM, subjects.rejected))!;
    assert.deepEqual(
      [rejected.body.reason, rejected.body.subject, Buffer.from(rejected.body.payload!, 'base64').toString()],
      ['unprocessable', 'orders.x', '{"x":'],
    );
  });

  test("two replicas share a webhook's work, its concurrency holding across both", async (t) => {
    const h = hook('shared-hook', { concurrency: 3 });
    const seen = recorder(rx, () => ({ status: 200, delayMs: 40 }));
    const a = await replica([h]);
    const b = await replica([h]);
    t.after(() => Promise.all([a.stop(), b.stop()]));
    const all = Array.from({ length: 120 }, (_, i) => rendered(`s-${i}`, h));
    // Intake on A only: B learns of the work from A's activity ping and the stream.
    await a.queue.insert(all);
    await waitFor('120 deliveries', () => seen.ok('shared-hook').length >= 120, {
      saw: () => seen.ok().length,
    });
    await waitFor('both replicas to have settled', () => a.queue.inFlight === 0 && b.queue.inFlight === 0);
    assert.deepEqual(
      seen
        .ok('shared-hook')
        .map((s) => s.id)
        .sort(),
      all.map((d) => d.id).sort(),
      'each once',
    );
    assert.ok(
      (seen.most.get('shared-hook') ?? 0) <= 3,
      `at most 3 at once (saw ${seen.most.get('shared-hook')})`,
    );
    const info = await jsm.consumers.info(DELIVERIES_STREAM, consumerName('shared-hook'));
    assert.equal(info.config.max_ack_pending, 3);
    assert.ok(info.delivered.consumer_seq >= 120);
    const [byA, byB] = [a.attempts.get('shared-hook') ?? 0, b.attempts.get('shared-hook') ?? 0];
    t.diagnostic(`replica A made ${byA} attempts, B ${byB}`);
    assert.ok(byA > 0 && byB > 0, `both replicas took part (A ${byA}, B ${byB})`);
  });

  test('a replica shut down hands back what it held at once, long before the ack wait', async (t) => {
    const h = hook('handback-hook', { concurrency: 2 });
    let hold = true;
    const seen = recorder(rx, () => (hold ? 'hold' : { status: 200 }));
    // An ack wait far beyond the test's patience: only a hand-back lets B have them.
    const a = await replica([h], { ackWaitMs: 600_000 });
    const all = Array.from({ length: 4 }, (_, i) => rendered(`hb-${i}`, h));
    await a.queue.insert(all);
    await waitFor('replica A to have 2 attempts open', () => seen.held.length === 2);
    hold = false;
    // A stops with no grace: its open attempts are cut short (released), then handed back.
    await a.stop(0);
    for (const res of seen.held) res.destroy();
    const b = await replica([h], { ackWaitMs: 600_000 });
    t.after(() => b.stop());
    let info: Awaited<ReturnType<typeof jsm.consumers.info>> | undefined;
    await waitFor(
      'every delivery delivered by B',
      async () => {
        info = await jsm.consumers.info(DELIVERIES_STREAM, consumerName('handback-hook'));
        return all.every((d) => seen.ok().some((s) => s.id === d.id));
      },
      {
        timeoutMs: 20_000,
        saw: () => ({
          missing: all.filter((d) => !seen.ok().some((s) => s.id === d.id)).map((d) => d.eventId),
          seen: seen.seen.map((s) => [s.id.slice(-4), s.status]),
          ackPending: info?.num_ack_pending,
          redelivered: info?.num_redelivered,
          waiting: info?.num_waiting,
          pending: info?.num_pending,
        }),
      },
    );
  });

  test("a webhook's concurrency change reaches its consumer's MaxAckPending", async (t) => {
    const h = hook('limit-hook', { concurrency: 2 });
    const hooks = [h];
    const seen = recorder(rx);
    const a = await replica(hooks);
    t.after(() => a.stop());
    await a.queue.insert([rendered('l-0', h)]);
    await waitFor('the first delivery', () => seen.ok('limit-hook').length === 1);
    const limit = async () =>
      (await jsm.consumers.info(DELIVERIES_STREAM, consumerName('limit-hook'))).config.max_ack_pending;
    assert.equal(await limit(), 2);
    h.concurrency = 5; // as a reload or an API update changes the webhook in force
    await a.queue.insert([rendered('l-1', h)]);
    await waitFor('the consumer updated to 5', async () => (await limit()) === 5);
    await waitFor('the second delivery', () => seen.ok('limit-hook').length === 2);
  });

  test('a replica killed with deliveries in flight: the other delivers them, with the same delivery ids', async (t) => {
    const h = hook('kill-hook', { concurrency: 2 });
    let hold = true;
    const seen = recorder(rx, () => (hold ? 'hold' : { status: 200 }));
    const a = await replica([h], { ackWaitMs: 2000 });
    const all = Array.from({ length: 6 }, (_, i) => rendered(`k-${i}`, h));
    await a.queue.insert(all);
    await waitFor('replica A to have 2 attempts open', () => seen.held.length === 2);
    const taken = seen.seen.map((s) => s.id);
    await a.kill();
    hold = false;
    for (const res of seen.held) res.destroy();
    const b = await replica([h], { ackWaitMs: 2000 });
    t.after(() => b.stop());
    await waitFor(
      'every delivery delivered by B',
      () => all.every((d) => seen.ok().some((s) => s.id === d.id)),
      {
        saw: () => seen.ok().length,
      },
    );
    for (const id of taken)
      assert.ok(
        seen.seen.filter((s) => s.id === id).length >= 2,
        `${id}: sent by A, then by B with the same webhook-id`,
      );
    await waitFor(
      'the queue to be empty',
      async () => (await count(jsm, DELIVERIES_STREAM, subjects.delivery('kill-hook'))) === 0,
    );
  });

  test("a held webhook's backlog stays in the stream, nothing pinned, and drains once it may go", async (t) => {
    const h = hook('held-hook');
    const other = hook('busy-hook');
    let open = true;
    const seen = recorder(rx);
    const a = await replica([h, other], { admit: (w) => w.id !== 'held-hook' || open });
    t.after(() => a.stop());
    await a.queue.insert([rendered('h-0', h)]);
    await waitFor('one delivery while it may go', () => seen.ok('held-hook').length === 1);
    // Its last pull (asked for more than there was) expires on the server; then it is held.
    await noPullWaiting(jsm, 'held-hook');
    open = false;
    const toldBefore = a.told.get('held-hook') ?? 0;
    const held = Array.from({ length: 50 }, (_, i) => rendered(`h-${i + 1}`, h));
    await a.queue.insert(held);
    // The replica keeps working (activity pings, backlog reads): another webhook's deliveries, inserted after, all arrive.
    const busy = Array.from({ length: 30 }, (_, i) => rendered(`b-${i}`, other));
    await a.queue.insert(busy);
    await waitFor('the other webhook delivered', () => seen.ok('busy-hook').length === 30);
    // The dispatcher is told of the held backlog again and again (activity ping, backlog reads) and does not ask.
    await waitFor(
      'the replica to be told of the held backlog 3 times',
      () => (a.told.get('held-hook') ?? 0) >= toldBefore + 3,
    );
    let last: unknown;
    await waitFor(
      'the backlog stored, none handed out',
      async () => {
        const c = await jsm.consumers.info(DELIVERIES_STREAM, consumerName('held-hook'));
        const stored = await count(jsm, DELIVERIES_STREAM, subjects.delivery('held-hook'));
        last = { stored, ackPending: c.num_ack_pending, pending: c.num_pending, waiting: c.num_waiting };
        return c.num_ack_pending === 0 && c.num_pending === 50 && c.num_waiting === 0 && stored === 50;
      },
      { saw: () => last },
    );
    assert.equal(seen.ok('held-hook').length, 1, 'nothing sent while held');
    open = true;
    // As app.ts does when a webhook is resumed.
    a.dispatcher.rescanWebhook('held-hook');
    await waitFor('the backlog drained', () => seen.ok('held-hook').length === 51, {
      saw: () => seen.ok('held-hook').length,
    });
  });

  test("a held webhook's consumer deleted for inactivity: its backlog stays stored and is delivered once it may go", async (t) => {
    const h = hook('expire-hook');
    let open = true;
    const seen = recorder(rx);
    // 1.5 s instead of the default hour (CONSUMER_INACTIVE_MS).
    const a = await replica([h], { admit: () => open, queue: { consumerInactiveMs: 1500 } });
    t.after(() => a.stop());
    await a.queue.insert([rendered('x-0', h)]);
    await waitFor('one delivery while it may go', () => seen.ok('expire-hook').length === 1);
    const c = await jsm.consumers.info(DELIVERIES_STREAM, consumerName('expire-hook'));
    assert.equal(
      c.config.inactive_threshold,
      1500 * 1e6,
      "the webhook's consumer has its inactive threshold",
    );
    const room = await jsm.consumers.info(RETRIES_STREAM, RETRIES_CONSUMER);
    assert.ok(!room.config.inactive_threshold, 'the shared waiting room consumer never expires');
    // Its last pull expires (or the consumer is gone already): nothing of the backlog below is handed out.
    await noPullWaiting(jsm, 'expire-hook');
    open = false;
    const held = Array.from({ length: 20 }, (_, i) => rendered(`x-${i + 1}`, h));
    await a.queue.insert(held);
    await waitFor("the held webhook's consumer deleted by the server", async () => {
      const info = await jsm.consumers.info(DELIVERIES_STREAM, consumerName('expire-hook')).catch(() => null);
      return info === null;
    });
    assert.equal(
      await count(jsm, DELIVERIES_STREAM, subjects.delivery('expire-hook')),
      20,
      'the backlog is still stored',
    );
    assert.equal(seen.ok('expire-hook').length, 1, 'nothing sent while held');
    open = true;
    a.dispatcher.rescanWebhook('expire-hook');
    await waitFor(
      'the backlog delivered through a consumer created again',
      () => seen.ok('expire-hook').length === 21,
      {
        saw: () => seen.ok('expire-hook').length,
      },
    );
    assert.deepEqual(
      seen
        .ok('expire-hook')
        .map((s) => s.id)
        .sort(),
      [rendered('x-0', h), ...held].map((d) => d.id).sort(),
      'each delivery once',
    );
    await waitFor(
      'the queue to be empty',
      async () => (await count(jsm, DELIVERIES_STREAM, subjects.delivery('expire-hook'))) === 0,
    );
    const again = await jsm.consumers.info(DELIVERIES_STREAM, consumerName('expire-hook'));
    assert.equal(again.config.inactive_threshold, 1500 * 1e6);
  });
  test("a webhook's consumer deleted while no pull of it waits is created again when the webhook has work", async (t) => {
    const h = hook('gone-hook');
    const seen = recorder(rx);
    const a = await replica([h]);
    t.after(() => a.stop());
    await a.queue.insert([rendered('g-0', h)]);
    await waitFor('one delivery', () => seen.ok('gone-hook').length === 1);
    await noPullWaiting(jsm, 'gone-hook');
    // As the server does after its inactive threshold (or an operator): nobody is told.
    await jsm.consumers.delete(DELIVERIES_STREAM, consumerName('gone-hook'));
    const more = Array.from({ length: 5 }, (_, i) => rendered(`g-${i + 1}`, h));
    await a.queue.insert(more);
    await waitFor(
      'the new deliveries sent through a consumer created again',
      () => seen.ok('gone-hook').length === 6,
      {
        saw: () => seen.ok('gone-hook').length,
      },
    );
    const c = await jsm.consumers.info(DELIVERIES_STREAM, consumerName('gone-hook'));
    assert.equal(c.config.filter_subject, subjects.delivery('gone-hook'));
  });
});

describe('3-node cluster, R3 streams', () => {
  test("a replica killed and the queue's stream leader killed during delivery (with retries): every delivery arrives", async (t) => {
    const cluster = await peers.natsCluster();
    const rx = await peers.httpReceiver();
    // Every 10th event's first attempt fails: those go through the waiting room (HOOKD_RETRIES, R3) too.
    const failedOnce = new Set<string>();
    const seen = recorder(rx, (req) => {
      const event = (JSON.parse(req.body) as { eventId: string }).eventId;
      if (Number(event.slice(1)) % 10 === 0 && !failedOnce.has(event)) {
        failedOnce.add(event);
        return { status: 503 };
      }
      return { status: 200, delayMs: 10 };
    });
    const hooks = ['c-hook-0', 'c-hook-1', 'c-hook-2', 'c-hook-3'].map((id) =>
      httpHook(id, `${rx.origin}/${id}`, { concurrency: 4, retry: { schedule: [0, 500] } }),
    );
    const opts = { servers: cluster.urls, hooks, replicas: 3, ackWaitMs: 3000 };
    const a = await startReplica(peers, opts);
    const b = await startReplica(peers, opts);
    const nc = await peers.start(
      'test connection',
      () => connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 100 }),
      (c) => c.close(),
    );
    const jsm = await jetstreamManager(nc);
    assert.equal((await jsm.streams.info(DELIVERIES_STREAM)).config.num_replicas, 3);
    const all = Array.from({ length: 400 }, (_, i) => rendered(`c${i}`, hooks[i % 4]!));
    assert.equal(await a.queue.insert(all), 400);
    await waitFor('some deliveries to arrive', () => seen.ok().length >= 60);
    const leader = (await jsm.streams.info(DELIVERIES_STREAM)).cluster?.leader;
    const victim = cluster.memberNamed(leader);
    assert.ok(victim, `the stream leader ${leader} is one of the members`);
    await a.kill();
    await victim.kill(true);
    const killedAt = Date.now();
    t.diagnostic(`replica A killed after ${seen.ok().length} deliveries; stream leader ${leader} SIGKILLed`);
    await waitFor(
      'all 400 deliveries to arrive',
      () => all.every((d) => seen.ok().some((s) => s.id === d.id)),
      {
        timeoutMs: 90_000,
        intervalMs: 200,
        saw: () => `${new Set(seen.ok().map((s) => s.id)).size} of 400`,
      },
    );
    t.diagnostic(`all delivered ${Date.now() - killedAt} ms after the kills`);
    const done = await waitFor(
      'an end record for each',
      async () => {
        const info = await jsm.streams.info(SUCCEEDED_STREAM, { subjects_filter: 'hookd.succeeded.>' });
        return Object.keys(info.state.subjects ?? {}).length === 400 ? info : false;
      },
      { timeoutMs: 60_000 },
    );
    assert.equal(Object.keys(done.state.subjects ?? {}).length, 400);
    await waitFor(
      'the queue to be empty',
      async () => (await jsm.streams.info(DELIVERIES_STREAM)).state.messages === 0,
      {
        timeoutMs: 60_000,
      },
    );
    t.diagnostic(
      `${seen.ok().length} requests for 400 deliveries (repeats: A's unsettled ones, same webhook-id)`,
    );
    await b.stop();
  });
});
