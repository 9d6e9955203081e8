/**
 * Issue 16, seed 000's vendor types: the example plugin in
 * plugins/examples/binect-document, loaded by `hookd run` through
 * `plugins.dir`, delivers a seed 000 webhook (created through the seed's own
 * route) to a local receiver over the HTTP transport: the vendor's bearer
 * key, the templated document name and a Standard Webhooks signature; the
 * key is write-only in the API.
 */
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { type HookdProcess, makeDirs, spawnHookd, type TestDirs } from '../../helpers/hookd.ts';
import { type Receiver, startReceiver } from '../../helpers/receiver.ts';
import { waitFor } from '../../helpers/wait.ts';

const PLUGIN_DIR = resolve(import.meta.dirname, '../../../plugins/examples/binect-document');
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const API_KEY = 'binect-key-5e1f0c3a';

let receiver: Receiver;
let dirs: TestDirs;
let hookd: HookdProcess;

before(async () => {
  receiver = await startReceiver();
  dirs = makeDirs();
  hookd = await spawnHookd(dirs, { HOOKD_PLUGINS_DIR: PLUGIN_DIR });
});

after(async () => {
  hookd?.child.kill('SIGTERM');
  await hookd?.exited;
  await receiver?.close();
  dirs?.cleanup();
});

const call = async (method: string, path: string, body?: unknown) => {
  const r = await fetch(`${hookd.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, text, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
};

test('a binect-document webhook created through seed 000 delivers through the example plugin', async () => {
  const created = await call('POST', '/api/spa/webhooks', {
    identifier: 'my-webhook',
    type: 'binect-document',
    priority: 1,
    data: { endpoint: `${receiver.url}/documents`, apiKey: API_KEY, documentName: 'invoice-{/data/no}.json' },
    active: true,
  });
  assert.equal(created.status, 201, created.text);
  assert.deepEqual((created.body.data as Record<string, unknown>).apiKey, { set: true });
  assert.ok(!created.text.includes(API_KEY));
  // The signing secret is part of the one model: set it through the native API.
  const native = await call('GET', '/v1/webhooks?identifier=my-webhook');
  const view = (native.body.items as Record<string, unknown>[])[0]!;
  assert.equal(view.transport, 'binect-document');
  const put = await call('PUT', `/v1/webhooks/${view.id}`, { ...view, secret: SECRET });
  assert.equal(put.status, 200, put.text);

  const event = { id: 'inv-1', type: 'invoice.created', data: { no: 'A-17' } };
  const ingest = await call('POST', '/v1/events', event);
  assert.equal(ingest.status, 202, ingest.text);
  const got = await waitFor('the plugin to deliver to the receiver', () => receiver.requests[0], {
    saw: () => `hookd output:\n${hookd.output()}`,
  });
  assert.equal(got.method, 'POST');
  assert.equal(got.url, '/documents');
  assert.equal(got.headers.authorization, `Bearer ${API_KEY}`);
  assert.equal(got.headers['x-binect-document-name'], 'invoice-A-17.json');
  assert.deepEqual(JSON.parse(got.body).data, event.data);
  new StandardWebhook(SECRET).verify(got.body, got.headers as Record<string, string>);
  assert.ok(!hookd.output().includes(API_KEY), 'the key is never logged');
});
