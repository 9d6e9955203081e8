/**
 * Issue 13, failure 4: request bodies were read before authentication (the
 * token check ran after the body parser), so unauthenticated 15 MB POSTs
 * cost their whole body in memory before the 401. Now every authenticated
 * route checks the token when the headers arrive: the test sends the headers
 * of a 15 MB request and only the first 64 KiB of its body, and the answer
 * (401 / 403) must come while the rest was never sent.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { before, test } from 'node:test';
import type { RunningHookd } from '../../helpers/hookd.ts';
import { usePeers } from '../../helpers/peers.ts';
import { ADMIN, Client, not, tokens, undocumentedStatuses } from './helpers.ts';

let hookd: RunningHookd;
let webhookId = '';

const peers = usePeers();

before(async () => {
  hookd = await peers.hookd({ config: { api: { tokens: tokens() } } });
  const r = await new Client(hookd.url).post<{ id: string }>('/v1/webhooks', { url: 'http://127.0.0.1:9/x' });
  assert.equal(r.status, 201, r.text);
  webhookId = r.body.id;
});

/**
 * Sends the headers of a request announcing `length` bytes and then only a
 * 64 KiB start of the body; resolves with the status line the server answers
 * while the body is incomplete. Fails after a generous deadline, saying what
 * it saw.
 */
function answerToIncompleteBody(
  method: string,
  path: string,
  headers: Record<string, string>,
  length = 15_000_000,
) {
  const { port } = new URL(hookd.url);
  return new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(
          `${method} ${path}: no answer within 15 s while ${length - 65_536} bytes of the body were still unsent (received: ${JSON.stringify(received.slice(0, 200))})`,
        ),
      );
    }, 15_000);
    socket.on('data', (b) => {
      received += b.toString('latin1');
      const line = received.split('\r\n')[0];
      if (received.includes('\r\n')) {
        clearTimeout(timer);
        socket.destroy();
        resolve(line!);
      }
    });
    socket.on('error', () => {});
    const head = [
      `${method} ${path} HTTP/1.1`,
      'Host: 127.0.0.1',
      'Content-Type: application/json',
      `Content-Length: ${length}`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      '',
      '',
    ].join('\r\n');
    socket.write(head);
    socket.write(Buffer.alloc(65_536, 0x20));
  });
}

const routes = () =>
  [
    ['POST', '/v1/events', 'EVENTS:PUBLISH'],
    ['POST', '/v1/webhooks', 'WEBHOOKS:ADD'],
    ['PUT', `/v1/webhooks/${webhookId}`, 'WEBHOOKS:EDIT'],
    ['POST', '/api/spa/webhooks', 'WEBHOOKS:ADD'],
    ['POST', '/api/web/v1/webhooks', 'WEBHOOKS:ADD'],
  ] as const;

test('without a token, or with a wrong one, the 401 comes before the body is read', async () => {
  for (const [method, path] of routes()) {
    assert.match(await answerToIncompleteBody(method, path, {}), /^HTTP\/1\.1 401 /, `${method} ${path}`);
    assert.match(
      await answerToIncompleteBody(method, path, { Authorization: 'Bearer wrong' }),
      /^HTTP\/1\.1 401 /,
      `${method} ${path} (wrong token)`,
    );
  }
  // A route whose permission depends on the body (seed 001 SaveWebhook: ADD or EDIT) refuses a bad token first too.
  assert.match(
    await answerToIncompleteBody('POST', '/api/v1/Agents/Webhook/SaveWebhook', { 'X-AUTH-TOKEN': 'wrong' }),
    /^HTTP\/1\.1 401 /,
  );
});

test('a token without the permission gets its 403 before the body is read', async () => {
  for (const [method, path, permission] of routes()) {
    assert.match(
      await answerToIncompleteBody(method, path, { Authorization: `Bearer ${not(permission)}` }),
      /^HTTP\/1\.1 403 /,
      `${method} ${path}`,
    );
  }
});

test('a valid token with a body over the route limit gets 413 without the body being read', async () => {
  assert.match(
    await answerToIncompleteBody('POST', '/v1/webhooks', { Authorization: `Bearer ${ADMIN}` }, 2_000_000),
    /^HTTP\/1\.1 413 /,
  );
});

test('every status answered in this file is in /openapi.json for its route (issue 16)', async () => {
  assert.deepEqual(await undocumentedStatuses(hookd.url), []);
});
