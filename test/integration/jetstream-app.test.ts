/**
 * Two hookd Apps with `store.backend: jetstream` on one nats-server
 * (issue 15, DESIGN.md section 8): a webhook created through A's API is in
 * B's catalog (the KV bucket's watch; measured, the contract allows 1 s),
 * events published to NATS are delivered through the shared queues, and
 * both answer the same `GET /v1/webhooks/{id}/deliveries`. `/metrics` names
 * each replica and its backend. The same pair on a 3-node cluster (R3).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { api, type RunningHookd } from '../helpers/hookd.ts';
import { waitForConsumer } from '../helpers/nats-server.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

const peers = usePeers();

describe('two replicas (Apps) on one nats-server', () => {
  let natsUrl: string;
  let receiver: Receiver;
  let a: RunningHookd;
  let b: RunningHookd;
  let webhookId: string;

  const replica = () =>
    peers.hookd({
      config: {
        nats: { url: natsUrl },
        store: { backend: 'jetstream' },
        // Short retries: a receiver's 503 is retried at once.
        delivery: { retry: { schedule: ['0s', '0s', '0s'], jitter: 0 } },
      },
    });

  test('setup: two replicas open the same streams and buckets and share the event consumer', async () => {
    natsUrl = (await peers.nats()).url;
    receiver = await peers.receiver();
    a = await replica();
    b = await replica();
    await waitForConsumer(natsUrl);
    assert.notEqual(a.app.replica, b.app.replica);
  });

  test("a webhook created through A's API is in B's catalog", async (t) => {
    const created = await api(a, 'POST', '/v1/webhooks', {
      url: `${receiver.url}/orders`,
      events: ['orders.created'],
      // Signed: each request carries its delivery id as webhook-id.
      secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    webhookId = String(created.body.id);
    const t0 = performance.now();
    await waitFor(`webhook ${webhookId} in B's catalog`, () => b.app.catalog.webhook(webhookId));
    t.diagnostic(`in B's catalog after ${(performance.now() - t0).toFixed(1)} ms`);
    assert.equal((await api(b, 'GET', `/v1/webhooks/${webhookId}`)).status, 200);
  });

  test('events published to NATS are delivered once each, retries included; both replicas list the same deliveries', async () => {
    const nc = await peers.start(
      'publisher',
      () => connect({ servers: natsUrl }),
      (c) => c.close(),
    );
    const js = jetstream(nc);
    // More than a webhook's concurrency (56 by default): its queue must keep handing out work.
    const N = 200;
    const events = Array.from({ length: N }, (_, i) => ({
      id: `evt-${i}`,
      type: 'orders.created',
      data: { i },
    }));
    // The first three requests fail: those deliveries wait in HOOKD_RETRIES, then succeed.
    receiver.respond((_req, n) => ({ status: n <= 3 ? 503 : 200 }));
    await Promise.all(events.map((e) => js.publish('events.orders', JSON.stringify(e), { msgID: e.id })));
    await receiver.waitFor(N + 3, 60_000);
    const ok = receiver.requests.slice(3).map((r) => String(r.headers['webhook-id']));
    assert.equal(new Set(ok).size, N, 'each delivery succeeded once');
    const path = `/v1/webhooks/${webhookId}/deliveries?limit=70`;
    type Page = {
      items: { id: string; state: string; attempts: { outcome: string }[] }[];
      next: string | null;
    };
    const page = async (h: RunningHookd, before?: string) =>
      (await api(h, 'GET', before ? `${path}&before=${before}` : path)).body as Page;
    const all = async (h: RunningHookd) => {
      const pages: Page[] = [];
      for (let p = await page(h); ; p = await page(h, p.next!)) {
        pages.push(p);
        if (!p.next) return pages;
      }
    };
    await waitFor(
      `A to list ${N} succeeded deliveries`,
      async () => (await all(a)).flatMap((p) => p.items).filter((d) => d.state === 'succeeded').length === N,
    );
    const pagesA = await all(a);
    assert.deepEqual(await all(b), pagesA, 'B answers what A answers, page by page');
    const listed = pagesA.flatMap((p) => p.items);
    assert.deepEqual(
      listed.map((d) => d.id).sort(),
      [...ok].sort(),
      'listed: the deliveries the receiver got',
    );
    const retried = listed.filter((d) => d.attempts.length > 1);
    assert.equal(retried.length, 3, JSON.stringify(retried));
    for (const d of retried)
      assert.deepEqual(
        d.attempts.map((x) => x.outcome),
        ['retryable', 'success'],
      );
  });

  test('a dead letter shows failed on both; requeued through B it is delivered and listed with both attempts', async () => {
    const nc = await peers.start(
      'publisher',
      () => connect({ servers: natsUrl }),
      (c) => c.close(),
    );
    const seen = receiver.requests.length;
    // A 400 is permanent: the delivery is a dead letter at once.
    receiver.respond(() => ({ status: 400 }));
    await jetstream(nc).publish('events.orders', JSON.stringify({ id: 'evt-dead', type: 'orders.created' }), {
      msgID: 'evt-dead',
    });
    await receiver.waitFor(seen + 1, 60_000);
    const deliveryId = String(receiver.requests[seen]!.headers['webhook-id']);
    const failed = async (h: RunningHookd) =>
      (await api(h, 'GET', `/v1/webhooks/${webhookId}/deliveries?state=failed&limit=10`)).body as {
        items: { id: string; attempts: { outcome: string }[] }[];
      };
    await waitFor('the dead letter listed on A', async () =>
      (await failed(a)).items.some((d) => d.id === deliveryId),
    );
    assert.deepEqual(await failed(b), await failed(a));
    receiver.respond(() => ({ status: 200 }));
    const requeued = await api(b, 'POST', `/v1/deliveries/${deliveryId}/retry`);
    assert.equal(requeued.status, 202, JSON.stringify(requeued.body));
    // Pending, or already delivered: the requeue wakes every replica at once (hookd.activity.<webhook>).
    assert.match(String(requeued.body.state), /^(pending|succeeded)$/);
    await receiver.waitFor(seen + 2, 60_000);
    assert.equal(receiver.requests[seen + 1]!.headers['webhook-id'], deliveryId, 'the same webhook-id');
    await waitFor('A to show it delivered, with both attempts', async () => {
      const d = (await api(a, 'GET', `/v1/webhooks/${webhookId}/deliveries?state=succeeded&limit=50`))
        .body as {
        items: { id: string; attempts: { outcome: string }[] }[];
      };
      const it = d.items.find((x) => x.id === deliveryId);
      return it && JSON.stringify(it.attempts.map((x) => x.outcome)) === '["permanent","success"]';
    });
    // Requeueing what is not failed is a conflict, on either replica.
    assert.equal((await api(a, 'POST', `/v1/deliveries/${deliveryId}/retry`)).status, 409);
  });

  test('/metrics names the replica and its backend; no consumer lease in jetstream mode', async () => {
    const text = await (await fetch(`${a.url}/metrics`)).text();
    assert.match(
      text,
      new RegExp(`hookd_replica_info\\{replica="${a.app.replica}",backend="jetstream"\\} 1`),
    );
    assert.match(text, /^hookd_consumer_lease_held 0$/m);
  });
});

describe('two replicas (Apps) on a 3-node cluster, R3 streams and buckets', () => {
  test('a webhook created through A is delivered by the pair and both list the same deliveries', async () => {
    const cluster = await peers.natsCluster();
    const receiver = await peers.receiver();
    // nats.url lists every member (joined with commas), as an operator writes it for a cluster.
    const replica = () =>
      peers.hookd({
        config: {
          nats: { url: cluster.urls.join(',') },
          store: { backend: 'jetstream', jetstream: { replicas: 3 } },
        },
      });
    const a = await replica();
    const b = await replica();
    await waitForConsumer(cluster.urls[0]!);
    const created = await api(a, 'POST', '/v1/webhooks', {
      url: `${receiver.url}/c`,
      events: ['orders.created'],
      secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = String(created.body.id);
    await waitFor(`webhook ${id} in B's catalog`, () => b.app.catalog.webhook(id));
    const nc = await peers.start(
      'publisher',
      () => connect({ servers: cluster.urls }),
      (c) => c.close(),
    );
    const js = jetstream(nc);
    for (let i = 0; i < 10; i++)
      await js.publish('events.orders', JSON.stringify({ id: `c-${i}`, type: 'orders.created' }), {
        msgID: `c-${i}`,
      });
    await receiver.waitFor(10, 60_000);
    assert.equal(new Set(receiver.requests.map((r) => r.headers['webhook-id'])).size, 10);
    const list = async (h: RunningHookd) =>
      (await api(h, 'GET', `/v1/webhooks/${id}/deliveries?limit=50`)).body as { items: { state: string }[] };
    await waitFor(
      'A to list 10 succeeded',
      async () => (await list(a)).items.filter((d) => d.state === 'succeeded').length === 10,
    );
    assert.deepEqual(await list(b), await list(a));
    const info = await (await jetstreamManager(nc)).streams.info('HOOKD_SUCCEEDED');
    assert.equal(info.config.num_replicas, 3);
  });
});
