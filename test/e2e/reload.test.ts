/**
 * Issue 7, acceptance 5 (DESIGN.md section 7): editing a rule file while
 * events flow reloads the rules (file watcher, debounced); the new rule
 * applies to events after the swap and never to part of a batch; API
 * webhooks stay in the catalog across reloads; a broken edit keeps the old
 * rules serving, with the error (file:line:col) in the logs and in
 * `hookd_config_reloads_total{result="error"}`.
 *
 * Which catalog served an event is visible in where it was delivered: the
 * rule's url is rendered when the delivery is stored.
 */
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { RunningHookd } from '../helpers/hookd.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { Client, tokens, undocumentedStatuses, until } from '../integration/api/helpers.ts';

const BATCH = 25;

let receiver: Receiver;
let hookd: RunningHookd;
let api: Client;

/** The rule file: one webhook whose url names the version; a JSONata body so intake awaits mid-batch. */
const rules = (version: string) => `
webhooks:
  - identifier: flow
    url: ${receiver.url}/${version}/{/id}
    events: [flow.*]
    body: {jsonata: '{"event": id, "rules": "${version}"}'}
`;

function writeRules(text: string): void {
  // Write then rename, as deploy tools do, so the watcher never reads half a file.
  const file = join(hookd.dirs.rulesDir, 'flow.yaml');
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

const peers = usePeers();

before(async () => {
  receiver = await peers.receiver();
  hookd = await peers.hookd({
    rules: { 'flow.yaml': rules('v1') },
    config: { api: { tokens: tokens() } },
    watchRules: true,
  });
  api = new Client(hookd.url);
  const c = await api.post('/v1/webhooks', {
    identifier: 'api-flow',
    url: `${receiver.url}/api/{/id}`,
    events: ['flow.*'],
  });
  assert.equal(c.status, 201, c.text);
});

/** Where each event of the file rule went: event id → version. */
function versions(): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of receiver.requests) {
    const m = /^\/(v\d+)\/(.+)$/.exec(r.url);
    if (m) out.set(decodeURIComponent(m[2]!), m[1]!);
  }
  return out;
}

const reloads = (reason: string, ok: boolean) =>
  hookd.logs.filter(
    (l) =>
      l.reason === reason &&
      l.msg === (ok ? 'rules reloaded' : 'rules reload failed; the previous rules stay in force'),
  );

async function send(ids: string[]): Promise<void> {
  const r = await fetch(`${hookd.url}/v1/events`, {
    method: 'POST',
    headers: { authorization: 'Bearer tok-admin', 'content-type': 'application/json' },
    body: JSON.stringify(ids.map((id) => ({ id, type: 'flow.tick', data: {} }))),
  });
  assert.equal(r.status, 202);
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${hookd.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.split(' ').pop()) : 0;
}

test('an edit while events flow applies to whole batches after the swap; API webhooks stay', async () => {
  interface Sent {
    ids: string[];
    /** The reload had been logged before this batch was sent. */
    afterReload: boolean;
    /** This batch was stored before the file was written. */
    beforeEdit: boolean;
  }
  const batches: Sent[] = [];
  let edited = false;
  let seq = 0;
  // Two senders keep batches in flight while the watcher fires and the catalog is swapped.
  const sender = async () => {
    let extra = 0;
    for (let i = 0; i < 2000 && extra < 4; i++) {
      const ids = Array.from({ length: BATCH }, (_, j) => `b${seq}-${j}`);
      seq++;
      const afterReload = reloads('rules changed', true).length > 0;
      const wasEdited = edited;
      await send(ids);
      batches.push({ ids, afterReload, beforeEdit: !wasEdited && !edited });
      if (afterReload) extra++;
      if (!edited && batches.length >= 6) {
        edited = true;
        writeRules(rules('v2'));
      }
    }
  };
  await Promise.all([sender(), sender()]);
  assert.equal(reloads('rules changed', true).length, 1, 'the watcher reloaded once (debounced)');

  const total = batches.length * BATCH;
  await until(
    'every delivery',
    () =>
      versions().size === total &&
      receiver.requests.filter((r) => r.url.startsWith('/api/')).length === total,
    60_000,
  );
  const seen = versions();
  let v1 = 0;
  let v2 = 0;
  for (const b of batches) {
    const vs = new Set(b.ids.map((id) => seen.get(id)));
    assert.equal(vs.size, 1, `batch ${b.ids[0]} was split across rule versions: ${[...vs]}`);
    const v = [...vs][0];
    if (b.afterReload) assert.equal(v, 'v2', `batch ${b.ids[0]} sent after the reload used the old rules`);
    if (b.beforeEdit) assert.equal(v, 'v1', `batch ${b.ids[0]} stored before the edit used the new rules`);
    if (v === 'v1') v1++;
    else v2++;
  }
  assert.ok(v1 >= 6 && v2 >= 4, `batches on each side of the swap (v1 ${v1}, v2 ${v2})`);
  // The API webhook got every event, before and after the reload.
  const apiIds = new Set(
    receiver.requests.filter((r) => r.url.startsWith('/api/')).map((r) => r.url.slice(5)),
  );
  for (const b of batches) for (const id of b.ids) assert.ok(apiIds.has(id), `API webhook missed ${id}`);
  assert.equal(await metric('hookd_config_reloads_total{result="success"}'), 1);
});

test('a broken edit keeps the old rules, logs file:line:col and counts an error; a fix applies', async () => {
  const catalog = hookd.app.catalog;
  const errorsBefore = await metric('hookd_config_reloads_total{result="error"}');
  writeRules(`${rules('v3')}    priority: high\n`);
  const failed = await until('the failed reload', () => reloads('rules changed', false)[0]);
  const errors = failed.errors as string[];
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /flow\.yaml:\d+:\d+: webhooks\[0\]\.priority: /);
  assert.equal(await metric('hookd_config_reloads_total{result="error"}'), errorsBefore + 1);
  assert.equal(hookd.app.catalog, catalog, 'the catalog in force was not touched');
  await send(['broken-1']);
  await until(
    'broken-1 delivered',
    () => versions().has('broken-1') && receiver.requests.some((r) => r.url === '/api/broken-1'),
  );
  assert.equal(versions().get('broken-1'), 'v2', 'the old rules still serve');

  const ok = reloads('rules changed', true).length;
  writeRules(rules('v3'));
  await until('the fixed reload', () => reloads('rules changed', true).length === ok + 1);
  await send(['fixed-1']);
  await until(
    'fixed-1 delivered',
    () => versions().has('fixed-1') && receiver.requests.some((r) => r.url === '/api/fixed-1'),
  );
  assert.equal(versions().get('fixed-1'), 'v3');
});

test('every status answered in this file is in /openapi.json for its route (issue 16)', async () => {
  assert.deepEqual(await undocumentedStatuses(hookd.url), []);
});
