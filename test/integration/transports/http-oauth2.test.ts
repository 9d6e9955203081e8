/**
 * OAuth2 client credentials in the http transport (seed 004), against a real
 * local server that is both token endpoint (counting token requests) and
 * receiver (accepting only the token it issued last). The token cache runs
 * on an injected clock, so expiry needs no waiting.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, beforeEach, describe, it } from 'node:test';
import pino from 'pino';
import type { Authentication } from '../../../src/rules/webhook-schema.ts';
import type { TransportInstance } from '../../../src/transports/contract.ts';
import { createHttp } from '../../../src/transports/http/index.ts';
import { loopbackOnlyNetwork } from '../../conformance/peers/network.ts';
import { makeDelivery } from '../../conformance/peers/peer.ts';
import { type ReceivedRequest, type Receiver, startReceiver } from '../../helpers/http-receiver.ts';

const CLIENT_ID = 'hookd-client';
const CLIENT_SECRET = 'super-strong-pawwsord';

interface Server {
  rx: Receiver;
  tokenRequests: ReceivedRequest[];
  /** The token the receiver accepts; others get 401. */
  valid: string | undefined;
  /** Token responses wait for this while set (to line up concurrent sends). */
  gate: Promise<void> | undefined;
  expiresIn: number;
  tokenStatus: number;
  /** The receiver answers 401 whatever the token. */
  rejectAll: boolean;
}

async function startServer(): Promise<Server> {
  const s: Server = {
    rx: undefined as unknown as Receiver,
    tokenRequests: [],
    valid: undefined,
    gate: undefined,
    expiresIn: 3600,
    tokenStatus: 200,
    rejectAll: false,
  };
  s.rx = await startReceiver((req, res: ServerResponse) => {
    if (req.path === '/token') {
      s.tokenRequests.push(req);
      const issue = () => {
        if (s.tokenStatus !== 200) {
          res.writeHead(s.tokenStatus, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'invalid_client', error_description: 'bad secret' }));
          return;
        }
        const token = `tok-${s.tokenRequests.length}`;
        s.valid = token;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: s.expiresIn }));
      };
      if (s.gate) void s.gate.then(issue);
      else issue();
      return;
    }
    const presented = req.headers['x-api-auth'] ?? req.headers.authorization;
    const ok =
      !s.rejectAll &&
      s.valid !== undefined &&
      (presented === `Token ${s.valid}` || presented === `Bearer ${s.valid}`);
    res.statusCode = ok ? 200 : 401;
    res.end(ok ? 'ok' : 'unauthorized');
  });
  return s;
}

function oauth(
  origin: string,
  extra: Partial<Extract<Authentication, { grant_type: string }>> = {},
): Authentication {
  return {
    grant_type: 'client_credentials',
    endpoint: `${origin}/token`,
    credentials: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET },
    scope: 'hooks:write',
    header_format: 'X-Api-Auth',
    header_value_format: 'Token %ACCESS_TOKEN%',
    ...extra,
  };
}

