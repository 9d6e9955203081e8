/**
 * `hookd retry --webhook ID [--since T]` (DESIGN.md section 1, issue 6
 * dead letters): puts one webhook's failed deliveries back in the queue,
 * only those failed at or after T when given; other webhooks' dead letters
 * stay. After hookd is restarted the requeued deliveries are sent again,
 * with their original webhook-id, and arrive.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { Database } from '../../src/outbox/sqlite/driver.ts';
import type { HookdProcess, TestDirs } from '../helpers/hookd.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const OLD = 10;
const NEW = 5;

let receiver: Receiver;
let dirs: TestDirs;
let proc: HookdProcess | undefined;

const peers = usePeers();

before(async () => {
  receiver = await peers.receiver();
  dirs = peers.dirs({
    'r.yaml': `
webhooks:
  - identifier: flaky
    url: ${receiver.url}/flaky
    secret: ${SECRET}
  - identifier: other
    url: ${receiver.url}/other
    secret: ${SECRET}
`,
  });
});

// Two attempts, then the dead letter; a breaker that never opens, so every delivery runs out of retries.
const env = {
  HOOKD_DELIVERY_RETRY_SCHEDULE: '["0s","100ms"]',
  HOOKD_DELIVERY_BREAKER_FAILURES: '1000000',
  HOOKD_DELIVERY_BREAKER_MIN_ATTEMPTS: '1000000',
};

async function post(url: string, ids: string[]) {
  const r = await fetch(`${url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(ids.map((id) => ({ id, type: 'thing.happened', source: '/t' }))),
  });
  assert.equal(r.status, 202, await r.text());
}

async function failedDepth(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^hookd_queue_depth\{state="failed"\} (\d+)$/m.exec(text)?.[1] ?? Number.NaN);
}

function cli(...args: string[]) {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'src/cli.ts', 'retry', '--config', dirs.configPath, ...args],
    {
      cwd: join(import.meta.dirname, '../..'),
      env: { ...process.env, HOOKD_STORE_PATH: dirs.storePath },
      encoding: 'utf8',
    },
  );
  return { code: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

function statesByWebhook(): Record<string, Record<string, number>> {
  const db = new Database(dirs.storePath, { readonly: true });
  try {
    const out: Record<string, Record<string, number>> = {};
    for (const r of db
      .prepare(`SELECT identifier, state, COUNT(*) AS n FROM deliveries GROUP BY identifier, state`)
      .all() as { identifier: string; state: string; n: number }[]) {
      out[r.identifier] = { ...out[r.identifier], [r.state]: r.n };
    }
    return out;
  } finally {
    db.close();
  }
}

test('hookd retry requeues one webhook’s dead letters (optionally since T); a restarted hookd delivers them', async () => {
  let healthy = false;
  receiver.respond(() => (healthy ? { status: 200 } : { status: 500 }));
  proc = await peers.spawnHookd(dirs, env);
  const list = (await (await fetch(`${proc.url}/v1/webhooks?identifier=flaky`)).json()) as {
    items: { id: string }[];
  };
  const flakyId = list.items[0]!.id;

  const oldIds = Array.from({ length: OLD }, (_, i) => `old-${i}`);
  const newIds = Array.from({ length: NEW }, (_, i) => `new-${i}`);
  await post(proc.url, oldIds);
  await waitFor('the first dead letters', async () => (await failedDepth(proc!.url)) === 2 * OLD, 20_000);
  // Dead letters from here on are "since T". The pauses let the millisecond clock move past the
  // earlier rows and before the later ones (so T separates them); they assert nothing.
  await new Promise((r) => setTimeout(r, 20));
  const since = new Date().toISOString();
  await new Promise((r) => setTimeout(r, 20));
  await post(proc.url, newIds);
  await waitFor(
    'the later dead letters',
    async () => (await failedDepth(proc!.url)) === 2 * (OLD + NEW),
    20_000,
  );
  proc.child.kill('SIGTERM');
  assert.equal(await proc.exited, 0);
  const firstIds = new Map<string, string>();
  for (const r of receiver.requests)
    firstIds.set(`${r.url} ${JSON.parse(r.body).id}`, String(r.headers['webhook-id']));
  assert.deepEqual(statesByWebhook(), { flaky: { failed: OLD + NEW }, other: { failed: OLD + NEW } });

  const bad = cli('--webhook', flakyId, '--since', 'yesterday-ish');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--since "yesterday-ish" is not a date/);

  const recent = cli('--webhook', flakyId, '--since', since);
  assert.equal(recent.code, 0, recent.stderr);
  assert.equal(recent.stdout, `requeued ${NEW} failed deliveries`);
  assert.deepEqual(statesByWebhook(), {
    flaky: { failed: OLD, pending: NEW },
    other: { failed: OLD + NEW },
  });
  const rest = cli('--webhook', flakyId);
  assert.equal(rest.code, 0, rest.stderr);
  assert.equal(rest.stdout, `requeued ${OLD} failed deliveries`);

  healthy = true;
  const before = receiver.requests.length;
  proc = await peers.spawnHookd(dirs, env);
  const delivered = () =>
    new Set(
      receiver.requests
        .slice(before)
        .filter((r) => r.url === '/flaky')
        .map((r) => JSON.parse(r.body).id as string),
    );
  await waitFor('the requeued deliveries', () => delivered().size === OLD + NEW, 20_000);
  proc.child.kill('SIGTERM');
  assert.equal(await proc.exited, 0);

  const again = receiver.requests.slice(before);
  assert.deepEqual(
    again.filter((r) => r.url !== '/flaky').map((r) => r.url),
    [],
    'the other webhook’s dead letters were not requeued',
  );
  for (const r of again)
    assert.equal(
      String(r.headers['webhook-id']),
      firstIds.get(`${r.url} ${JSON.parse(r.body).id}`),
      'a requeued delivery keeps its webhook-id',
    );
  assert.deepEqual(statesByWebhook(), {
    flaky: { succeeded: OLD + NEW },
    other: { failed: OLD + NEW },
  });
});
