/**
 * Issue 12 bug 6 and acceptance 4: a transport from a plugin folder declares
 * a secret field (`apiKey`, in its `secretFields` and nowhere else in
 * hookd). Its value never appears in the logs (even when the transport logs
 * its own settings), in any API response, or in `hookd explain`.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { runExplain } from '../../../src/commands/index.ts';
import { type RunningHookd, startHookd } from '../../helpers/hookd.ts';
import { type Receiver, startReceiver } from '../../helpers/receiver.ts';

const PLUGINS = join(import.meta.dirname, '../../fixtures/plugin-secret');
const KEY = 'vault-key-SECRET-4242';

let receiver: Receiver;
let hookd: RunningHookd;
const responses: string[] = [];

async function call(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const r = await fetch(`${hookd.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  responses.push(`${method} ${path} → ${r.status}: ${text}`);
  return { status: r.status, json: text ? JSON.parse(text) : undefined };
}

before(async () => {
  receiver = await startReceiver();
  hookd = await startHookd({
    config: { plugins: { dir: PLUGINS } },
    rules: {
      'file.yaml': stringify({
        webhooks: [
          { identifier: 'from-file', type: 'vault-hook', data: { url: `${receiver.url}/file`, apiKey: KEY } },
        ],
      }),
    },
  });
});
after(async () => {
  await hookd?.stop();
  await receiver?.close();
});

test('a plugin transport secret field stays out of logs, API responses and explain', async () => {
  const created = await call('POST', '/v1/webhooks', {
    identifier: 'from-api',
    type: 'vault-hook',
    data: { url: `${receiver.url}/api`, apiKey: KEY },
  });
  assert.equal(created.status, 201, responses.at(-1));
  const id = (created.json as { id: string }).id;
  assert.equal((await call('GET', `/v1/webhooks/${id}`)).status, 200);
  assert.equal((await call('GET', '/v1/webhooks')).status, 200);
  const event = { id: 'e-vault', type: 'audit.logged', data: { n: 1 } };
  assert.equal((await call('POST', '/v1/events', event)).status, 202);
  await receiver.waitFor(2);
  // The key did reach the receiver (the plugin really had it), and the transport logged its settings.
  assert.ok(receiver.requests.every((q) => q.headers['x-api-key'] === KEY));
  const sending = hookd.logs.filter((l) => l.msg === 'vault-hook sending');
  assert.equal(sending.length, 2, 'the transport logged each send');
  const deliveries = await call('GET', `/v1/webhooks/${id}/deliveries`);
  assert.ok(deliveries.status < 300, responses.at(-1));

  const eventFile = join(hookd.dirs.dir, 'event.json');
  writeFileSync(eventFile, JSON.stringify(event));
  const configFile = join(hookd.dirs.dir, 'explain.yaml');
  writeFileSync(configFile, stringify({ plugins: { dir: PLUGINS }, store: { path: hookd.dirs.storePath } }));
  const out: string[] = [];
  for (const json of [[], ['--json']]) {
    const args = ['--event', eventFile, '--config', configFile, '--rules', hookd.dirs.rulesDir, ...json];
    const code = await runExplain(args, { stdout: (s) => out.push(s), stderr: (s) => out.push(s) });
    assert.equal(code, 0, out.join('\n'));
  }
  assert.match(out.join('\n'), /from-api/, 'explain shows the API webhook');

  const logs = hookd.logs.map((l) => JSON.stringify(l)).join('\n');
  assert.ok(
    !logs.includes(KEY),
    `the key is in the logs:\n${logs
      .split('\n')
      .filter((l) => l.includes(KEY))
      .join('\n')}`,
  );
  const api = responses.join('\n');
  assert.ok(!api.includes(KEY), `the key is in an API response:\n${api}`);
  assert.ok(!out.join('\n').includes(KEY), `the key is in explain:\n${out.join('\n')}`);
});