describe('http OAuth2 client credentials', () => {
  let s: Server;
  let t: TransportInstance;
  let now = 1_000_000;

  before(async () => {
    s = await startServer();
  });
  after(() => s.rx.stop());
  beforeEach(async () => {
    await t?.close();
    s.tokenRequests.length = 0;
    s.rx.requests.length = 0;
    s.valid = undefined;
    s.gate = undefined;
    s.expiresIn = 3600;
    s.tokenStatus = 200;
    s.rejectAll = false;
    t = createHttp(
      {
        logger: pino({ level: 'silent' }),
        timeoutMs: 5_000,
        security: { allowPrivateNetworks: true, allowList: [] },
        network: loopbackOnlyNetwork(),
      },
      { now: () => now },
    );
  });
  after(() => t?.close());

  const delivery = (auth = oauth(s.rx.origin)) =>
    makeDelivery(
      'http',
      {},
      { method: 'POST', url: `${s.rx.origin}/hook`, body: '{"n":1}' },
      { authentication: auth },
    );
  const hookRequests = () => s.rx.requests.filter((r) => r.path === '/hook');

  it('requests a token as RFC 6749 client credentials and sends it in the configured header format', async () => {
    const r = await t.send(delivery(), AbortSignal.timeout(5_000));
    assert.equal(r.outcome, 'success', JSON.stringify(r));
    assert.equal(s.tokenRequests.length, 1);
    const tr = s.tokenRequests[0];
    assert.equal(tr.method, 'POST');
    assert.equal(tr.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(
      tr.headers.authorization,
      `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
    );
    assert.deepEqual(Object.fromEntries(new URLSearchParams(tr.body)), {
      grant_type: 'client_credentials',
      scope: 'hooks:write',
    });
    assert.equal(hookRequests()[0].headers['x-api-auth'], 'Token tok-1');
  });

  it('defaults to "Authorization: Bearer <token>" (seed 004)', async () => {
    const auth = oauth(s.rx.origin, {
      header_format: 'Authorization',
      header_value_format: 'Bearer %ACCESS_TOKEN%',
    });
    const r = await t.send(delivery(auth), AbortSignal.timeout(5_000));
    assert.equal(r.outcome, 'success');
    assert.equal(hookRequests()[0].headers.authorization, 'Bearer tok-1');
  });

  it('100 concurrent deliveries cause one token request', async () => {
    let open!: () => void;
    s.gate = new Promise<void>((r) => {
      open = r;
    });
    const sends = Array.from({ length: 100 }, () => t.send(delivery(), AbortSignal.timeout(10_000)));
    // Hold the token response until its request is in: every send is waiting on it by then.
    while (s.tokenRequests.length === 0) await new Promise((r) => setImmediate(r));
    open();
    const results = await Promise.all(sends);
    assert.deepEqual(new Set(results.map((r) => r.outcome)), new Set(['success']));
    assert.equal(s.tokenRequests.length, 1);
    assert.equal(hookRequests().length, 100);
    assert.ok(hookRequests().every((r) => r.headers['x-api-auth'] === 'Token tok-1'));
  });

  it('reuses the token until shortly before it expires, then fetches a new one', async () => {
    s.expiresIn = 600;
    assert.equal((await t.send(delivery(), AbortSignal.timeout(5_000))).outcome, 'success');
    now += 500_000; // 100 s left of 600: still fresh
    assert.equal((await t.send(delivery(), AbortSignal.timeout(5_000))).outcome, 'success');
    assert.equal(s.tokenRequests.length, 1);
    now += 50_000; // 50 s left: inside the refresh margin (10 % of the lifetime)
    assert.equal((await t.send(delivery(), AbortSignal.timeout(5_000))).outcome, 'success');
    assert.equal(s.tokenRequests.length, 2);
    assert.deepEqual(
      hookRequests().map((r) => r.headers['x-api-auth']),
      ['Token tok-1', 'Token tok-1', 'Token tok-2'],
    );
  });

  it('a 401 drops the token, fetches a fresh one once and retries the send once', async () => {
    assert.equal((await t.send(delivery(), AbortSignal.timeout(5_000))).outcome, 'success');
    s.valid = 'revoked-by-receiver';
    const r = await t.send(delivery(), AbortSignal.timeout(5_000));
    assert.equal(r.outcome, 'success', JSON.stringify(r));
    assert.equal(s.tokenRequests.length, 2);
    assert.deepEqual(
      hookRequests().map((q) => q.headers['x-api-auth']),
      ['Token tok-1', 'Token tok-1', 'Token tok-2'],
    );
  });

  it('concurrent 401s share one refresh', async () => {
    assert.equal((await t.send(delivery(), AbortSignal.timeout(5_000))).outcome, 'success');
    s.valid = 'revoked-by-receiver';
    const results = await Promise.all(
      Array.from({ length: 20 }, () => t.send(delivery(), AbortSignal.timeout(10_000))),
    );
    assert.deepEqual(new Set(results.map((r) => r.outcome)), new Set(['success']));
    assert.equal(s.tokenRequests.length, 2);
  });

  it('a receiver that keeps answering 401 gets one refresh and one retry, then a permanent failure', async () => {
    s.rejectAll = true;
    const r = await t.send(delivery(), AbortSignal.timeout(5_000));
    assert.equal(r.outcome, 'permanent');
    assert.equal(r.status, 401);
    assert.equal(s.tokenRequests.length, 2);
    assert.equal(hookRequests().length, 2);
  });

  it('a token endpoint rejecting the client is permanent and never shows the secret', async () => {
    s.tokenStatus = 401;
    const r = await t.send(delivery(), AbortSignal.timeout(5_000));
    assert.equal(r.outcome, 'permanent');
    assert.match(
      r.outcome === 'permanent' ? r.error : '',
      /token endpoint answered HTTP 401 \(invalid_client\)/,
    );
    assert.ok(!JSON.stringify(r).includes(CLIENT_SECRET));
    assert.equal(hookRequests().length, 0);
  });

  it('a token endpoint failing with 503 is retryable', async () => {
    s.tokenStatus = 503;
    const r = await t.send(delivery(), AbortSignal.timeout(5_000));
    assert.equal(r.outcome, 'retryable');
    assert.equal(r.status, 503);
  });
});
