/**
 * Issue 15, acceptance 4: the chaos run in its short form (short-run.ts)
 * with `--backend jetstream --replicas 2`: two replicas on one nats-server,
 * replica A SIGKILLed twice (restarted each time) while B goes on, one
 * nats-server restart, flapping receivers and a 3 s outage; nothing lost,
 * duplicates only with the same webhook-id.
 * `npm run chaos -- --backend jetstream --replicas 2` is the full run.
 */
import { test } from 'node:test';
import { shortChaosRun } from './short-run.ts';

test('short chaos run with the jetstream backend and 2 replicas, one SIGKILLed twice: nothing lost', () =>
  shortChaosRun(['--backend', 'jetstream', '--replicas', '2'], 2));
