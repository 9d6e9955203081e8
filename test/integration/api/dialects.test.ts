/**
 * Issue 7: the seeds' own routes answer with their own field names and
 * status codes, taking each seed's example body unchanged (from
 * test/fixtures/seeds), and map onto the one model (the native API sees the
 * same webhooks). Delivery of what they create is proven end to end in
 * test/e2e/api-seeds.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import type { RunningHookd } from '../../helpers/hookd.ts';
import { usePeers } from '../../helpers/peers.ts';
import type { Receiver } from '../../helpers/receiver.ts';
import { Client, tokens, undocumentedStatuses } from './helpers.ts';

const FIXTURES = join(import.meta.dirname, '../../fixtures/seeds');
const fixture = (name: string) =>
  JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as Record<string, unknown>;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let receiver: Receiver;
let hookd: RunningHookd;
let api: Client;

const peers = usePeers();

before(async () => {
  receiver = await peers.receiver();
  hookd = await peers.hookd({
    rules: { 'file.yaml': `webhooks:\n  - identifier: from-file\n    url: ${receiver.url}/file\n` },
    config: { api: { tokens: tokens() } },
  });
  api = new Client(hookd.url);
});

const paths = (r: { body: Record<string, unknown> }) =>
  (r.body.problems as { path: string }[] | undefined)?.map((p) => p.path);

describe('seed 000: POST /api/spa/webhooks', () => {
  test('the example body gives 201 with the documented fields; id is an integer; the password is write-only', async () => {
    const body = fixture('000-spa-webhook.json');
    const r = await api.post('/api/spa/webhooks', body);
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(Object.keys(r.body).sort(), [
      'active',
      'activeFrom',
      'createdAt',
      'createdBy',
      'data',
      'groupCondition',
      'groupIdentifier',
      'id',
      'identifier',
      'priority',
      'type',
      'updatedAt',
      'updatedBy',
    ]);
    assert.ok(Number.isInteger(r.body.id));
    assert.equal(r.body.identifier, 'my-webhook');
    assert.equal(r.body.type, 'sftp-document');
    assert.equal(r.body.priority, 1);
    assert.deepEqual(r.body.data, {
      host: 'sftp.example.com',
      user: 'sftp-user',
      password: { set: true },
      directory: 'sftp-directory/sub-directory',
      port: 22,
    });
    assert.equal(r.body.active, true);
    assert.equal(r.body.activeFrom, '2024-01-01');
    assert.equal(r.body.groupIdentifier, 'my_group');
    assert.equal(r.body.groupCondition, "data['contract']['balance'] > 0");
    assert.equal(r.body.createdBy, 'admin');
    assert.ok(!Number.isNaN(Date.parse(String(r.body.createdAt))));
    // The same webhook in the one model.
    const native = await api.get(r.headers.get('location')!);
    assert.equal(native.status, 200);
    assert.equal(native.body.transport, 'sftp');
    assert.equal(native.body.identifier, 'my-webhook');
    // A second one with the same identifier is fine (identifiers may be shared) and gets the next number.
    const again = await api.post('/api/spa/webhooks', body);
    assert.equal(again.status, 201);
    assert.equal(again.body.id, (r.body.id as number) + 1);
  });

  test('activeFrom defaults to today; bad bodies are 400 with their paths', async () => {
    const r = await api.post('/api/spa/webhooks', { identifier: 'spa-today', url: `${receiver.url}/spa` });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.activeFrom, new Date().toISOString().slice(0, 10));
    const bad = await api.post('/api/spa/webhooks', {
      identifier: 'x',
      type: 'sftp-document',
      priority: 'high',
      data: {},
    });
    assert.equal(bad.status, 400);
    assert.deepEqual(paths(bad), ['priority']);
    const vendor = await api.post('/api/spa/webhooks', {
      identifier: 'x',
      type: 'binect-document',
      data: {},
    });
    assert.equal(vendor.status, 400);
    assert.deepEqual(paths(vendor), ['type']);
    assert.match(String(vendor.body.message), /plugin/);
  });
});

describe('seed 001: SuperOffice Webhook agent', () => {
  test('CreateDefaultWebhook answers 200 with the entity of the sample response, with defaults, storing nothing', async () => {
    const count = (await api.get<{ total: number }>('/v1/webhooks')).body.total;
    const r = await api.post('/api/v1/Agents/Webhook/CreateDefaultWebhook');
    assert.equal(r.status, 200, r.text);
    const sample = fixture('001-webhook.sample-response.json');
    assert.deepEqual(Object.keys(r.body), Object.keys(sample), 'the same members, in the same order');
    assert.equal(r.body.WebhookId, 0);
    assert.equal(r.body.State, 'Active');
    assert.equal(r.body.Type, 'webhook');
    assert.deepEqual(r.body.Events, []);
    assert.equal(r.body.TargetUrl, '');
    assert.deepEqual(r.body.Headers, {});
    assert.deepEqual(r.body.Properties, {});
    assert.equal(r.body.RegisteredAssociate, null);
    assert.ok(!Number.isNaN(Date.parse(String(r.body.Registered))));
    assert.equal((await api.get<{ total: number }>('/v1/webhooks')).body.total, count);
  });

  test('SaveWebhook creates (WebhookId 0) and updates; 400 paths use the PascalCase names', async () => {
    const defaults = (await api.post('/api/v1/Agents/Webhook/CreateDefaultWebhook')).body;
    const created = await api.post('/api/v1/Agents/Webhook/SaveWebhook', {
      ...defaults,
      Name: 'contacts to ERP',
      Events: ['contact.created', 'sale.changed'],
      TargetUrl: `${receiver.url}/so`,
      Headers: { 'X-Tenant': 'acme' },
      Properties: { fieldName: { a: 1 } },
    });
    assert.equal(created.status, 200, created.text);
    assert.ok(Number.isInteger(created.body.WebhookId) && (created.body.WebhookId as number) > 0);
    assert.deepEqual(Object.keys(created.body), Object.keys(defaults));
    assert.equal(created.body.Name, 'contacts to ERP');
    assert.deepEqual(created.body.Headers, { 'X-Tenant': 'acme' });
    assert.deepEqual(created.body.RegisteredAssociate, { Name: 'admin' });
    const native = (
      await api.get<{ items: Record<string, unknown>[] }>('/v1/webhooks?identifier=contacts%20to%20ERP')
    ).body.items;
    assert.equal(native.length, 1);
    assert.equal(native[0]!.url, `${receiver.url}/so`);
    assert.deepEqual(native[0]!.properties, { fieldName: { a: 1 } });

    const updated = await api.as('tok-operator').post('/api/v1/Agents/Webhook/SaveWebhook', {
      ...created.body,
      State: 'Stopped',
    });
    assert.equal(updated.status, 200, updated.text);
    assert.equal(updated.body.WebhookId, created.body.WebhookId);
    assert.equal(updated.body.State, 'Stopped');
    assert.deepEqual(updated.body.UpdatedAssociate, { Name: 'operator' });
    const after = await api.get<{ state: string; version: { versionNo: number } }>(
      `/v1/webhooks/${native[0]!.id}`,
    );
    assert.equal(after.body.state, 'Stopped');
    assert.equal(after.body.version.versionNo, 2);

    const bad = await api.post('/api/v1/Agents/Webhook/SaveWebhook', {
      WebhookId: 0,
      Name: 'x',
      Events: 'contact.created',
    });
    assert.equal(bad.status, 400);
    assert.deepEqual(paths(bad), ['Events']);
    const noUrl = await api.post('/api/v1/Agents/Webhook/SaveWebhook', {
      WebhookId: 0,
      Name: 'x',
      TargetUrl: '',
    });
    assert.equal(noUrl.status, 400);
    assert.deepEqual(paths(noUrl), ['TargetUrl']);
    const unknown = await api.post('/api/v1/Agents/Webhook/SaveWebhook', { WebhookId: 0, Colour: 'red' });
    assert.equal(unknown.status, 400);
    assert.deepEqual(paths(unknown), ['Colour']);
    const missing = await api.post('/api/v1/Agents/Webhook/SaveWebhook', { WebhookId: 99999, Name: 'x' });
    assert.equal(missing.status, 404);
  });
});

describe('seed 002: /api/web/v1/webhooks', () => {
  test('CRUD and test answer 200 with UUID ids; delete and test have empty bodies', async () => {
    const c = await api.post<{ id: string }>('/api/web/v1/webhooks', {
      ...fixture('002-webhook-parms.json'),
      url: `${receiver.url}/web/{/type}`,
    });
    assert.equal(c.status, 200, c.text);
    assert.match(c.body.id, UUID);
    const id = c.body.id;
    const list = await api.get<{ id: string }[]>('/api/web/v1/webhooks');
    assert.equal(list.status, 200);
    assert.ok(Array.isArray(list.body) && list.body.some((w) => w.id === id));
    const one = await api.get<Record<string, unknown>>(`/api/web/v1/webhooks/${id}`);
    assert.equal(one.status, 200);
    assert.deepEqual(one.body.events, ['order.created', 'order.updated']);
    const upd = await api.put<Record<string, unknown>>(`/api/web/v1/webhooks/${id}`, {
      ...one.body,
      events: ['order.cancelled'],
    });
    assert.equal(upd.status, 200, upd.text);
    assert.deepEqual(upd.body.events, ['order.cancelled']);
    const n = receiver.requests.length;
    const t = await api.post(`/api/web/v1/webhooks/test/${id}`);
    assert.equal(t.status, 200);
    assert.equal(t.text, '');
    assert.equal(t.headers.get('hookd-test-outcome'), 'success');
    assert.equal(receiver.requests.length, n + 1);
    assert.equal(
      receiver.requests[n]!.url,
      '/web/order.cancelled',
      'a dummy event of the first type it wants',
    );
    const d = await api.delete(`/api/web/v1/webhooks/${id}`);
    assert.equal(d.status, 200);
    assert.equal(d.text, '');
    assert.equal((await api.get(`/api/web/v1/webhooks/${id}`)).status, 404);
  });

  test('400 for a non-UUID id or a bad body, 404 unknown, 409 for a file webhook', async () => {
    assert.equal((await api.get('/api/web/v1/webhooks/12345')).status, 400);
    const bad = await api.post('/api/web/v1/webhooks', { url: `${receiver.url}/x`, events: 'order.created' });
    assert.equal(bad.status, 400);
    assert.deepEqual(paths(bad), ['events']);
    assert.equal((await api.get('/api/web/v1/webhooks/00000000-0000-4000-8000-000000000000')).status, 404);
    const fileId = hookd.app.catalog.rules.webhooks.find((w) => w.source === 'file')!.id;
    assert.equal((await api.put(`/api/web/v1/webhooks/${fileId}`, { url: `${receiver.url}/y` })).status, 409);
    assert.equal((await api.delete(`/api/web/v1/webhooks/${fileId}`)).status, 409);
  });
});

describe('seed 003: Contensis webhook subscriptions', () => {
  test('the example body gives 201 echoing the subscription with id and version; secret header values are not returned', async () => {
    const body = fixture('003-subscription.json');
    const r = await api.post('/api/management/projects/movies/events/webhooks/subscriptions/', body);
    assert.equal(r.status, 201, r.text);
    const sample = fixture('003-subscription.sample-response.json');
    assert.deepEqual(Object.keys(r.body).sort(), Object.keys(sample).sort());
    assert.match(String(r.body.id), UUID);
    for (const k of ['name', 'description', 'url', 'enabled', 'topics', 'templates']) {
      assert.deepEqual(r.body[k], body[k], `${k} is echoed`);
    }
    assert.deepEqual(r.body.headers, {
      target: { value: 'internal' },
      department: { value: '{/resource/department}' },
      secretHeaderSet: { secret: true },
    });
    const version = r.body.version as Record<string, unknown>;
    assert.deepEqual(Object.keys(version).sort(), Object.keys(sample.version as object).sort());
    assert.equal(version.versionNo, '1.0');
    assert.equal(version.createdBy, 'admin');
    assert.equal(version.modifiedBy, 'admin');
    assert.ok(!Number.isNaN(Date.parse(String(version.created))));
    const native = await api.get<Record<string, unknown>>(`/v1/webhooks/${r.body.id}`);
    assert.equal(native.body.organizationId, 'movies');
    assert.equal(native.body.active, true);
    // Without the trailing slash too.
    const plain = await api.post('/api/management/projects/movies/events/webhooks/subscriptions', body);
    assert.equal(plain.status, 201);
  });

  test('a bad subscription is 400 with its paths', async () => {
    const r = await api.post('/api/management/projects/movies/events/webhooks/subscriptions', {
      name: { 'en-GB': 'x' },
      url: `${receiver.url}/x`,
      enabled: 'yes',
      topics: [{ resourceType: 'entry', event: [] }],
    });
    assert.equal(r.status, 400);
    assert.deepEqual(paths(r)?.sort(), ['enabled', 'topics[0].event']);
  });
});

describe('seed 004: hooks and OAuth2 through the native create', () => {
  test('the example body is accepted unchanged; credentials.client_id is shown, client_secret write-only', async () => {
    const body = fixture('004-webhook.json');
    const r = await api.post('/v1/webhooks', body);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.name, 'My Test Webhook');
    assert.equal(r.body.transport, 'http');
    assert.deepEqual(
      (r.body.hooks as { type: string }[]).map((h) => h.type),
      (body.hooks as { type: string }[]).map((h) => h.type),
    );
    assert.deepEqual(r.body.authentication, {
      grant_type: 'client_credentials',
      endpoint: 'https://requestb.in/123',
      // Seed 004: client_id is not secret and is shown; client_secret stays write-only.
      credentials: { client_id: 'doo', client_secret: { set: true } },
      header_format: 'Authorization',
      header_value_format: 'Bearer %ACCESS_TOKEN%',
    });
    assert.ok(!r.text.includes('super-strong-pawwsord'));
  });
});

test('every status answered in this file is in /openapi.json for its route (issue 16)', async () => {
  assert.deepEqual(await undocumentedStatuses(hookd.url), []);
});
