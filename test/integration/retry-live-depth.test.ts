/**
 * Issue 12 bug 5, end to end: `hookd retry` run while hookd is running
 * (another process writing the same store) drove
 * `hookd_queue_depth{state="pending"}` to -1 per requeued delivery, because
 * the daemon kept its counts in memory. The gauge now comes from the store:
 * after the requeued deliveries are found (reload) and delivered, every scrape
 * showed a pending depth of at least 0, and the last one is exact.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { RunningHookd } from '../helpers/hookd.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

const N = 3;
let receiver: Receiver;
let hookd: RunningHookd;
let healthy = false;
const peers = usePeers();

before(async () => {
  receiver = await peers.receiver();
  receiver.respond(() => (healthy ? { status: 200 } : { status: 500 }));
  hookd = await peers.hookd({
    rules: { 'r.yaml': `webhooks:\n  - identifier: live\n    url: ${receiver.url}/in\n` },
    // One attempt, then the dead letter.
    config: { delivery: { retry: { schedule: ['0s'] } } },
    watchRules: false,
  });
});

async function depth(): Promise<Record<string, number>> {
  const text = await (await fetch(`${hookd.url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^hookd_queue_depth\{state="(\w+)"\} (-?\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

test('hookd retry against a running hookd: the queue depth follows the store and never goes negative', async () => {
  const r = await fetch(`${hookd.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(Array.from({ length: N }, (_, i) => ({ id: `e${i}`, type: 'thing.happened' }))),
  });
  assert.equal(r.status, 202);
  await waitFor(`${N} dead letters in hookd_queue_depth`, async () => (await depth()).failed === N, {
    saw: () => depth(),
  });

  const cli = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'src/cli.ts', 'retry', '--config', hookd.dirs.configPath, '--webhook', 'live'],
    {
      cwd: join(import.meta.dirname, '../..'),
      env: { ...process.env, HOOKD_STORE_PATH: hookd.dirs.storePath },
      encoding: 'utf8',
    },
  );
  assert.equal(cli.status, 0, cli.stderr);
  assert.equal(cli.stdout.trim(), `requeued ${N} failed deliveries`);
  assert.equal((await depth()).pending, N, 'the requeued deliveries show as pending at once');

  healthy = true;
  assert.equal((await hookd.app.reload('test: SIGHUP')).ok, true, 'a reload rescans the store');
  const seen: Record<string, number>[] = [];
  const last = await waitFor(
    'the requeued deliveries to be delivered',
    async () => {
      const d = await depth();
      seen.push(d);
      return d.succeeded === N && d.inflight === 0 ? d : undefined;
    },
    { saw: () => seen.at(-1) },
  );
  assert.deepEqual(
    seen.filter((d) => Object.values(d).some((v) => v < 0)),
    [],
    'no scrape showed a negative depth',
  );
  assert.deepEqual(last, { pending: 0, inflight: 0, succeeded: N, failed: 0 });
});
