/**
 * Issue 15 scenario b on two hookd Apps with `store.backend: jetstream` on
 * one nats-server, as `hookd run` wires them (`App.open`): a failing
 * receiver opens one breaker for the webhook (both replicas at the
 * threshold-th failure of `HOOKD_OUTCOMES`, not after the threshold from
 * each), exactly one probe goes out per cooldown (one probe record per open
 * period, one stored claim per round), a good probe resumes both and every
 * held delivery is delivered; `Stopped` set through A's API is in force on
 * B within 1 s, and `Active` set through B's API resumes both.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  decodeOutcome,
  idToken,
  OUTCOMES_STREAM,
  type OutcomeRecord,
  PROBES_STREAM,
  STATES_BUCKET,
  type StateRecord,
} from '../../src/outbox/jetstream/index.ts';
import { api, type RunningHookd } from '../helpers/hookd.ts';
import { waitForConsumer } from '../helpers/nats-server.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

const peers = usePeers();
const FAILURES = 5;
const COOLDOWN_MS = 1500;

/** Every message of a stream on one subject, in the stream's order. */
async function messagesOf(nc: NatsConnection, stream: string, subject: string): Promise<Uint8Array[]> {
  const jsm = await jetstreamManager(nc);
  const last = (await jsm.streams.info(stream)).state.last_seq;
  const out: Uint8Array[] = [];
  for (let seq = 1; seq <= last; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => undefined);
    if (m?.subject === subject) out.push(m.data);
  }
  return out;
}

describe('two hookd replicas (jetstream), one failing receiver', () => {
  let natsUrl: string;
  let nc: NatsConnection;
  let receiver: Receiver;
  let a: RunningHookd;
  let b: RunningHookd;
  let id: string;
  let healthy = false;
  const requests = () => receiver.requests.filter((r) => r.url === '/failing');

  const replica = () =>
    peers.hookd({
      config: {
        nats: { url: natsUrl },
        store: { backend: 'jetstream' },
        delivery: {
          retry: { schedule: ['0s', '0s', '0s', '0s', '0s', '0s'], jitter: 0 },
          breaker: {
            failures: FAILURES,
            rate: 1,
            minAttempts: 1000,
            cooldownMs: COOLDOWN_MS,
            maxCooldownMs: 2 * COOLDOWN_MS,
          },
        },
      },
    });
  const stateRecord = async () => {
    const kv = await new Kvm(nc).open(STATES_BUCKET);
    return (await kv.get(`state.${idToken(id)}`))?.json<StateRecord>();
  };

  test('setup: two replicas, a webhook created through A', async () => {
    natsUrl = (await peers.nats()).url;
    receiver = await peers.receiver();
    receiver.respond((req) => ({ status: req.url === '/failing' && !healthy ? 503 : 200 }));
    a = await replica();
    b = await replica();
    await waitForConsumer(natsUrl);
    nc = await peers.start(
      'test connection',
      () => connect({ servers: natsUrl }),
      (c) => c.close(),
    );
    const created = await api(a, 'POST', '/v1/webhooks', {
      url: `${receiver.url}/failing`,
      events: ['orders.created'],
      concurrency: 2,
      // Signed: each request carries its delivery id as webhook-id.
      secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    id = String(created.body.id);
    await waitFor(`webhook ${id} in B's catalog`, () => b.app.catalog.webhook(id));
  });

  test('the breaker opens once for the webhook, one probe per cooldown, a good probe resumes both', async (t) => {
    const js = jetstream(nc);
    for (let i = 0; i < 30; i++)
      await js.publish(
        'events.orders',
        JSON.stringify({ id: `b-${i}`, type: 'orders.created', data: { i } }),
        {
          msgID: `b-${i}`,
        },
      );
    const w = () => a.app.catalog.webhook(id)!;
    await waitFor('both replicas to open the breaker', () =>
      [a, b].every((h) => h.app.states.stateOf(h.app.catalog.webhook(id)!) === 'TooManyErrors'),
    );
    const opened = await waitFor('the state record', stateRecord);
    assert.equal(opened.reason, `${FAILURES} consecutive failed attempts`);
    const failures = (await messagesOf(nc, OUTCOMES_STREAM, `hookd.outcomes.${idToken(id)}`))
      .map((d) => decodeOutcome(d)!)
      .filter((o) => o.kind === 'failure');
    assert.equal(
      JSON.parse(opened.data!).openedAt,
      failures[FAILURES - 1]!.at,
      `opened at the ${FAILURES}th failure record of the stream, whichever replica sent it`,
    );
    t.diagnostic(
      `${requests().length} requests when it opened; the first ${FAILURES} failures from ${new Set(failures.slice(0, FAILURES).map((f) => f.replica)).size} replica(s)`,
    );

    await waitFor('the first probe to fail (the cooldown doubled)', async () => {
      const r = await stateRecord();
      return r?.data && JSON.parse(r.data).doublings === 1;
    });
    healthy = true;
    await waitFor('both replicas to close the breaker', () =>
      [a, b].every((h) => h.app.states.stateOf(h.app.catalog.webhook(id)!) === 'Active'),
    );
    assert.equal(w().id, id);
    await waitFor('all 30 delivered once resumed', () => {
      const ok = new Set(
        receiver.requests.filter((r) => r.url === '/failing').map((r) => r.headers['webhook-id']),
      );
      return ok.size === 30 && ok;
    });

    const outcomes = (await messagesOf(nc, OUTCOMES_STREAM, `hookd.outcomes.${idToken(id)}`)).map(
      (d) => decodeOutcome(d)! as OutcomeRecord,
    );
    const probes = outcomes.filter((o) => o.probe !== undefined);
    assert.deepEqual(
      probes.map((p) => p.kind),
      ['failure', 'successes'],
      'one probe in each of the two open periods: the first failed, the second succeeded',
    );
    assert.equal(new Set(probes.map((p) => p.probe)).size, 2, 'each of its own open period');
    // A round whose winner had none of the webhook's deliveries at hand (the other replica held
    // them) passes without a probe; the next round is claimed again. Never more probes than claims.
    const claims = await messagesOf(nc, PROBES_STREAM, `hookd.probes.${idToken(id)}`);
    assert.ok(claims.length >= probes.length, `${claims.length} rounds claimed, ${probes.length} probes`);
    t.diagnostic(
      `probes sent by ${probes.map((p) => p.replica).join(', ')}; ${claims.length} rounds claimed`,
    );
  });

  test('Stopped set through A is in force on B within 1 s; Active set through B resumes both', async (t) => {
    const started = Date.now();
    const stopped = await api(a, 'PUT', `/v1/webhooks/${id}/state`, {
      state: 'Stopped',
      reason: 'maintenance',
    });
    assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
    await waitFor(
      'B to stop the webhook',
      () => b.app.states.stateOf(b.app.catalog.webhook(id)!) === 'Stopped',
    );
    const took = Date.now() - started;
    t.diagnostic(`Stopped in force on B after ${took} ms`);
    assert.ok(took < 1000, `within 1 s (DESIGN.md section 8): ${took} ms`);
    assert.equal((await api(b, 'GET', `/v1/webhooks/${id}`)).body.state, 'Stopped', "B's API says so");
    const resumed = await api(b, 'PUT', `/v1/webhooks/${id}/state`, { state: 'Active' });
    assert.equal(resumed.status, 200);
    await waitFor('A to resume it', () => a.app.states.stateOf(a.app.catalog.webhook(id)!) === 'Active');
  });
});
