/**
 * The nats transport against a real nats-server with JetStream: the publish
 * is idempotent by delivery id, core NATS publishing works without
 * JetStream, and the server address passes the SSRF guard like any target.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import type { TransportInstance } from '../../../src/transports/contract.ts';
import { createNats } from '../../../src/transports/nats/index.ts';
import { loopbackOnlyNetwork } from '../../conformance/peers/network.ts';
import { makeDelivery } from '../../conformance/peers/peer.ts';
import type { NatsServer } from '../../helpers/nats-server.ts';
import { usePeers } from '../../helpers/peers.ts';

describe('nats transport', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let t: TransportInstance;
  const peers = usePeers();

  before(async () => {
    server = await peers.nats();
    nc = await peers.start(
      'nats client',
      () => connect({ servers: server.url }),
      (c) => c.close(),
    );
    jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'OUT', subjects: ['out.>'] });
    t = await peers.start(
      'nats transport',
      () =>
        createNats({
          logger: pino({ level: 'silent' }),
          timeoutMs: 5_000,
          security: { allowPrivateNetworks: true, allowList: [] },
          network: loopbackOnlyNetwork(),
        }),
      (x) => x.close(),
    );
  });

  const delivery = (subject: string, data: Record<string, unknown> = {}) =>
    makeDelivery(
      'nats',
      { url: server.url, subject: 'out.{/type}', jetstream: true, ...data },
      { body: '{"hello":"world"}', headers: { 'x-tenant': 'acme' }, fields: { subject } },
    );

  it('a retried delivery (same id) is stored once', async () => {
    const d = delivery('out.contact.created');
    const first = await t.send(d, AbortSignal.timeout(5_000));
    const again = await t.send({ ...d, attempt: 2 }, AbortSignal.timeout(5_000));
    assert.equal(first.outcome, 'success');
    assert.equal(again.outcome, 'success');
    assert.match(again.outcome === 'success' ? (again.response ?? '') : '', /\(duplicate\)/);
    const info = await jsm.streams.info('OUT');
    assert.equal(info.state.messages, 1);
    const m = await jsm.streams.getMessage('OUT', { last_by_subj: 'out.contact.created' });
    assert.ok(m);
    assert.equal(m.string(), '{"hello":"world"}');
    assert.equal(m.header.get('Nats-Msg-Id'), d.id);
    assert.equal(m.header.get('Hookd-Event-Id'), d.eventId);
    assert.equal(m.header.get('x-tenant'), 'acme');
  });

  it('publishes on core NATS when jetstream is off', async () => {
    const sub = nc.subscribe('plain.>', { max: 1 });
    await nc.flush();
    const d = delivery('plain.one', { jetstream: false });
    const r = await t.send(d, AbortSignal.timeout(5_000));
    assert.equal(r.outcome, 'success');
    for await (const m of sub) {
      assert.equal(m.subject, 'plain.one');
      assert.equal(m.string(), '{"hello":"world"}');
      assert.equal(m.headers?.get('Nats-Msg-Id'), d.id);
    }
  });

  it('a subject template with no value is permanent', async () => {
    const d = delivery('unused');
    d.request.fields = {};
    const r = await t.send(d, AbortSignal.timeout(5_000));
    assert.equal(r.outcome, 'permanent');
    assert.match(r.outcome === 'permanent' ? r.error : '', /subject template found no value/);
  });

  it('a server on loopback is refused by the default SSRF settings, before connecting', async () => {
    const network = loopbackOnlyNetwork();
    const guarded = createNats({
      logger: pino({ level: 'silent' }),
      timeoutMs: 5_000,
      security: { allowPrivateNetworks: false, allowList: [] },
      network,
    });
    try {
      const r = await guarded.send(delivery('out.x'), AbortSignal.timeout(5_000));
      assert.equal(r.outcome, 'permanent');
      assert.match(
        r.outcome === 'permanent' ? r.error : '',
        /refused to connect to 127\.0\.0\.1: a loopback address/,
      );
    } finally {
      await guarded.close();
    }
  });
});
