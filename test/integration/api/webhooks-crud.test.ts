/**
 * Issue 7: the native API `/v1/webhooks` against a real hookd and real
 * receivers: create (201 + Location), get, replace, delete, list with
 * filters and pages, defaults, 400 with the path of each problem, 404 for
 * unknown ids, 409 for file webhooks and taken ids, audit fields and
 * versions, and API webhooks surviving a restart.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeDirs, type RunningHookd, startHookd, type TestDirs } from '../../helpers/hookd.ts';
import { type Receiver, startReceiver } from '../../helpers/receiver.ts';
import { Client, deliveriesWhen, publish, tokens, undocumentedStatuses } from './helpers.ts';

let receiver: Receiver;
let dirs: TestDirs;
let hookd: RunningHookd;
let api: Client;

const FILE_RULES = (url: string) => `
webhooks:
  - identifier: from-file
    url: ${url}/file
    events: [file.*]
`;

async function start(): Promise<void> {
  hookd = await startHookd({ dirs, config: { api: { tokens: tokens() } } });
  api = new Client(hookd.url);
}

before(async () => {
  receiver = await startReceiver();
  dirs = makeDirs({ 'file.yaml': FILE_RULES(receiver.url) });
  await start();
});

after(async () => {
  await hookd?.stop();
  await receiver?.close();
  dirs?.cleanup();
});

type View = Record<string, unknown> & { id: string; version: { versionNo: number } };

describe('create, get, replace, delete', () => {
  test('create answers 201 with Location; get returns the same webhook; createdBy is the token name', async () => {
    const r = await api.post<View>('/v1/webhooks', {
      identifier: 'crm',
      targetUrl: `${receiver.url}/crm/{/data/id}`,
      events: ['contact.created'],
      priority: 3,
    });
    assert.equal(r.status, 201, r.text);
    assert.match(r.body.id, /^[0-9a-f-]{36}$/);
    assert.equal(r.headers.get('location'), `/v1/webhooks/${r.body.id}`);
    assert.equal(r.body.source, 'api');
    assert.equal(r.body.url, `${receiver.url}/crm/{/data/id}`, 'targetUrl is folded into url');
    assert.equal(r.body.createdBy, 'admin');
    assert.equal(r.body.updatedBy, 'admin');
    assert.deepEqual(r.body.version, { versionNo: 1 });
    const g = await api.get<View>(r.headers.get('location')!);
    assert.equal(g.status, 200);
    assert.deepEqual(g.body, r.body);
  });

  test('replace bumps version.versionNo, sets updatedBy, keeps createdBy; delete removes it', async () => {
    const c = await api.post<View>('/v1/webhooks', { identifier: 'v', url: `${receiver.url}/v` });
    const id = c.body.id;
    const p1 = await api.as('tok-operator').put<View>(`/v1/webhooks/${id}`, {
      identifier: 'v',
      url: `${receiver.url}/v2`,
    });
    assert.equal(p1.status, 200, p1.text);
    assert.equal(p1.body.version.versionNo, 2);
    assert.equal(p1.body.createdBy, 'admin');
    assert.equal(p1.body.updatedBy, 'operator');
    assert.equal(p1.body.url, `${receiver.url}/v2`);
    // A response sent back unchanged is a valid replace (read-only fields are ignored).
    const p2 = await api.put<View>(`/v1/webhooks/${id}`, p1.body);
    assert.equal(p2.status, 200, p2.text);
    assert.equal(p2.body.version.versionNo, 3);
    const d = await api.delete(`/v1/webhooks/${id}`);
    assert.equal(d.status, 204);
    assert.equal((await api.get(`/v1/webhooks/${id}`)).status, 404);
    assert.equal(hookd.app.catalog.webhook(id), undefined, 'gone from the catalog too');
  });

  test('an explicit id is kept; the same id again is 409, and so is the id of a file webhook', async () => {
    const c = await api.post<View>('/v1/webhooks', { id: 'my-own-id', url: `${receiver.url}/x` });
    assert.equal(c.status, 201, c.text);
    assert.equal(c.body.id, 'my-own-id');
    const again = await api.post('/v1/webhooks', { id: 'my-own-id', url: `${receiver.url}/y` });
    assert.equal(again.status, 409);
    assert.equal(again.body.error, 'conflict');
    const fileId = hookd.app.catalog.rules.webhooks.find((w) => w.source === 'file')!.id;
    assert.equal((await api.post('/v1/webhooks', { id: fileId, url: `${receiver.url}/z` })).status, 409);
  });

  test('file webhooks are listed with source "file" and answer 409 to PUT and DELETE', async () => {
    const list = await api.get<{ items: View[] }>('/v1/webhooks?source=file');
    assert.equal(list.status, 200);
    assert.equal(list.body.items.length, 1);
    const f = list.body.items[0]!;
    assert.equal(f.source, 'file');
    assert.equal(f.file, 'file.yaml');
    assert.equal(f.identifier, 'from-file');
    const put = await api.put(`/v1/webhooks/${f.id}`, { url: `${receiver.url}/hijack` });
    assert.equal(put.status, 409);
    assert.match(String(put.body.message), /rule file file\.yaml/);
    assert.equal((await api.delete(`/v1/webhooks/${f.id}`)).status, 409);
    assert.equal(hookd.app.catalog.webhook(f.id)?.url, `${receiver.url}/file`, 'unchanged');
  });

  test('GET /v1/webhooks/default gives the defaults of a new webhook', async () => {
    const r = await api.get('/v1/webhooks/default');
    assert.equal(r.status, 200);
    assert.equal(r.body.type, 'http');
    assert.equal(r.body.state, 'Active');
    assert.equal(r.body.active, true);
    assert.equal(r.body.priority, 0);
    assert.equal(r.body.method, 'POST');
    assert.deepEqual(r.body.headers, {});
    assert.deepEqual(r.body.data, { maxRedirects: 3 });
    assert.equal(r.body.id, undefined);
  });
});

describe('list', () => {
  test('filters by identifier, type (alias or transport), state and source', async () => {
    const mk = (body: Record<string, unknown>) => api.post<View>('/v1/webhooks', body);
    const a = await mk({ identifier: 'filter-a', type: 'webhook', url: `${receiver.url}/a` });
    const b = await mk({ identifier: 'filter-b', url: `${receiver.url}/b`, state: 'Stopped' });
    const s = await mk({
      identifier: 'filter-a',
      type: 'sftp-document',
      data: { host: '127.0.0.1', user: 'u', password: 'filter-secret-pw', hostKey: undefined },
    });
    for (const r of [a, b, s]) assert.equal(r.status, 201, r.text);
    const ids = async (q: string) =>
      (await api.get<{ items: View[] }>(`/v1/webhooks?${q}`)).body.items.map((w) => w.id).sort();
    assert.deepEqual(await ids('identifier=filter-a'), [a.body.id, s.body.id].sort());
    assert.deepEqual(await ids('identifier=filter-a&type=sftp'), [s.body.id]);
    assert.deepEqual(await ids('identifier=filter-a&type=sftp-document'), [s.body.id]);
    assert.deepEqual(await ids('identifier=filter-a&type=http'), [a.body.id]);
    assert.deepEqual(await ids('identifier=filter-b&state=Stopped'), [b.body.id]);
    assert.deepEqual(await ids('identifier=filter-b&state=Active'), []);
    const bad = await api.get('/v1/webhooks?state=Paused&limit=0');
    assert.equal(bad.status, 400);
    assert.deepEqual(
      (bad.body.problems as { path: string }[]).map((p) => p.path),
      ['state', 'limit'],
    );
  });

  test('pages with limit and after cover every webhook once, in id order', async () => {
    for (let i = 0; i < 7; i++) {
      assert.equal(
        (await api.post('/v1/webhooks', { identifier: 'page', url: `${receiver.url}/p${i}` })).status,
        201,
      );
    }
    const all = await api.get<{ items: View[]; total: number }>('/v1/webhooks?limit=1000');
    const seen: string[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 100; pages++) {
      const q: string = `/v1/webhooks?limit=3${after ? `&after=${encodeURIComponent(after)}` : ''}`;
      const r = await api.get<{ items: View[]; total: number; next: string | null }>(q);
      assert.equal(r.status, 200);
      assert.ok(r.body.items.length <= 3);
      assert.equal(r.body.total, all.body.total);
      seen.push(...r.body.items.map((w) => w.id));
      after = r.body.next;
      if (after === null) break;
    }
    assert.deepEqual(
      seen,
      all.body.items.map((w) => w.id),
    );
    assert.deepEqual([...seen].sort(), seen, 'id order');
    assert.equal(new Set(seen).size, all.body.total);
  });
});

describe('bad bodies and unknown ids', () => {
  const problems = (r: { body: Record<string, unknown> }) =>
    (r.body.problems as { path: string; message: string }[]).map((p) => p.path);

  test('400 names the JSON path of each problem', async () => {
    const r = await api.post('/v1/webhooks', {
      identifier: 'bad',
      type: 'sftp',
      colour: 'blue',
      data: { host: 'h', user: 'u', password: 'p', port: 'twenty-two' },
      topics: [{ event: [] }],
    });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.body.error, 'invalid_body');
    assert.deepEqual(problems(r).sort(), ['colour', 'topics[0].event']);
    // The transport's own schema is checked once the model is valid.
    const d = await api.post('/v1/webhooks', { type: 'sftp', data: { host: 'h', user: 'u', port: 'x' } });
    assert.equal(d.status, 400);
    assert.deepEqual(problems(d), ['data.port']);
    const noCredential = await api.post('/v1/webhooks', { type: 'sftp', data: { host: 'h', user: 'u' } });
    assert.equal(noCredential.status, 400);
    assert.deepEqual(problems(noCredential), ['data.password']);
  });

  test('an http webhook without a url, a CEL syntax error and a broken template are 400 with their paths', async () => {
    const noUrl = await api.post('/v1/webhooks', { identifier: 'x' });
    assert.equal(noUrl.status, 400);
    assert.deepEqual(problems(noUrl), ['url']);
    const cel = await api.post('/v1/webhooks', {
      url: `${receiver.url}/c`,
      groupIdentifier: 'g',
      groupCondition: "data['a'] >",
    });
    assert.equal(cel.status, 400, cel.text);
    assert.deepEqual(problems(cel), ['groupCondition']);
    const tpl = await api.post('/v1/webhooks', { url: `${receiver.url}/{/data/id` });
    assert.equal(tpl.status, 400, tpl.text);
    assert.deepEqual(problems(tpl), ['url']);
    const notJson = await api.post('/v1/webhooks', '{"identifier": ');
    assert.equal(notJson.status, 400);
    assert.equal(notJson.body.error, 'invalid_json');
    const notObject = await api.post('/v1/webhooks', [1, 2]);
    assert.equal(notObject.status, 400);
    assert.deepEqual(problems(notObject), ['$']);
  });

  test('a bad replace changes nothing', async () => {
    const c = await api.post<View>('/v1/webhooks', { identifier: 'keep', url: `${receiver.url}/keep` });
    const r = await api.put(`/v1/webhooks/${c.body.id}`, {
      identifier: 'keep',
      url: `${receiver.url}/x`,
      priority: 'high',
    });
    assert.equal(r.status, 400);
    assert.deepEqual(problems(r), ['priority']);
    const mismatch = await api.put(`/v1/webhooks/${c.body.id}`, { id: 'other', url: `${receiver.url}/x` });
    assert.equal(mismatch.status, 400);
    assert.deepEqual(problems(mismatch), ['id']);
    const g = await api.get<View>(`/v1/webhooks/${c.body.id}`);
    assert.equal(g.body.url, `${receiver.url}/keep`);
    assert.equal(g.body.version.versionNo, 1);
  });

  test('unknown ids are 404 on every route that takes one', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    const calls: [string, string, unknown?][] = [
      ['GET', `/v1/webhooks/${id}`],
      ['PUT', `/v1/webhooks/${id}`, { url: `${receiver.url}/x` }],
      ['DELETE', `/v1/webhooks/${id}`],
      ['POST', `/v1/webhooks/${id}/test`],
      ['PUT', `/v1/webhooks/${id}/state`, { state: 'Stopped' }],
      ['GET', `/v1/webhooks/${id}/deliveries`],
      ['POST', `/v1/webhooks/${id}/retry-failed`],
      ['POST', `/v1/deliveries/${id}/retry`],
    ];
    for (const [method, path, body] of calls) {
      const r = await api.call(method, path, body);
      assert.equal(r.status, 404, `${method} ${path}: ${r.text}`);
      assert.equal(r.body.error, 'not_found');
    }
  });
});

describe('API webhooks deliver, and survive a restart', () => {
  test('an API webhook receives matching events; after a restart it is still there and still delivers', async () => {
    const c = await api.post<View>('/v1/webhooks', {
      identifier: 'persist',
      url: `${receiver.url}/persist/{/data/n}`,
      events: ['persist.test'],
    });
    assert.equal(c.status, 201);
    const before = receiver.requests.length;
    await publish(hookd, [{ id: 'persist-1', type: 'persist.test', data: { n: 1 } }]);
    await deliveriesWhen(api, c.body.id, (d) => d.length === 1 && d[0]!.state === 'succeeded');
    assert.ok(receiver.requests.slice(before).some((r) => r.url === '/persist/1'));

    await hookd.stop();
    await start();
    const g = await api.get<View>(`/v1/webhooks/${c.body.id}`);
    assert.equal(g.status, 200);
    assert.deepEqual(g.body, c.body);
    await publish(hookd, [{ id: 'persist-2', type: 'persist.test', data: { n: 2 } }]);
    const items = await deliveriesWhen(
      api,
      c.body.id,
      (d) => d.length === 2 && d.every((x) => x.state === 'succeeded'),
    );
    assert.deepEqual(items.map((d) => d.eventId).sort(), ['persist-1', 'persist-2']);
    assert.ok(receiver.requests.some((r) => r.url === '/persist/2'));
  });
});

test('every status answered in this file is in /openapi.json for its route (issue 16)', async () => {
  assert.deepEqual(await undocumentedStatuses(hookd.url), []);
});
