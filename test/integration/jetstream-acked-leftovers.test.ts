/**
 * Acknowledged messages a work queue kept (acked-leftovers.ts). Debian's
 * nats-server 2.9 left 880 of 5,000 acknowledged deliveries in
 * HOOKD_DELIVERIES after its leader was SIGKILLed (the consumer at ack floor
 * 5,000, nothing pending): never delivered again, but counted as backlog for
 * ever. A work-queue stream cannot be made to keep them on purpose, so the
 * same shape is made on a real nats-server with a stream of the same
 * subjects that keeps what is acknowledged: webhooks' consumers that
 * acknowledged some of their messages and still owe others. hookd purges
 * exactly the acknowledged ones, per webhook, never one a consumer owes.
 * (test/e2e/cluster-leader-kill meets the real thing about every other run.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { purgeAckedLeftovers } from '../../src/outbox/jetstream/acked-leftovers.ts';
import { consumerName, idToken, tokenId } from '../../src/outbox/jetstream/index.ts';
import { usePeers } from '../helpers/peers.ts';

const peers = usePeers();
const STREAM = 'KEEPS_ACKED';

test('messages below a consumer ack floor are purged, the ones it still owes are not', async () => {
  const nats = await peers.nats();
  const nc = await peers.start(
    'connection',
    () => connect({ servers: nats.url }),
    (c) => c.close(),
  );
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await jsm.streams.add({ name: STREAM, subjects: ['hookd.deliveries.>'] });
  const backlog = async () => {
    const info = await jsm.streams.info(STREAM, { subjects_filter: 'hookd.deliveries.>' });
    return new Map(
      Object.entries(info.state.subjects ?? {}).map(([s, n]) => [tokenId(s.split('.')[2]!)!, n]),
    );
  };
  /** `total` messages for the webhook; its consumer takes and acknowledges the first `acked`. */
  const webhook = async (id: string, total: number, acked: number) => {
    const subject = `hookd.deliveries.${idToken(id)}`;
    for (let i = 0; i < total; i++) await js.publish(subject, `${id} ${i}`);
    const name = consumerName(id);
    await jsm.consumers.add(STREAM, {
      durable_name: name,
      filter_subject: subject,
      ack_policy: AckPolicy.Explicit,
    });
    if (acked === 0) return;
    const got = await (await js.consumers.get(STREAM, name)).fetch({ max_messages: acked, expires: 2000 });
    for await (const m of got) await m.ackAck();
    const info = await jsm.consumers.info(STREAM, name);
    assert.equal(info.num_pending + info.num_ack_pending, total - acked, `set-up: ${id} still owes the rest`);
  };
  await webhook('orders/eu hook', 10, 7);
  await webhook('hook-b', 4, 4);
  await webhook('hook-c', 3, 0);
  assert.deepEqual(Object.fromEntries(await backlog()), { 'orders/eu hook': 10, 'hook-b': 4, 'hook-c': 3 });

  const purged = await purgeAckedLeftovers(jsm, await backlog(), STREAM);
  assert.deepEqual(Object.fromEntries(purged), { 'orders/eu hook': 7, 'hook-b': 4 });
  assert.deepEqual(
    Object.fromEntries(await backlog()),
    { 'orders/eu hook': 3, 'hook-c': 3 },
    'what is owed stays',
  );
  assert.equal((await purgeAckedLeftovers(jsm, await backlog(), STREAM)).size, 0, 'nothing more to purge');
});
