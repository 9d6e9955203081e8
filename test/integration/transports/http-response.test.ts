/**
 * What an HTTP attempt keeps of the response body: its first 1 KiB (cut at
 * bytes, decoded as UTF-8), read to the end so the connection is reused,
 * and cut off past 64 KiB without waiting for the rest.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Agent } from 'undici';
import { exchange, RESPONSE_SNIPPET_BYTES } from '../../../src/transports/http/exchange.ts';

describe('http exchange: the response snippet', () => {
  let server: Server;
  let base: string;
  const agent = new Agent({ connections: 1 });
  const sockets = new Set<unknown>();
  before(async () => {
    server = createServer((req, res) => {
      sockets.add(req.socket);
      req.resume();
      req.on('end', () => {
        const path = req.url ?? '/';
        if (path === '/small') res.writeHead(200).end('ok');
        else if (path === '/multibyte') res.writeHead(500).end('é'.repeat(RESPONSE_SNIPPET_BYTES));
        else if (path === '/chunks') {
          res.writeHead(429);
          let n = 0;
          const more = () => (n++ < 5 ? res.write('x'.repeat(700), () => setTimeout(more, 5)) : res.end('!'));
          more();
        } else if (path === '/endless') {
          res.writeHead(200);
          // Never ends: the snippet must not wait for it.
          const more = () => res.write(Buffer.alloc(16 * 1024, 0x61), () => setImmediate(more));
          more();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await agent.close().catch(() => {});
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const send = (path: string) =>
    exchange({
      agent,
      url: new URL(`${base}${path}`),
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      credentials: [],
      body: '{}',
      maxRedirects: 0,
      signal: AbortSignal.timeout(10_000),
    });

  it('keeps a short body whole, and reuses the connection for the next request', async () => {
    const first = await send('/small');
    assert.equal(first.status, 200);
    assert.equal(first.result.outcome, 'success');
    assert.equal(first.result.response, 'ok');
    await send('/small');
    assert.equal(sockets.size, 1, 'one connection for both');
  });

  it('keeps the first 1 KiB of a body sent in chunks', async () => {
    const { result, status } = await send('/chunks');
    assert.equal(status, 429);
    assert.equal(result.response, 'x'.repeat(RESPONSE_SNIPPET_BYTES));
  });

  it('cuts at bytes: a multibyte body keeps 1 KiB of its UTF-8', async () => {
    const { result } = await send('/multibyte');
    const response = result.response!;
    assert.equal(Buffer.byteLength(response), RESPONSE_SNIPPET_BYTES);
    assert.equal(response, 'é'.repeat(RESPONSE_SNIPPET_BYTES / 2));
  });

  it('gives up on a body past 64 KiB instead of waiting for its end', async () => {
    const { result, status } = await send('/endless');
    assert.equal(status, 200);
    assert.equal(result.outcome, 'success');
    assert.equal(result.response, 'a'.repeat(RESPONSE_SNIPPET_BYTES));
  });
});
