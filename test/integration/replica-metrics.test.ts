/**
 * Per-replica views in `/metrics` (issue 15): `hookd_replica_info` names
 * the process (`HOOKD_REPLICA_ID`, else host-pid) and its store backend;
 * `hookd_consumer_lease_held` is 1 while a sqlite hookd holds the NATS
 * consumer lease, 0 before it took it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { App } from '../../src/app.ts';
import { createLogger } from '../../src/logging.ts';
import { makeDirs, testConfig } from '../helpers/hookd.ts';
import { usePeers } from '../helpers/peers.ts';
import { waitFor } from '../helpers/wait.ts';

const peers = usePeers();

test('sqlite: the replica comes from HOOKD_REPLICA_ID; the lease gauge is 1 while this process holds the consumer', async () => {
  const nats = await peers.nats();
  const dirs = makeDirs();
  peers.defer('temp dirs', () => dirs.cleanup());
  const app = await App.open({
    config: testConfig(dirs, { nats: { url: nats.url } }),
    rulesDir: dirs.rulesDir,
    env: { HOOKD_REPLICA_ID: 'replica-7' },
    logger: createLogger('silent'),
    watchRules: false,
  });
  peers.defer('app', () => app.stop());
  const gauge = async (name: string) => {
    const line = (await app.metrics.text()).split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  };
  // A first App in its own process: replica-7 (tests running several Apps in one process add a suffix).
  assert.match(
    await app.metrics.text(),
    /hookd_replica_info\{replica="replica-7(-\d+)?",backend="sqlite"\} 1/,
  );
  assert.equal(await gauge('hookd_consumer_lease_held'), 0, 'not consuming yet');
  await app.start();
  await waitFor('the lease gauge to say held', async () => (await gauge('hookd_consumer_lease_held')) === 1);
});
