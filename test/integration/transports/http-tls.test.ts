/**
 * TLS is verified through the guarded connector (which wraps the pinned TCP
 * socket itself): a receiver with a self-signed certificate is not trusted.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { createHttp } from '../../../src/transports/http/index.ts';
import { loopbackOnlyNetwork } from '../../conformance/peers/network.ts';
import { makeDelivery } from '../../conformance/peers/peer.ts';

describe('http transport TLS', () => {
  let dir: string;
  let server: Server;
  let port: number;
  let requests = 0;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hookd-tls-'));
  });
  after(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a self-signed certificate (retryable, nothing delivered)', async () => {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=hooks.example.com',
        '-addext',
        'subjectAltName=DNS:hooks.example.com',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    server = createServer(
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      (_req, res) => {
        requests++;
        res.end('ok');
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    const t = createHttp({
      logger: pino({ level: 'silent' }),
      timeoutMs: 5_000,
      security: { allowPrivateNetworks: false, allowList: ['hooks.example.com'] },
      network: loopbackOnlyNetwork({ 'hooks.example.com': ['127.0.0.1'] }),
    });
    try {
      const r = await t.send(
        makeDelivery('http', {}, { method: 'POST', url: `https://hooks.example.com:${port}/`, body: '{}' }),
        AbortSignal.timeout(5_000),
      );
      assert.equal(r.outcome, 'retryable');
      assert.match(r.outcome === 'retryable' ? r.error : '', /self[- ]signed certificate/i);
      assert.equal(requests, 0);
    } finally {
      await t.close();
    }
  });
});
