/**
 * The `jetstream` backend's shared state (issue 15, DESIGN.md section 8)
 * between two replicas in one process, each with its own connection, on a
 * real single nats-server and on a real 3-node cluster (R3 buckets, each
 * replica on another member): API webhooks and webhook states written
 * through one are in force on the other, deletions propagate and are never
 * undone by a late write, a restarted replica loads the current set, and
 * concurrent writers converge without compare-and-set.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  idToken,
  NUMBERS_STREAM,
  openSharedState,
  type SharedState,
  STATES_BUCKET,
  WEBHOOKS_BUCKET,
  type WebhookRecord,
} from '../../src/outbox/jetstream/index.ts';
import { KeyRing, specSeal } from '../../src/secrets/index.ts';
import { TransportRegistry } from '../../src/transports/index.ts';
import { usePeers } from '../helpers/peers.ts';
import { waitFor } from '../helpers/wait.ts';

const peers = usePeers();
const seal = specSeal(new KeyRing(randomBytes(32).toString('base64')), new TransportRegistry());
const SECRET = 'whsec_c2VjcmV0LW5ldmVyLWluLWNsZWFyLWluLXRoZS1idWNrZXQ=';

const spec = (url: string, extra: Record<string, unknown> = {}) => ({
  type: 'http',
  identifier: url,
  topics: ['orders.*'],
  url,
  ...extra,
});

/** Both replicas' views of the webhooks, comparable. */
const webhooksOf = (s: SharedState) =>
  s.webhooks.all().map((w) => ({ id: w.id, number: w.number, spec: w.spec }));

interface Setup {
  urlA: string;
  urlB: string;
  replicas: number;
  /** What replica A's server goes through (a restart; a member killed for good). */
  disrupt: { what: string; run: () => Promise<void> };
}

