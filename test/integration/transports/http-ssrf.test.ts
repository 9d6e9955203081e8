/**
 * The http transport's SSRF guard (DESIGN.md section 4) with a real receiver
 * on loopback. The transport's network hooks resolve test names without DNS
 * and dial only loopback: a refused target must show up as no dial at all,
 * and a guard bug could at worst record a violation, never send a packet to
 * 10.0.0.1 or 169.254.169.254.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { SecuritySettings, SendResult, TransportInstance } from '../../../src/transports/contract.ts';
import { createHttp } from '../../../src/transports/http/index.ts';
import { loopbackOnlyNetwork, type RecordingNetwork } from '../../conformance/peers/network.ts';
import { makeDelivery } from '../../conformance/peers/peer.ts';
import { type Receiver, startReceiver } from '../../helpers/http-receiver.ts';

const NAMES = {
  // A public-looking name that resolves to loopback (DNS rebinding style).
  'hooks.example.com': ['127.0.0.1'],
  // A name with one public and one private answer.
  'mixed.example.com': ['93.184.216.34', '127.0.0.1'],
};

function transport(security: Partial<SecuritySettings>, network: RecordingNetwork): TransportInstance {
  return createHttp({
    logger: pino({ level: 'silent' }),
    timeoutMs: 5_000,
    security: { allowPrivateNetworks: false, allowList: [], ...security },
    network,
  });
}

const send = (t: TransportInstance, url: string, extra: Parameters<typeof makeDelivery>[3] = {}) =>
  t.send(
    makeDelivery('http', {}, { method: 'POST', url, body: '{"x":1}' }, extra),
    AbortSignal.timeout(5_000),
  );

function refused(r: SendResult, reason: RegExp) {
  assert.equal(r.outcome, 'permanent', JSON.stringify(r));
  const error = r.outcome === 'permanent' ? r.error : '';
  assert.match(error, /refused to connect/);
  assert.match(error, reason);
  assert.match(error, /security\.allowPrivateNetworks or security\.allowList/);
}

describe('http SSRF guard', () => {
  let rx: Receiver;
  before(async () => {
    rx = await startReceiver((req, res) => {
      if (req.path === '/loop') {
        res.writeHead(302, { location: '/loop' });
        res.end();
        return;
      }
      const m = /^\/redirect\/(\d{3})\?to=(.*)$/.exec(req.path);
      if (m) {
        res.writeHead(Number(m[1]), { location: decodeURIComponent(m[2]) });
        res.end();
        return;
      }
      res.end('ok');
    });
  });
  after(() => rx.stop());

  describe('refuses before connecting, by default', () => {
    const targets = (): [string, RegExp][] => [
      [`http://127.0.0.1:${rx.port}/`, /127\.0\.0\.1: a loopback address/],
      ['http://10.0.0.1/', /10\.0\.0\.1: a private network address/],
      ['http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254: a cloud metadata address/],
      [`http://[::1]:${rx.port}/`, /::1: a loopback address/],
      [`http://hooks.example.com:${rx.port}/`, /hooks\.example\.com \(127\.0\.0\.1\): a loopback address/],
      [`http://localhost:${rx.port}/`, /localhost \(127\.0\.0\.1\): a loopback address/],
      [`http://[::ffff:127.0.0.1]:${rx.port}/`, /loopback/],
      ['http://[fd00:ec2::254]/', /cloud metadata/],
      [`http://0.0.0.0:${rx.port}/`, /unspecified/],
      [`https://mixed.example.com:${rx.port}/`, /mixed\.example\.com \(127\.0\.0\.1\): a loopback address/],
    ];
    it('every non-public target is a permanent error naming the reason, with no connection made', async () => {
      const network = loopbackOnlyNetwork(NAMES);
      const t = transport({}, network);
      try {
        for (const [url, reason] of targets()) {
          refused(await send(t, url), reason);
        }
        assert.deepEqual(network.dialed, []);
        assert.equal(rx.requests.length, 0);
      } finally {
        await t.close();
      }
    });
  });

  describe('allowed when the settings say so', () => {
    const allowed: [string, Partial<SecuritySettings>, (port: number) => string][] = [
      ['allow list: the address', { allowList: ['127.0.0.1'] }, (p) => `http://127.0.0.1:${p}/ok`],
      ['allow list: a CIDR', { allowList: ['127.0.0.0/8'] }, (p) => `http://127.0.0.1:${p}/ok`],
      [
        'allow list: the host name',
        { allowList: ['hooks.example.com'] },
        (p) => `http://hooks.example.com:${p}/ok`,
      ],
      ['allowPrivateNetworks', { allowPrivateNetworks: true }, (p) => `http://localhost:${p}/ok`],
    ];
    for (const [label, security, url] of allowed) {
      it(label, async () => {
        const network = loopbackOnlyNetwork(NAMES);
        const t = transport(security, network);
        try {
          const before = rx.requests.length;
          const r = await send(t, url(rx.port));
          assert.equal(r.outcome, 'success', JSON.stringify(r));
          assert.equal(rx.requests.length, before + 1);
          assert.deepEqual(network.violations, []);
        } finally {
          await t.close();
        }
      });
    }

    it('allow list: an IPv6 address (the guard lets the transport dial ::1)', async () => {
      const network = loopbackOnlyNetwork(NAMES);
      const t = transport({ allowList: ['::1'] }, network);
      try {
        // The receiver listens on IPv4 only, so the dial itself is refused: what matters is that it was made.
        await send(t, `http://[::1]:${rx.port}/ok`);
        assert.deepEqual(network.dialed, ['::1']);
      } finally {
        await t.close();
      }
    });

    it('allowPrivateNetworks lets 10.0.0.1 through the guard (the test network records it and never dials)', async () => {
      const network = loopbackOnlyNetwork(NAMES);
      const t = transport({ allowPrivateNetworks: true }, network);
      try {
        const r = await send(t, 'http://10.0.0.1/');
        assert.equal(r.outcome, 'retryable');
        assert.deepEqual(network.violations, ['10.0.0.1']);
      } finally {
        await t.close();
      }
    });
  });

  describe('redirects', () => {
    it('a redirect to a loopback or metadata address is refused on the hop, before connecting', async () => {
      const network = loopbackOnlyNetwork(NAMES);
      // The first hop is allowed by name; its redirect targets are not.
      const t = transport({ allowList: ['hooks.example.com'] }, network);
      try {
        for (const [status, to, reason] of [
          [302, `http://127.0.0.1:${rx.port}/landed`, /loopback/],
          [307, 'http://169.254.169.254/latest/meta-data/', /cloud metadata/],
          [308, 'http://10.0.0.1/', /private network/],
          [301, `http://[::1]:${rx.port}/`, /loopback/],
        ] as const) {
          const before = rx.requests.length;
          const r = await send(
            t,
            `http://hooks.example.com:${rx.port}/redirect/${status}?to=${encodeURIComponent(to)}`,
          );
          refused(r, reason);
          assert.match(r.outcome === 'permanent' ? r.error : '', /^redirect 1 to /);
          assert.equal(rx.requests.length, before + 1, 'only the first hop reached the receiver');
        }
        assert.deepEqual(network.violations, []);
        assert.ok(network.dialed.every((a) => a === '127.0.0.1'));
      } finally {
        await t.close();
      }
    });

    it('allowed redirects are followed: 307 keeps method and body, 303 turns into GET', async () => {
      const network = loopbackOnlyNetwork(NAMES);
      const t = transport({ allowPrivateNetworks: true }, network);
      try {
        const target = `http://127.0.0.1:${rx.port}/landed`;
        let before = rx.requests.length;
        let r = await send(t, `${rx.origin}/redirect/307?to=${encodeURIComponent(target)}`);
        assert.equal(r.outcome, 'success');
        const hop307 = rx.requests.slice(before);
        assert.deepEqual(
          hop307.map((q) => [q.method, q.path, q.body]),
          [
            ['POST', `/redirect/307?to=${encodeURIComponent(target)}`, '{"x":1}'],
            ['POST', '/landed', '{"x":1}'],
          ],
        );
        before = rx.requests.length;
        r = await send(t, `${rx.origin}/redirect/303?to=${encodeURIComponent(target)}`);
        assert.equal(r.outcome, 'success');
        assert.deepEqual(
          rx.requests.slice(before).map((q) => [q.method, q.body]),
          [
            ['POST', '{"x":1}'],
            ['GET', ''],
          ],
        );
      } finally {
        await t.close();
      }
    });

    it('stops after maxRedirects and drops credentials when a hop leaves the origin', async () => {
      const network = loopbackOnlyNetwork({ ...NAMES, 'other.example.com': ['127.0.0.1'] });
      const t = transport({ allowPrivateNetworks: true }, network);
      try {
        const loop = `${rx.origin}/loop`;
        const r = await t.send(
          makeDelivery('http', { maxRedirects: 1 }, { method: 'POST', url: loop, body: '{}' }),
          AbortSignal.timeout(5_000),
        );
        assert.equal(r.outcome, 'permanent');
        assert.match(r.outcome === 'permanent' ? r.error : '', /too many redirects \(more than 1\)/);

        const before = rx.requests.length;
        const away = `http://other.example.com:${rx.port}/landed`;
        const ok = await send(t, `${rx.origin}/redirect/307?to=${encodeURIComponent(away)}`, {
          authentication: { type: 'bearer', token: 'bearer-secret' },
        });
        assert.equal(ok.outcome, 'success');
        const [first, second] = rx.requests.slice(before);
        assert.equal(first.headers.authorization, 'Bearer bearer-secret');
        assert.equal(second.headers.authorization, undefined);
      } finally {
        await t.close();
      }
    });
  });

  it('the OAuth2 token endpoint is guarded too', async () => {
    const network = loopbackOnlyNetwork(NAMES);
    const t = transport({ allowList: ['hooks.example.com'] }, network);
    try {
      const before = rx.requests.length;
      const r = await send(t, `http://hooks.example.com:${rx.port}/hook`, {
        authentication: {
          grant_type: 'client_credentials',
          endpoint: 'http://169.254.169.254/token',
          credentials: { client_id: 'id', client_secret: 'client-secret-value' },
          header_format: 'Authorization',
          header_value_format: 'Bearer %ACCESS_TOKEN%',
        },
      });
      refused(r, /cloud metadata/);
      assert.match(r.outcome === 'permanent' ? r.error : '', /^OAuth2 token request failed/);
      assert.ok(!JSON.stringify(r).includes('client-secret-value'));
      assert.equal(rx.requests.length, before);
      assert.deepEqual(network.dialed, []);
    } finally {
      await t.close();
    }
  });
});
