/**
 * DESIGN.md section 7 for the real daemon: `SIGHUP` to a running
 * `hookd run` reloads the rules (validated first, swapped at once), keeps
 * the API webhooks, and a broken file keeps the old rules serving with the
 * error (file:line:col) in the log and in
 * `hookd_config_reloads_total{result="error"}`.
 *
 * The rule file in `rules/` is a symlink to a file outside it, so editing
 * the target is invisible to the directory watcher: only SIGHUP can pick
 * the change up.
 */
import assert from 'node:assert/strict';
import { renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { HookdProcess, TestDirs } from '../helpers/hookd.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { until } from '../integration/api/helpers.ts';

let receiver: Receiver;
let dirs: TestDirs;
let hookd: HookdProcess;
let target: string;

const rules = (version: string) => `
webhooks:
  - identifier: flow
    url: ${receiver.url}/${version}/{/id}
    events: [flow.*]
`;

function writeTarget(text: string): void {
  writeFileSync(`${target}.tmp`, text);
  renameSync(`${target}.tmp`, target);
}

const peers = usePeers();

before(async () => {
  receiver = await peers.receiver();
  dirs = peers.dirs();
  target = join(dirs.dir, 'flow-rules.yaml');
  writeTarget(rules('v1'));
  symlinkSync(target, join(dirs.rulesDir, 'flow.yaml'));
  hookd = await peers.spawnHookd(dirs, { HOOKD_LOG_LEVEL: 'info' });
});

async function send(id: string): Promise<void> {
  const r = await fetch(`${hookd.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id, type: 'flow.tick', data: {} }),
  });
  assert.equal(r.status, 202, await r.text());
}

/** The path the file rule delivered event `id` to, and whether the API webhook got it too. */
async function delivered(id: string): Promise<string> {
  return until(`${id} delivered`, () => {
    const file = receiver.requests.find((r) => r.url.endsWith(`/${id}`) && !r.url.startsWith('/api/'));
    const api = receiver.requests.some((r) => r.url === `/api/${id}`);
    return file && api ? file.url : undefined;
  });
}

const logLines = () =>
  hookd
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${hookd.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.split(' ').pop()) : 0;
}

test('SIGHUP reloads the rules and keeps API webhooks; a broken file keeps the old rules with the error logged and counted', async () => {
  const c = await fetch(`${hookd.url}/v1/webhooks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ identifier: 'api-flow', url: `${receiver.url}/api/{/id}`, events: ['flow.*'] }),
  });
  assert.equal(c.status, 201, await c.text());
  await send('e1');
  assert.equal(await delivered('e1'), '/v1/e1');

  writeTarget(rules('v2'));
  hookd.child.kill('SIGHUP');
  await until('the SIGHUP reload', () =>
    logLines().find((l) => l.reason === 'SIGHUP' && l.msg === 'rules reloaded'),
  );
  await send('e2');
  assert.equal(await delivered('e2'), '/v2/e2', 'the new rules, and the API webhook still there');
  assert.equal(await metric('hookd_config_reloads_total{result="success"}'), 1);

  writeTarget(`${rules('v3')}    events: [not, a, duplicate key]\n`);
  hookd.child.kill('SIGHUP');
  const failed = await until('the failed reload', () =>
    logLines().find((l) => l.reason === 'SIGHUP' && String(l.msg).startsWith('rules reload failed')),
  );
  assert.match((failed.errors as string[])[0]!, /flow\.yaml:\d+:\d+: /);
  assert.equal(await metric('hookd_config_reloads_total{result="error"}'), 1);
  await send('e3');
  assert.equal(await delivered('e3'), '/v2/e3', 'the old rules still serve');
  assert.equal(hookd.child.exitCode, null, 'still running');
});
