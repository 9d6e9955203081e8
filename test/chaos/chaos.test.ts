/**
 * The chaos run in its short form, for CI (issue 6, acceptance 4): 2,000
 * events to five webhooks with flapping receivers, one SIGKILL of hookd, one
 * nats-server restart and a 3 s receiver outage (short-run.ts).
 * `npm run chaos` is the full run (20,000 events, 3 kills, 30 s outage).
 */
import { test } from 'node:test';
import { shortChaosRun } from './short-run.ts';

test('short chaos run: flapping receivers, a SIGKILL, a NATS restart and an outage lose nothing', () =>
  shortChaosRun([], 1));