function scenarios(name: string, setup: () => Promise<Setup>) {
  describe(name, () => {
    let disrupt: Setup['disrupt'];
    const connections: NatsConnection[] = [];
    /** What the replicas reported (a watcher resumed, a write that failed). */
    const notes: string[] = [];
    let urlA: string;
    let urlB: string;
    let replicas: number;
    let a: SharedState;
    let b: SharedState;

    const replica = async (url: string) => {
      const nc = await peers.start(
        `connection to ${url}`,
        () => connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100 }),
        (c) => c.close(),
      );
      connections.push(nc);
      const s = await openSharedState(nc, { replicas, seal, onError: (e) => notes.push(e.message) });
      peers.defer('shared state', () => s.close());
      return s;
    };

    test('setup: two replicas on their own connections', async () => {
      ({ urlA, urlB, replicas, disrupt } = await setup());
      a = await replica(urlA);
      b = await replica(urlB);
      const nc = await connect({ servers: urlA });
      try {
        const jsm = await jetstreamManager(nc);
        for (const stream of [`KV_${WEBHOOKS_BUCKET}`, `KV_${STATES_BUCKET}`, NUMBERS_STREAM]) {
          const info = await jsm.streams.info(stream);
          assert.equal(info.config.num_replicas, replicas, `${stream} has ${replicas} replicas`);
          assert.equal(
            (info.cluster?.replicas?.length ?? 0) + 1,
            replicas,
            `${stream} is stored on ${replicas} servers`,
          );
        }
      } finally {
        await nc.close();
      }
    });

    test('a webhook created through one replica is in force on the other, its secret sealed in the bucket', async (t) => {
      const started = Date.now();
      const created = a.webhooks.insert(
        'orders-hook',
        spec('https://a.example/hook', { secret: SECRET }),
        started,
      );
      assert.equal(a.webhooks.get('orders-hook')?.number, created.number, 'the writer sees it at once');
      const seen = await waitFor('replica B to see orders-hook', () => b.webhooks.get('orders-hook'), {
        timeoutMs: 15_000,
        saw: () => webhooksOf(b),
      });
      t.diagnostic(`propagated in ${Date.now() - started} ms (DESIGN.md section 8 allows 1 s)`);
      assert.equal(seen.number, created.number);
      assert.equal(seen.spec.secret, SECRET, 'replica B opens the sealed secret');
      assert.equal(b.webhooks.byNumber(created.number)?.id, 'orders-hook');
      assert.throws(() => b.webhooks.insert('orders-hook', spec('https://b.example'), Date.now()), {
        code: 'HOOKD_WEBHOOK_DUPLICATE',
      });

      await a.flush();
      const nc = await connect({ servers: urlA });
      try {
        const kv = await new Kvm(nc).open(WEBHOOKS_BUCKET);
        const raw = (await kv.get(`webhook.${idToken('orders-hook')}`))!.string();
        assert.ok(!raw.includes(SECRET), `the bucket holds the secret sealed: ${raw}`);
        assert.equal((JSON.parse(raw) as WebhookRecord).spec.url, 'https://a.example/hook');
      } finally {
        await nc.close();
      }
    });

    test('numbers handed out by both replicas at once are all distinct', async () => {
      const now = Date.now();
      const ids: string[] = [];
      for (let i = 0; i < 60; i++) {
        ids.push(`n-a-${i}`, `n-b-${i}`);
        a.webhooks.insert(`n-a-${i}`, spec(`https://a.example/${i}`), now);
        b.webhooks.insert(`n-b-${i}`, spec(`https://b.example/${i}`), now);
      }
      await Promise.all([a.flush(), b.flush()]);
      for (const s of [a, b]) {
        const all = await waitFor(
          'each replica to see all 120 webhooks',
          () => {
            const got = s.webhooks.all().filter((w) => w.id.startsWith('n-'));
            return got.length === ids.length && got;
          },
          { saw: () => s.webhooks.all().length },
        );
        assert.equal(new Set(all.map((w) => w.number)).size, ids.length, 'no number handed out twice');
      }
      assert.deepEqual(webhooksOf(a), webhooksOf(b));
    });

    test('a replace through one replica reaches the other; a deletion too, and a late write does not undo it', async () => {
      const now = Date.now();
      a.webhooks.insert('to-delete', spec('https://a.example/v1'), now);
      await waitFor('replica B to see to-delete', () => b.webhooks.get('to-delete'));
      const before = b.webhooks.get('to-delete')!;

      assert.equal(b.webhooks.update('to-delete', spec('https://b.example/v2'), now + 1), true);
      await waitFor(
        'replica A to see the replacement',
        () => a.webhooks.get('to-delete')?.spec.url === 'https://b.example/v2',
        {
          saw: () => a.webhooks.get('to-delete'),
        },
      );

      assert.equal(a.webhooks.delete('to-delete'), true);
      assert.equal(a.webhooks.get('to-delete'), undefined, 'the deleting replica forgets it at once');
      await waitFor('replica B to see the deletion', () => b.webhooks.get('to-delete') === undefined, {
        saw: () => b.webhooks.get('to-delete'),
      });
      assert.equal(b.webhooks.update('to-delete', spec('https://b.example/v3'), now + 2), false);
      assert.equal(b.webhooks.byNumber(before.number), undefined);
      await a.flush();

      // A replica that had not seen the deletion yet puts its old record back: the webhook stays deleted.
      const nc = await connect({ servers: urlB });
      try {
        const kv = await new Kvm(nc).open(WEBHOOKS_BUCKET);
        const stale: WebhookRecord = {
          id: 'to-delete',
          number: before.number,
          spec: spec('https://stale.example'),
          createdAt: now,
          updatedAt: now + 3,
        };
        await kv.put(`webhook.${idToken('to-delete')}`, JSON.stringify(stale));
        const c = await openSharedState(nc, { replicas, seal });
        try {
          // Written after the late record: a replica that has this has read the late one too (one bucket, one order).
          c.webhooks.insert('after-late-write', spec('https://c.example'), now + 3);
          await c.flush();
          for (const s of [a, b])
            await waitFor('both replicas to read past the late write', () =>
              s.webhooks.get('after-late-write'),
            );
          for (const [who, s] of [
            ['A', a],
            ['B', b],
            ['a restarted replica', c],
          ] as const)
            assert.equal(s.webhooks.get('to-delete'), undefined, `${who} does not revive it`);
        } finally {
          await c.close();
        }
      } finally {
        await nc.close();
      }

      // The id may be created again: a new number, live everywhere.
      const again = b.webhooks.insert('to-delete', spec('https://b.example/again'), now + 4);
      assert.notEqual(again.number, before.number);
      await waitFor(
        'replica A to see the id created again',
        () => a.webhooks.get('to-delete')?.number === again.number,
        {
          saw: () => a.webhooks.get('to-delete'),
        },
      );
    });

    test('a state set through one replica is seen by the other, and its removal too', async () => {
      const seenByB: string[] = [];
      b.webhookStates.onRemoteChange((id, r) => seenByB.push(`${id}=${r?.state ?? 'removed'}`));
      const snapshot = JSON.stringify({ mode: 'open', reopensAt: 1234 });
      const savedAt = Date.now();
      a.webhookStates.saveWebhookState('orders-hook', 'TooManyErrors', 'breaker opened', snapshot, savedAt);
      const row = await waitFor('replica B to load the state set through A', () =>
        b.webhookStates.loadWebhookStates().find((r) => r.webhookId === 'orders-hook'),
      );
      assert.deepEqual(row, {
        webhookId: 'orders-hook',
        state: 'TooManyErrors',
        reason: 'breaker opened',
        data: snapshot,
        updatedAt: savedAt,
      });

      b.webhookStates.saveWebhookState('orders-hook', 'Stopped', 'by operator', null, Date.now());
      await waitFor('replica A to see Stopped', () =>
        a.webhookStates
          .loadWebhookStates()
          .find((r) => r.webhookId === 'orders-hook' && r.state === 'Stopped'),
      );
      a.webhookStates.deleteWebhookState('orders-hook');
      await waitFor('replica B to see the state removed', () =>
        b.webhookStates.loadWebhookStates().every((r) => r.webhookId !== 'orders-hook'),
      );
      assert.deepEqual(seenByB, ['orders-hook=TooManyErrors', 'orders-hook=removed']);
    });

    test('concurrent replacements through both replicas end with the same record everywhere', async () => {
      const now = Date.now();
      a.webhooks.insert('contended', spec('https://x.example/0'), now);
      b.webhookStates.saveWebhookState('contended', 'Active', 'start', null, now);
      await waitFor(
        'both replicas to see contended',
        () => a.webhooks.get('contended') && b.webhooks.get('contended'),
      );
      for (let i = 1; i <= 50; i++) {
        a.webhooks.update('contended', spec(`https://a.example/${i}`), now + i);
        b.webhooks.update('contended', spec(`https://b.example/${i}`), now + i);
        a.webhookStates.saveWebhookState('contended', 'Stopped', `a ${i}`, null, now + i);
        b.webhookStates.saveWebhookState('contended', 'Active', `b ${i}`, null, now + i);
      }
      await Promise.all([a.flush(), b.flush()]);
      const state = (s: SharedState) =>
        s.webhookStates.loadWebhookStates().find((r) => r.webhookId === 'contended');
      const nc = await connect({ servers: urlA });
      try {
        const kv = await new Kvm(nc).open(WEBHOOKS_BUCKET);
        const last = (await kv.get(`webhook.${idToken('contended')}`))!.json<WebhookRecord>();
        await waitFor(
          "both replicas to hold the bucket's last record",
          () =>
            [a, b].every(
              (s) =>
                s.webhooks.get('contended')?.updatedAt === last.updatedAt &&
                s.webhooks.get('contended')?.spec.url === last.spec.url,
            ),
          {
            saw: () => [
              a.webhooks.get('contended')?.spec.url,
              b.webhooks.get('contended')?.spec.url,
              last.spec.url,
            ],
          },
        );
        await waitFor(
          'both replicas to hold the same state',
          () => {
            const [x, y] = [state(a), state(b)];
            return x && y && x.reason === y.reason && x.state === y.state;
          },
          { saw: () => [state(a), state(b)] },
        );
      } finally {
        await nc.close();
      }
    });

    test('a restarted replica loads the current webhooks and states', async () => {
      await Promise.all([a.flush(), b.flush()]);
      const nc = await connect({ servers: urlA });
      try {
        const c = await openSharedState(nc, { replicas, seal });
        try {
          assert.deepEqual(webhooksOf(c), webhooksOf(b));
          assert.deepEqual(
            new Set(c.webhookStates.loadWebhookStates().map((r) => JSON.stringify(r))),
            new Set(b.webhookStates.loadWebhookStates().map((r) => JSON.stringify(r))),
          );
          assert.equal(c.webhooks.get('orders-hook')?.spec.secret, SECRET);
          assert.ok(c.webhooks.all().length >= 122, `loaded ${c.webhooks.all().length} webhooks`);
        } finally {
          await c.close();
        }
      } finally {
        await nc.close();
      }
    });

    test('after a disruption of the server under replica A, the replicas still follow each other', async (t) => {
      await disrupt.run();
      t.diagnostic(disrupt.what);
      await waitFor('both replicas to be connected again', async () => {
        for (const nc of connections) await nc.rtt();
        return true;
      });
      b.webhooks.insert('after-disruption', spec('https://b.example/after'), Date.now());
      a.webhookStates.saveWebhookState('after-disruption', 'Stopped', 'set through A', null, Date.now());
      await Promise.all([a.flush(), b.flush()]);
      await waitFor('replica A to see the webhook created through B', () =>
        a.webhooks.get('after-disruption'),
      );
      await waitFor('replica B to see the state set through A', () =>
        b.webhookStates.loadWebhookStates().find((r) => r.webhookId === 'after-disruption'),
      );
      t.diagnostic(`reported by the replicas: ${notes.join('; ') || 'nothing'}`);
    });
  });
}

