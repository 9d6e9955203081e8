/**
 * Issue 13, failure 10: API ids were unrestricted. NUL, CR/LF or an emoji in
 * `id` gave a 500 after the webhook was stored; a 100,000-character id gave
 * 201 and then every GET answered 431. Ids are now `[A-Za-z0-9._:-]{1,128}`,
 * checked before anything is stored: a 400 naming `id`, nothing kept.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type RunningHookd, startHookd } from '../../helpers/hookd.ts';
import { Client, tokens, undocumentedStatuses } from './helpers.ts';

let hookd: RunningHookd;
let api: Client;

before(async () => {
  hookd = await startHookd({ config: { api: { tokens: tokens() } } });
  api = new Client(hookd.url);
});

after(async () => {
  await hookd?.stop();
});

const BAD = {
  nul: 'a\u0000b',
  crlf: 'a\r\nX-Injected: 1',
  emoji: 'hook-🎉',
  space: 'a b',
  slash: 'a/b',
  long: 'x'.repeat(100_000),
  justOver: 'y'.repeat(129),
  empty: '',
};

test('an id outside [A-Za-z0-9._:-]{1,128} is a 400 naming id, and nothing is stored', async () => {
  for (const [name, id] of Object.entries(BAD)) {
    const r = await api.post<{ problems?: { path: string; message: string }[] }>('/v1/webhooks', {
      id,
      url: 'http://127.0.0.1:9/x',
    });
    assert.equal(r.status, 400, `${name}: ${r.text.slice(0, 300)}`);
    assert.equal(r.body.problems?.[0]?.path, 'id', `${name}: ${r.text.slice(0, 300)}`);
    assert.match(r.body.problems![0]!.message, /A-Za-z0-9\._:-/, name);
  }
  const list = await api.get<{ items: { id: string }[] }>('/v1/webhooks?limit=1000');
  assert.equal(list.status, 200, list.text.slice(0, 300));
  assert.deepEqual(list.body.items, [], 'no webhook was stored');
  assert.equal(hookd.app.store.webhooks.all().length, 0);
});

test('ids of the allowed charset, up to 128 characters, are accepted and can be read back', async () => {
  for (const id of ['crm.contacts:v2_1-A', 'z'.repeat(128)]) {
    const r = await api.post('/v1/webhooks', { id, url: 'http://127.0.0.1:9/x' });
    assert.equal(r.status, 201, r.text);
    const got = await api.get<{ id: string }>(`/v1/webhooks/${encodeURIComponent(id)}`);
    assert.equal(got.status, 200, got.text);
    assert.equal(got.body.id, id);
  }
});

test('a rule file id outside the charset is a config error at its line', async () => {
  const { runCheck } = await import('../../../src/commands/check.ts');
  const { makeDirs } = await import('../../helpers/hookd.ts');
  const dirs = makeDirs({ 'a.yaml': 'webhooks:\n  - id: "bad id"\n    url: http://example.com\n' });
  const lines: string[] = [];
  const code = await runCheck(
    { config: dirs.configPath, rules: dirs.rulesDir },
    { stdout: (s) => lines.push(s), stderr: (s) => lines.push(s) },
    {},
  );
  dirs.cleanup();
  assert.equal(code, 1);
  assert.match(lines.join('\n'), /a\.yaml:2:\d+: webhooks\[0\]\.id: /);
});

test('every status answered in this file is in /openapi.json for its route (issue 16)', async () => {
  assert.deepEqual(await undocumentedStatuses(hookd.url), []);
});
