/**
 * What stops `hookd run` at start says so in one line and exits 1, instead
 * of a crash dump or, worse, a daemon that serves its API but never consumes
 * an event: a `nats.stream` hookd cannot create (its subjects overlap a
 * stream that is already there), `store.jetstream.replicas: 3` on a single
 * server, the HTTP port taken.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { HookdProcess } from '../helpers/hookd.ts';
import type { NatsServer } from '../helpers/nats-server.ts';
import { usePeers } from '../helpers/peers.ts';
import { waitFor } from '../helpers/wait.ts';

const peers = usePeers();
let nats: NatsServer;

before(async () => {
  nats = await peers.nats();
});

/** Starts hookd with `env` and resolves with its exit code and output once it exits (or 'still running'). */
async function refused(env: Record<string, string>): Promise<{ code: unknown; out: string }> {
  let hookd: HookdProcess | undefined;
  let startError = '';
  try {
    hookd = await peers.spawnHookd(peers.dirs(), {
      HOOKD_NATS_URL: nats.url,
      HOOKD_LOG_LEVEL: 'info',
      ...env,
    });
  } catch (err) {
    startError = (err as Error).message; // it may stop before its HTTP port answers
  }
  if (!hookd) return { code: 1, out: startError };
  const code = await waitFor('hookd to exit', () => hookd.child.exitCode ?? false, {
    timeoutMs: 30_000,
  }).catch(() => 'still running');
  return { code, out: hookd.output() };
}

const oneLine = (out: string, pattern: RegExp) => {
  const lines = out.split('\n').filter((l) => l.startsWith('hookd: '));
  assert.equal(lines.length, 1, `one line of its own on stderr:\n${out}`);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(out, /^\s+at /m, `no stack trace:\n${out}`);
};

test('a stream hookd cannot create stops it, with the server reason', async () => {
  const nc = await peers.start(
    'connection',
    () => connect({ servers: nats.url }),
    (c) => c.close(),
  );
  await (await jetstreamManager(nc)).streams.add({ name: 'OTHER', subjects: ['events.>'] });
  try {
    const { code, out } = await refused({});
    assert.equal(code, 1, `hookd exits 1; output:\n${out}`);
    oneLine(out, /^hookd: cannot create the JetStream stream EVENTS \(1 replica\): .*overlap/);
  } finally {
    await (await jetstreamManager(nc)).streams.delete('OTHER');
  }
});

test('store.jetstream.replicas: 3 on a single server stops it at once, with the server reason', async () => {
  const started = Date.now();
  const { code, out } = await refused({
    HOOKD_STORE_BACKEND: 'jetstream',
    HOOKD_STORE_JETSTREAM_REPLICAS: '3',
  });
  assert.equal(code, 1, `hookd exits 1; output:\n${out}`);
  oneLine(
    out,
    /^hookd: not starting: cannot create the JetStream stream HOOKD_\w+ \(3 replicas\): replicas > 1/,
  );
  assert.ok(Date.now() - started < 20_000, 'not after waiting out the patience');
});

test('an HTTP port in use stops it, naming the address', async () => {
  const { code, out } = await refused({ HOOKD_HTTP_PORT: String(nats.port) });
  assert.equal(code, 1, `hookd exits 1; output:\n${out}`);
  oneLine(out, new RegExp(`^hookd: not starting: .*EADDRINUSE.*127\\.0\\.0\\.1:${nats.port}`));
});