scenarios('single nats-server', async () => {
  const n = await peers.nats();
  return {
    urlA: n.url,
    urlB: n.url,
    replicas: 1,
    disrupt: { what: 'the server restarted (same store)', run: () => n.restart() },
  };
});

scenarios('3-node cluster, R3 buckets, each replica on another member', async () => {
  const c = await peers.natsCluster();
  return {
    urlA: c.urls[0]!,
    urlB: c.urls[1]!,
    replicas: 3,
    disrupt: { what: "replica A's member SIGKILLed for good", run: () => c.members[0]!.kill(true) },
  };
});

describe('a write that cannot reach the bucket', () => {
  test("is reported by flush and onError, undone in the writer's view, and the view follows again once NATS is back", async () => {
    const server = await peers.nats();
    const nc = await peers.start(
      'connection',
      () => connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 }),
      (c) => c.close(),
    );
    const errors: Error[] = [];
    const a = await openSharedState(nc, {
      replicas: 1,
      seal,
      writeDeadlineMs: 500,
      onError: (e) => errors.push(e),
    });
    peers.defer('shared state', () => a.close());
    a.webhooks.insert('kept', spec('https://a.example/v1'), 1);
    a.webhookStates.saveWebhookState('kept', 'Stopped', 'by operator', null, 1);
    await a.flush();

    await server.kill();
    assert.equal(a.webhooks.update('kept', spec('https://a.example/v2'), 2), true);
    a.webhooks.insert('lost', spec('https://a.example/lost'), 2);
    a.webhookStates.deleteWebhookState('kept');
    assert.equal(a.webhooks.get('lost')?.spec.url, 'https://a.example/lost', 'applied in the view at once');
    await assert.rejects(a.flush(), { code: 'HOOKD_STORE_FAILED' });
    assert.ok(errors.length >= 3, `each failed write reported: ${errors.map((e) => e.message).join('; ')}`);
    assert.equal(a.webhooks.get('kept')?.spec.url, 'https://a.example/v1', 'the replacement is undone');
    assert.equal(a.webhooks.get('lost'), undefined, 'the creation is undone');
    assert.equal(a.webhookStates.loadWebhookStates()[0]?.state, 'Stopped', 'the removal is undone');

    await server.start();
    await waitFor('the connection to be back', () => nc.rtt());
    const c = await peers.start(
      'second connection',
      () => connect({ servers: server.url }),
      (x) => x.close(),
    );
    const b = await openSharedState(c, { replicas: 1, seal });
    peers.defer('shared state', () => b.close());
    assert.deepEqual(webhooksOf(b), webhooksOf(a), "the writer's view is what the bucket has");
    b.webhooks.insert('after-outage', spec('https://b.example'), 3);
    await waitFor('replica A to follow again', () => a.webhooks.get('after-outage'));
  });
});
