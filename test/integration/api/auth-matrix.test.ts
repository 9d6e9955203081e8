/**
 * Issue 7, acceptance 2: every route of the management API (native and the
 * seeds' own) × {no token, wrong token, a token with every permission but
 * the one needed, a token with only that one} gives 401 / 401 / 403 / 2xx.
 * The routes come from a table checked against the OpenAPI document, so a
 * route added later without an entry here fails this test.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { Permission } from '../../../src/config/schema.ts';
import type { RunningHookd } from '../../helpers/hookd.ts';
import { usePeers } from '../../helpers/peers.ts';
import type { Receiver } from '../../helpers/receiver.ts';
import { Client, deliveriesWhen, not, only, publish, tokens, undocumentedStatuses } from './helpers.ts';

let receiver: Receiver;
let hookd: RunningHookd;
let api: Client;

interface Case {
  method: string;
  /** Path, made fresh for the 2xx call (so DELETE has something to delete). */
  path: () => Promise<string> | string;
  permission: Permission;
  body?: () => unknown;
  ok: number;
}

let cases: Case[];

async function webhook(extra: Record<string, unknown> = {}): Promise<{ id: string; number?: number }> {
  const r = await api.post<{ id: string }>('/v1/webhooks', {
    url: `${receiver.url}/m/{/id}`,
    events: ['matrix.*'],
    ...extra,
  });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

const peers = usePeers();

before(async () => {
  receiver = await peers.receiver();
  receiver.respond((req) => ({ status: req.url.startsWith('/fail') ? 400 : 200 }));
  hookd = await peers.hookd({ config: { api: { tokens: tokens() } } });
  api = new Client(hookd.url);
  const failing = await api.post<{ id: string }>('/v1/webhooks', {
    url: `${receiver.url}/fail`,
    events: ['fail.*'],
  });
  await publish(hookd, [{ id: 'fail-1', type: 'fail.now', data: {} }]);
  const [dead] = await deliveriesWhen(
    api,
    failing.body.id,
    (d) => d.length === 1 && d[0]!.state === 'failed',
  );
  const saved = await api.post<{ WebhookId: number }>('/api/v1/Agents/Webhook/SaveWebhook', {
    WebhookId: 0,
    Name: 'matrix',
    TargetUrl: `${receiver.url}/so`,
    Events: ['matrix.so'],
  });
  assert.equal(saved.status, 200, saved.text);
  const id = async () => (await webhook()).id;
  const hook = () => ({ url: `${receiver.url}/m`, events: ['matrix.*'] });
  cases = [
    { method: 'GET', path: () => '/v1/webhooks', permission: 'WEBHOOKS:VIEW', ok: 200 },
    { method: 'POST', path: () => '/v1/webhooks', permission: 'WEBHOOKS:ADD', body: hook, ok: 201 },
    { method: 'GET', path: () => '/v1/webhooks/default', permission: 'WEBHOOKS:VIEW', ok: 200 },
    { method: 'GET', path: async () => `/v1/webhooks/${await id()}`, permission: 'WEBHOOKS:VIEW', ok: 200 },
    {
      method: 'PUT',
      path: async () => `/v1/webhooks/${await id()}`,
      permission: 'WEBHOOKS:EDIT',
      body: hook,
      ok: 200,
    },
    {
      method: 'DELETE',
      path: async () => `/v1/webhooks/${await id()}`,
      permission: 'WEBHOOKS:REMOVE',
      ok: 204,
    },
    {
      method: 'POST',
      path: async () => `/v1/webhooks/${await id()}/test`,
      permission: 'WEBHOOKS:EDIT',
      ok: 200,
    },
    {
      method: 'PUT',
      path: async () => `/v1/webhooks/${await id()}/state`,
      permission: 'WEBHOOKS:EDIT',
      body: () => ({ state: 'Stopped' }),
      ok: 200,
    },
    {
      method: 'POST',
      path: async () => `/v1/webhooks/${await id()}/secret/rotate`,
      permission: 'WEBHOOKS:EDIT',
      ok: 200,
    },
    {
      method: 'GET',
      path: async () => `/v1/webhooks/${await id()}/deliveries`,
      permission: 'WEBHOOKS:VIEW',
      ok: 200,
    },
    {
      method: 'POST',
      path: () => `/v1/webhooks/${failing.body.id}/retry-failed`,
      permission: 'WEBHOOKS:EDIT',
      ok: 202,
    },
    {
      method: 'POST',
      // retry-failed above requeued it: only once it has failed again can it be retried.
      path: async () => {
        await deliveriesWhen(
          api,
          failing.body.id,
          (d) => d.every((x) => x.state === 'failed'),
          'failed again',
        );
        return `/v1/deliveries/${dead!.id}/retry`;
      },
      permission: 'WEBHOOKS:EDIT',
      ok: 202,
    },
    {
      method: 'POST',
      path: () => '/v1/events',
      permission: 'EVENTS:PUBLISH',
      body: () => ({ id: `evt-${Math.random()}`, type: 'nothing.matches' }),
      ok: 202,
    },
    // Seed 000
    {
      method: 'POST',
      path: () => '/api/spa/webhooks',
      permission: 'WEBHOOKS:ADD',
      body: () => ({ identifier: 'spa', url: `${receiver.url}/spa` }),
      ok: 201,
    },
    // Seed 001
    {
      method: 'POST',
      path: () => '/api/v1/Agents/Webhook/CreateDefaultWebhook',
      permission: 'WEBHOOKS:VIEW',
      ok: 200,
    },
    {
      method: 'POST',
      path: () => '/api/v1/Agents/Webhook/SaveWebhook',
      permission: 'WEBHOOKS:ADD',
      body: () => ({ WebhookId: 0, Name: 'so', TargetUrl: `${receiver.url}/so`, Events: ['a.b'] }),
      ok: 200,
    },
    {
      method: 'POST',
      path: () => '/api/v1/Agents/Webhook/SaveWebhook',
      permission: 'WEBHOOKS:EDIT',
      body: () => ({ WebhookId: saved.body.WebhookId, Name: 'so', TargetUrl: `${receiver.url}/so2` }),
      ok: 200,
    },
    // Seed 002
    { method: 'GET', path: () => '/api/web/v1/webhooks', permission: 'WEBHOOKS:VIEW', ok: 200 },
    { method: 'POST', path: () => '/api/web/v1/webhooks', permission: 'WEBHOOKS:ADD', body: hook, ok: 200 },
    {
      method: 'GET',
      path: async () => `/api/web/v1/webhooks/${await id()}`,
      permission: 'WEBHOOKS:VIEW',
      ok: 200,
    },
    {
      method: 'PUT',
      path: async () => `/api/web/v1/webhooks/${await id()}`,
      permission: 'WEBHOOKS:EDIT',
      body: hook,
      ok: 200,
    },
    {
      method: 'DELETE',
      path: async () => `/api/web/v1/webhooks/${await id()}`,
      permission: 'WEBHOOKS:REMOVE',
      ok: 200,
    },
    {
      method: 'POST',
      path: async () => `/api/web/v1/webhooks/test/${await id()}`,
      permission: 'WEBHOOKS:EDIT',
      ok: 200,
    },
    // Seed 003 (with and without the trailing slash of the seed's example)
    ...['', '/'].map(
      (slash): Case => ({
        method: 'POST',
        path: () => `/api/management/projects/movies/events/webhooks/subscriptions${slash}`,
        permission: 'WEBHOOKS:ADD',
        body: () => ({ name: { 'en-GB': 'n' }, url: `${receiver.url}/c`, enabled: true }),
        ok: 201,
      }),
    ),
  ];
});

test('every route: no token 401, wrong token 401, without the permission 403, with it 2xx', async () => {
  for (const c of cases) {
    const path = await c.path();
    const label = `${c.method} ${path} (${c.permission})`;
    const body = c.body?.();
    const none = await api.as(null).call(c.method, path, body);
    assert.equal(none.status, 401, `${label}, no token: ${none.text}`);
    assert.equal(none.body.error, 'unauthorized');
    const wrong = await api.as('tok-wrong').call(c.method, path, body);
    assert.equal(wrong.status, 401, `${label}, wrong token: ${wrong.text}`);
    const without = await api.as(not(c.permission)).call(c.method, path, body);
    assert.equal(without.status, 403, `${label}, without the permission: ${without.text}`);
    assert.equal(without.body.error, 'forbidden');
    const fresh = await c.path();
    const ok = await api.as(only(c.permission)).call(c.method, fresh, c.body?.());
    assert.equal(ok.status, c.ok, `${c.method} ${fresh} with only ${c.permission}: ${ok.text}`);
  }
});

test('the table covers every secured route of the OpenAPI document, with its permission', async () => {
  const doc = (
    await api
      .as(null)
      .get<{ paths: Record<string, Record<string, Record<string, unknown>>> }>('/openapi.json')
  ).body;
  const documented: { key: string; permissions: string[] }[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const p = op['x-hookd-permission'];
      if (typeof p === 'string')
        documented.push({ key: `${method.toUpperCase()} ${path}`, permissions: p.split(' or ') });
    }
  }
  assert.equal(documented.length, 24);
  const covered = new Map<string, Set<string>>();
  for (const c of cases) {
    // Ids become the {param} of the document.
    const path = (await c.path())
      .replace(/^\/v1\/deliveries\/[^/]+/, '/v1/deliveries/{id}')
      .replace(/^\/v1\/webhooks\/(?!default$)[^/]+/, '/v1/webhooks/{id}')
      .replace(/^\/api\/web\/v1\/webhooks\/test\/[^/]+/, '/api/web/v1/webhooks/test/{id}')
      .replace(/^\/api\/web\/v1\/webhooks\/(?!test\/)[^/]+$/, '/api/web/v1/webhooks/{id}')
      .replace(/\/projects\/[^/]+\//, '/projects/{projectId}/');
    const key = `${c.method} ${path}`;
    covered.set(key, (covered.get(key) ?? new Set()).add(c.permission));
  }
  const missing = documented.flatMap((d) =>
    d.permissions.filter((p) => !covered.get(d.key)?.has(p)).map((p) => `${d.key} ${p}`),
  );
  assert.deepEqual(missing, []);
});

test('the token is accepted as Bearer, X-AUTH-TOKEN (seed 000) and Basic password (seed 001)', async () => {
  const token = only('WEBHOOKS:VIEW');
  const styles: Record<string, string>[] = [
    { authorization: `Bearer ${token}` },
    { 'x-auth-token': token },
    { authorization: `Basic ${Buffer.from(`anyone:${token}`).toString('base64')}` },
  ];
  for (const headers of styles) {
    const r = await api.as(null).call('GET', '/v1/webhooks', undefined, headers);
    assert.equal(r.status, 200, JSON.stringify(headers));
  }
  const wrongBasic = await api.as(null).call('GET', '/v1/webhooks', undefined, {
    authorization: `Basic ${Buffer.from('u:nope').toString('base64')}`,
  });
  assert.equal(wrongBasic.status, 401);
});

test('health, readiness, metrics and the OpenAPI document need no token', async () => {
  for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json']) {
    assert.equal((await api.as(null).get(path)).status, 200, path);
  }
});

test('every status answered in this file is in /openapi.json for its route (issue 16)', async () => {
  assert.deepEqual(await undocumentedStatuses(hookd.url), []);
});
