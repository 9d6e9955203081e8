/**
 * The sqlite store's consumer lease (DESIGN.md section 8, issue 15
 * acceptance 1): a second hookd with its own store on the same NATS consumer
 * is refused at start, naming the holder; once the holder is SIGKILLed a
 * replacement takes over within the lease period, and the same replica
 * restarted (same host, same store) takes over at once.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { HookdProcess, TestDirs } from '../helpers/hookd.ts';
import type { NatsServer } from '../helpers/nats-server.ts';
import { usePeers } from '../helpers/peers.ts';
import { GiveUp, waitFor } from '../helpers/wait.ts';

const LEASE_MS = 3000;
let nats: NatsServer;

const peers = usePeers();

before(async () => {
  nats = await peers.nats();
});

function env(): Record<string, string> {
  return { HOOKD_NATS_URL: nats.url, HOOKD_NATS_LEASE_MS: String(LEASE_MS), HOOKD_LOG_LEVEL: 'info' };
}

function spawn(d: TestDirs): Promise<HookdProcess> {
  return peers.spawnHookd(d, env());
}

/** Polls /readyz until NATS is connected and consuming (the lease is taken first). */
async function consuming(p: HookdProcess, what: string, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    `${what}: /readyz to show NATS consuming`,
    async () => {
      if (p.child.exitCode !== null)
        throw new GiveUp(`${what} exited with ${p.child.exitCode}:\n${p.output()}`);
      const r = await fetch(`${p.url}/readyz`);
      const body = await r.text();
      if (r.status === 200 && body.includes('"nats":true')) return true;
      throw new Error(`${r.status} ${body}`);
    },
    { timeoutMs, intervalMs: 100 },
  );
}

function fresh(): TestDirs {
  return peers.dirs();
}

test('a second hookd with its own store is refused at start, naming the holder', async () => {
  const aDirs = fresh();
  const a = await spawn(aDirs);
  await consuming(a, 'hookd A');
  let b: HookdProcess | undefined;
  let startError = '';
  try {
    b = await spawn(fresh());
  } catch (err) {
    // It may be refused before its HTTP port answers.
    startError = (err as Error).message;
  }
  const code = b
    ? await waitFor('hookd B to exit', () => b.child.exitCode ?? false, { timeoutMs: 20_000 }).catch(
        () => 'running',
      )
    : 1;
  const out = b ? b.output() : startError;
  assert.equal(code, 1, `hookd B should exit 1; output:\n${out}`);
  assert.match(out, /another hookd holds the NATS consumer EVENTS\/hookd/);
  assert.match(out, new RegExp(`pid ${a.child.pid}\\b`), out);
  assert.ok(out.includes(`with store ${aDirs.storePath}`), `B names A's store: ${out}`);
  // A is untouched.
  await consuming(a, 'hookd A after the refusal');

  // A killed for good: a replacement with another store takes over within the lease period.
  a.child.kill('SIGKILL');
  await a.exited;
  const killedAt = Date.now();
  const cDirs = fresh();
  const c = await spawn(cDirs);
  await consuming(c, 'replacement C', LEASE_MS + 15_000);
  const took = Date.now() - killedAt;
  assert.ok(took < LEASE_MS + 10_000, `C took over ${took} ms after the kill`);

  // C restarted on its own store (same host): it takes the lease back at once, no expiry wait.
  c.child.kill('SIGKILL');
  await c.exited;
  const again = await spawn(cDirs);
  await consuming(again, 'C restarted', LEASE_MS);

  // A clean stop releases the lease: the next one with another store starts at once.
  again.child.kill('SIGTERM');
  assert.equal(await again.exited, 0, again.output());
  const d = await spawn(fresh());
  await consuming(d, 'hookd D after a clean stop', LEASE_MS);
  d.child.kill('SIGTERM');
  await d.exited;
});
