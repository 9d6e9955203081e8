/**
 * One conformance suite for every built-in transport, each against its real
 * peer started here (HTTP server, OpenSSH sshd, smtp-server sink,
 * nats-server). Each proves: the rendered delivery arrives; peer down,
 * connection refused, a timeout and the peer's own transient errors are
 * retryable; the peer's rejections (4xx, bad credentials...) are permanent;
 * aborting the signal ends a send that is in progress.
 *
 * All traffic stays on loopback: transports connect through a network hook
 * that refuses to dial anything else, and the suite asserts nothing tried.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { HostContext, SendResult, TransportInstance } from '../../src/transports/contract.ts';
import { instantiate, TransportRegistry } from '../../src/transports/registry.ts';
import { freePort } from '../helpers/ports.ts';
import { type Blackhole, startBlackhole } from './peers/blackhole.ts';
import { emailPeer } from './peers/email.ts';
import { httpPeer } from './peers/http.ts';
import { natsPeer } from './peers/nats.ts';
import { loopbackOnlyNetwork, type RecordingNetwork } from './peers/network.ts';
import type { Peer, PeerFactory } from './peers/peer.ts';
import { sftpPeer } from './peers/sftp.ts';

const PEERS: PeerFactory[] = [httpPeer, sftpPeer, emailPeer, natsPeer];

// A transport added to the registry joins this suite: without a peer here it fails.
it('every registered transport has a peer in this suite', () => {
  const missing = new TransportRegistry()
    .modules()
    .filter((m) => !PEERS.some((p) => m.types.includes(p.name)))
    .map((m) => m.types[0]);
  assert.deepEqual(missing, [], `transports without a conformance peer: ${missing.join(', ')}`);
});

/** Generous: a send that ignores its signal hangs the test until this fails it. */
const SEND_LIMIT_MS = 15_000;

function context(network: RecordingNetwork): HostContext {
  return {
    logger: pino({ level: 'silent' }),
    timeoutMs: 5_000,
    // Peers live on loopback, which the SSRF guard refuses by default.
    security: { allowPrivateNetworks: true, allowList: [] },
    network,
  };
}

const marker = () => `m${randomUUID().replaceAll('-', '').slice(0, 12)}`;

function expectOutcome(r: SendResult, outcome: SendResult['outcome']) {
  assert.equal(r.outcome, outcome, `expected ${outcome}, got ${JSON.stringify(r)}`);
}

for (const factory of PEERS) {
  describe(`transport conformance: ${factory.name}`, { timeout: 60_000 }, () => {
    let peer: Peer;
    let network: RecordingNetwork;
    let transport: TransportInstance;
    let hole: Blackhole;
    let stopped = false;

    before(async () => {
      peer = await factory.start();
      network = loopbackOnlyNetwork();
      transport = instantiate(peer.module, context(network));
      hole = await startBlackhole();
    });

    after(async () => {
      await transport?.close();
      await hole?.stop();
      if (!stopped) await peer?.stop();
      assert.deepEqual(network.violations, [], 'a transport tried to dial a non-loopback address');
    });

    it('declares its type names and a data schema that accepts the peer settings', () => {
      assert.ok(peer.module.types.includes(factory.name));
      const d = peer.delivery(marker());
      const parsed = peer.module.dataSchema.safeParse(d.webhook.data);
      assert.ok(parsed.success, parsed.success ? '' : parsed.error.message);
    });

    it('delivers the rendered content', { timeout: SEND_LIMIT_MS }, async () => {
      const m = marker();
      const d = peer.delivery(m);
      const r = await transport.send(d, AbortSignal.timeout(10_000));
      expectOutcome(r, 'success');
      const got = await peer.arrival(m);
      assert.ok(got, 'the peer has nothing for this delivery');
      assert.deepEqual(JSON.parse(got.body), JSON.parse(d.request.body));
      assert.ok(got.rendered.includes(m), `rendered field "${got.rendered}" lacks ${m}`);
      if (got.id !== undefined) assert.ok(got.id.includes(d.id), `peer id ${got.id} is not the delivery id`);
    });

    it('delivers concurrent sends', { timeout: SEND_LIMIT_MS }, async () => {
      const ms = Array.from({ length: 5 }, marker);
      const results = await Promise.all(
        ms.map((m) => transport.send(peer.delivery(m), AbortSignal.timeout(10_000))),
      );
      for (const r of results) expectOutcome(r, 'success');
      for (const m of ms) assert.ok(await peer.arrival(m), `missing ${m}`);
    });

    it('connection refused is retryable', { timeout: SEND_LIMIT_MS }, async () => {
      const port = await freePort();
      const r = await transport.send(peer.deliveryTo(port, marker()), AbortSignal.timeout(10_000));
      expectOutcome(r, 'retryable');
      assert.match(r.outcome === 'retryable' ? r.error : '', /ECONNREFUSED|connection refused/i);
    });

    it('the peer’s transient failures are retryable', { timeout: SEND_LIMIT_MS }, async (t) => {
      if (Object.keys(peer.retryable).length === 0)
        return t.skip('the peer scripts no transient failure of its own');
      for (const [reason, f] of Object.entries(peer.retryable)) {
        await t.test(reason, async () => {
          const r = await transport.send(await f.delivery(marker()), AbortSignal.timeout(10_000));
          expectOutcome(r, 'retryable');
          assert.match(r.outcome === 'retryable' ? r.error : '', f.error);
        });
      }
    });

    it('the peer’s rejections are permanent', { timeout: SEND_LIMIT_MS }, async (t) => {
      assert.ok(Object.keys(peer.permanent).length > 0, 'a peer must script at least one permanent failure');
      for (const [reason, f] of Object.entries(peer.permanent)) {
        await t.test(reason, async () => {
          const r = await transport.send(await f.delivery(marker()), AbortSignal.timeout(10_000));
          expectOutcome(r, 'permanent');
          assert.match(r.outcome === 'permanent' ? r.error : '', f.error);
        });
      }
    });

    it('aborting the signal stops a send in progress', { timeout: SEND_LIMIT_MS }, async () => {
      const ac = new AbortController();
      const connected = hole.nextConnection();
      const sending = transport.send(peer.deliveryTo(hole.port, marker()), ac.signal);
      // The send is provably under way once the hung peer has its connection.
      await connected;
      ac.abort();
      const r = await sending;
      expectOutcome(r, 'retryable');
      assert.match(r.outcome === 'retryable' ? r.error : '', /abort/);
    });

    it('a timeout is retryable', { timeout: SEND_LIMIT_MS }, async () => {
      const r = await transport.send(peer.deliveryTo(hole.port, marker()), AbortSignal.timeout(300));
      expectOutcome(r, 'retryable');
      assert.match(r.outcome === 'retryable' ? r.error : '', /timeout/);
    });

    it('peer down is retryable', { timeout: SEND_LIMIT_MS }, async () => {
      await peer.stop();
      stopped = true;
      // A fresh instance: pooled connections to the old peer would outlive it.
      const fresh = instantiate(peer.module, context(network));
      try {
        const r = await fresh.send(peer.delivery(marker()), AbortSignal.timeout(10_000));
        expectOutcome(r, 'retryable');
        assert.match(r.outcome === 'retryable' ? r.error : '', /ECONNREFUSED|connection refused/i);
      } finally {
        await fresh.close();
      }
    });
  });
}
