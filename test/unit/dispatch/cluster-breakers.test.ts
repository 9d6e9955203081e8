/**
 * Cluster mode's breakers and states (issue 15) without I/O, on fake
 * clocks: `WebhookStates` fed from a shared outcome sequence
 * (`recordShared`), states saved by another replica (`applyRemote`), probe
 * rounds (`ProbeRounds`) and the rate-limit share.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BreakerSettings, Transition } from '../../../src/dispatch/breaker.ts';
import { ProbeRounds } from '../../../src/dispatch/probe-rounds.ts';
import { RateLimits, rateShare } from '../../../src/dispatch/rate-limit.ts';
import { UnseenFailures } from '../../../src/dispatch/unseen-failures.ts';
import {
  type SavedState,
  type StateChange,
  type StateStore,
  WebhookStates,
} from '../../../src/dispatch/webhook-states.ts';
import { webhook } from './fixtures.ts';

const S: BreakerSettings = {
  failures: 3,
  rate: 1,
  minAttempts: 1000,
  windowMs: 60_000,
  cooldownMs: 10_000,
  maxCooldownMs: 40_000,
};
const w = webhook('w1');

/** A replica's `WebhookStates` with what it saved and reported. */
function replica() {
  const saves: SavedState[] = [];
  const changes: StateChange[] = [];
  const transitions: Transition[] = [];
  const store: StateStore = {
    loadWebhookStates: () => [],
    saveWebhookState: (_id, state, reason, data, now) => saves.push({ state, reason, data, updatedAt: now }),
    deleteWebhookState: () => {},
  };
  const states = new WebhookStates({
    store,
    settings: S,
    onChange: (c) => changes.push(c),
    onBreaker: (_w, t) => transitions.push(t),
  });
  const wins: { round: number; openedAt: number }[] = [];
  states.shareBreakers(
    new ProbeRounds({
      claim: async (_id, openedAt, round) => {
        wins.push({ openedAt, round });
        return true;
      },
      wake: () => {},
    }),
  );
  return { states, saves, changes, transitions, wins };
}

type Rec = [ok: boolean, at: number, count?: number, probe?: number];

test('two replicas fed the same records reach the same transitions at the same record, whatever their own clocks did', async () => {
  const a = replica();
  const b = replica();
  const feed = (recs: Rec[]) => {
    for (const [ok, at, count = 1, probe] of recs) {
      a.states.recordShared(w, ok, at, count, probe);
      b.states.recordShared(w, ok, at, count, probe);
    }
  };
  feed([
    [false, 100],
    [false, 110],
    [true, 120, 40], // 40 successes summed: the consecutive count starts over
    [false, 130],
    [false, 140],
  ]);
  assert.equal(a.states.stateOf(w), 'Active');
  feed([[false, 150]]);
  for (const r of [a, b]) {
    assert.equal(r.states.stateOf(w), 'TooManyErrors');
    assert.deepEqual(r.saves.at(-1), {
      state: 'TooManyErrors',
      reason: '3 consecutive failed attempts',
      data: JSON.stringify({ mode: 'open', openedAt: 150, cooldownMs: 10_000, doublings: 0 }),
      updatedAt: 150,
    });
  }
  assert.deepEqual(a.saves, b.saves, 'the same whole records, so saving them twice changes nothing');

  // A reaches half-open on its clock and wins the round; B never asks.
  assert.equal(a.states.admit(w, 10_149).allowed, 0, 'held during the cooldown');
  assert.deepEqual(a.states.admit(w, 10_150), { allowed: 0, probe: false }, 'claim in flight');
  await Promise.resolve();
  assert.deepEqual(a.wins, [{ openedAt: 150, round: 0 }]);
  assert.deepEqual(a.states.admit(w, 10_151), { allowed: 1, probe: true }, 'round won: the probe');
  a.states.probeStarted(w, 'd-probe');
  assert.equal(a.states.admit(w, 10_152).allowed, 0, 'one probe per round');

  // A late failure of an attempt started before the open decides nothing, on either.
  feed([[false, 10_200]]);
  assert.equal(a.saves.length, 1);
  // A probe of another open period decides nothing either.
  feed([[true, 10_210, 1, 99]]);
  assert.equal(a.states.stateOf(w), 'TooManyErrors');
  // This period's probe fails: both reopen with the doubled cooldown at that record.
  feed([[false, 10_300, 1, 150]]);
  for (const r of [a, b]) {
    assert.deepEqual(JSON.parse(r.saves.at(-1)!.data!), {
      mode: 'open',
      openedAt: 10_300,
      cooldownMs: 20_000,
      doublings: 1,
    });
    assert.equal(r.saves.at(-1)!.reason, 'probe failed');
  }
  feed([[true, 30_400, 1, 10_300]]);
  for (const r of [a, b]) {
    assert.equal(r.states.stateOf(w), 'Active');
    assert.deepEqual(
      r.changes.map((c) => c.to),
      ['TooManyErrors', 'TooManyErrors', 'Active'],
    );
  }
  assert.deepEqual(a.saves, b.saves);
  assert.deepEqual(
    b.transitions.map((t) => `${t.from}>${t.to}`),
    ['closed>open', 'half-open>open', 'half-open>closed'],
    'B, which never saw the cooldown end, took the probe outcomes too',
  );
});

test('a state saved by another replica is applied and reported once, never saved again', () => {
  const b = replica();
  b.states.applyRemote(
    w.id,
    { state: 'Stopped', reason: 'paused by an operator', data: null, updatedAt: 1000 },
    w,
  );
  assert.equal(b.states.stateOf(w), 'Stopped');
  assert.equal(b.states.admit(w, 1001).allowed, 0);
  assert.deepEqual(
    b.changes.map((c) => [c.from, c.to, c.reason]),
    [['Active', 'Stopped', 'paused by an operator']],
  );
  // Outcomes of a stopped webhook do not feed its breaker.
  for (let i = 0; i < 5; i++) b.states.recordShared(w, false, 1100 + i, 1);
  b.states.applyRemote(w.id, { state: 'Active', reason: 'resumed', data: null, updatedAt: 2000 }, w);
  assert.equal(b.states.stateOf(w), 'Active');
  assert.deepEqual(b.changes.at(-1)?.to, 'Active', 'reported: the app drains the resumed webhook');
  assert.equal(b.states.admit(w, 2001).allowed, Number.POSITIVE_INFINITY);
  // An older record (another replica's late write) is not applied.
  b.states.applyRemote(w.id, { state: 'Stopped', reason: 'old', data: null, updatedAt: 1500 }, w);
  assert.equal(b.states.stateOf(w), 'Active');
  assert.equal(b.saves.length, 0, 'nothing written back');
});

test('a remote breaker record of a transition this replica computed, before or after it, is reported once', () => {
  const snap = (openedAt: number) =>
    JSON.stringify({ mode: 'open', openedAt, cooldownMs: 10_000, doublings: 0 });
  const opened = {
    state: 'TooManyErrors',
    reason: '3 consecutive failed attempts',
    data: snap(300),
    updatedAt: 300,
  };
  // After: this replica computed it from the records first.
  const a = replica();
  for (const at of [100, 200, 300]) a.states.recordShared(w, false, at, 1);
  a.states.applyRemote(w.id, opened, w);
  assert.deepEqual(
    a.transitions.map((t) => t.to),
    ['open'],
  );
  assert.equal(a.changes.length, 1);
  // Before: the other replica's record came first; the records then change nothing.
  const b = replica();
  for (const at of [100, 200]) b.states.recordShared(w, false, at, 1);
  b.states.applyRemote(w.id, opened, w);
  assert.equal(b.states.stateOf(w), 'TooManyErrors');
  b.states.recordShared(w, false, 300, 1);
  assert.deepEqual(
    b.transitions.map((t) => [t.to, t.reopensAt]),
    [['open', 10_300]],
  );
  assert.equal(b.changes.length, 1);
  assert.equal(b.saves.length, 0, 'B saved nothing: the record is in the bucket already');
  // Both go on in step: the probe of that period closes both.
  a.states.recordShared(w, true, 10_400, 1, 300);
  b.states.recordShared(w, true, 10_400, 1, 300);
  assert.equal(a.states.stateOf(w), 'Active');
  assert.equal(b.states.stateOf(w), 'Active');
  // The other replica's Active for it arrives late: nothing more is reported.
  a.states.applyRemote(
    w.id,
    { state: 'Active', reason: 'probe succeeded', data: null, updatedAt: 10_400 },
    w,
  );
  assert.deepEqual(
    a.changes.map((c) => c.to),
    ['TooManyErrors', 'Active'],
  );
});

test('a replica behind in the stream that got the newer records first does not reopen on the old outcomes', () => {
  const b = replica();
  const snap = JSON.stringify({ mode: 'open', openedAt: 300, cooldownMs: 10_000, doublings: 0 });
  b.states.applyRemote(
    w.id,
    { state: 'TooManyErrors', reason: '3 consecutive failed attempts', data: snap, updatedAt: 300 },
    w,
  );
  b.states.applyRemote(
    w.id,
    { state: 'Active', reason: 'probe succeeded', data: null, updatedAt: 10_400 },
    w,
  );
  // Now the stream's records of that period reach B.
  for (const at of [100, 200, 300]) b.states.recordShared(w, false, at, 1);
  b.states.recordShared(w, true, 10_400, 1, 300);
  assert.equal(b.states.stateOf(w), 'Active');
  assert.deepEqual(
    b.changes.map((c) => c.to),
    ['TooManyErrors', 'Active'],
  );
  assert.equal(b.saves.length, 0, 'no stale record written over the newer one');
  // Outcomes after it count again.
  for (const at of [10_500, 10_600, 10_700]) b.states.recordShared(w, false, at, 1);
  assert.equal(b.states.stateOf(w), 'TooManyErrors');
});

test('a replica started on the bucket knows when its states were decided: an older late record is not applied', () => {
  const changes: StateChange[] = [];
  const states = new WebhookStates({
    store: {
      loadWebhookStates: () => [
        { webhookId: 'w1', state: 'Stopped', reason: 'paused', data: null, updatedAt: 5000 },
      ],
      saveWebhookState: () => {},
      deleteWebhookState: () => {},
    },
    settings: S,
    onChange: (c) => changes.push(c),
    onBreaker: () => {},
  });
  states.applyRemote(w.id, { state: 'Active', reason: 'probe succeeded', data: null, updatedAt: 4000 }, w);
  assert.equal(states.stateOf(w), 'Stopped');
  states.applyRemote(w.id, { state: 'Active', reason: 'resumed', data: null, updatedAt: 6000 }, w);
  assert.equal(states.stateOf(w), 'Active');
  assert.deepEqual(
    changes.map((c) => [c.from, c.to]),
    [['Stopped', 'Active']],
  );
});

test('a state for a webhook not known here yet waits for it; a deletion forgets it', () => {
  const b = replica();
  const snap = JSON.stringify({ mode: 'open', openedAt: 500, cooldownMs: 10_000, doublings: 1 });
  b.states.applyRemote(
    'w1',
    { state: 'TooManyErrors', reason: 'probe failed', data: snap, updatedAt: 500 },
    undefined,
  );
  assert.equal(b.states.stateOf(w), 'TooManyErrors');
  assert.deepEqual(
    b.states.admit(w, 500 + 19_999),
    { allowed: 0, probe: false, wakeAt: 20_500 },
    'its doubled cooldown',
  );
  b.states.applyRemote('w1', undefined, w);
  assert.equal(b.states.stateOf(w), 'Active');
  assert.equal(b.states.admit(w, 600).allowed, Number.POSITIVE_INFINITY, 'its breaker forgotten');
});

test('probe rounds: a claim in flight holds, a won round admits one probe, a lost or used round waits for the next', async () => {
  const answers: ((won: boolean) => void)[] = [];
  const failed: ((err: Error) => void)[] = [];
  const claimed: string[] = [];
  let wakes = 0;
  const errors: string[] = [];
  const rounds = new ProbeRounds({
    claim: (id, openedAt, round) => {
      claimed.push(`${id}.${openedAt}.${round}`);
      return new Promise((resolve, reject) => {
        answers.push(resolve);
        failed.push(reject);
      });
    },
    wake: () => wakes++,
    onError: (e) => errors.push(e.message),
  });
  const b = { openedAt: 0, reopensAt: 10_000, cooldownMs: 10_000 };
  assert.deepEqual(rounds.admit('w1', b, 10_000), { allowed: 0, probe: false });
  assert.deepEqual(
    rounds.admit('w1', b, 10_500),
    { allowed: 0, probe: false },
    'still in flight: no second claim',
  );
  assert.deepEqual(claimed, ['w1.0.0']);
  answers[0]!(true);
  await new Promise((r) => setImmediate(r));
  assert.equal(wakes, 1, 'the dispatcher is woken when the claim is won');
  assert.deepEqual(rounds.admit('w1', b, 11_000), { allowed: 1, probe: true });
  rounds.started('w1', 'd1');
  assert.deepEqual(rounds.admit('w1', b, 11_001), { allowed: 0, probe: false, wakeAt: 20_000 });
  assert.equal(rounds.takeProbe('d1'), 0, 'd1 probed the period opened at 0');
  assert.equal(rounds.takeProbe('d1'), undefined, 'once');
  // The probe's outcome never came (its replica died): the next round is claimable.
  assert.deepEqual(rounds.admit('w1', b, 20_000), { allowed: 0, probe: false });
  answers[1]!(false);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(rounds.admit('w1', b, 20_001), { allowed: 0, probe: false, wakeAt: 30_000 }, 'lost');
  rounds.admit('w1', b, 30_000);
  failed[2]!(new Error('no answer from HOOKD_PROBES'));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    rounds.admit('w1', b, 30_001),
    { allowed: 0, probe: false, wakeAt: 40_000 },
    'failed claim: lost',
  );
  assert.deepEqual(errors, ['no answer from HOOKD_PROBES']);
  assert.deepEqual(claimed, ['w1.0.0', 'w1.0.1', 'w1.0.2']);
});

test('own failures not yet read back hold the webhook while they may open its breaker; the breaker is untouched', () => {
  const states = new WebhookStates({
    store: { loadWebhookStates: () => [], saveWebhookState: () => {}, deleteWebhookState: () => {} },
    settings: S,
    onChange: () => {},
    onBreaker: () => {},
  });
  const unseen = new UnseenFailures(2000);
  states.shareBreakers(new ProbeRounds({ claim: async () => true, wake: () => {} }), unseen);
  const INF = Number.POSITIVE_INFINITY;
  unseen.published(w.id, 1000);
  unseen.published(w.id, 1001);
  assert.equal(states.admit(w, 1002).allowed, INF, '2 unseen of a threshold of 3: go on');
  unseen.published(w.id, 1003);
  assert.deepEqual(
    states.admit(w, 1004),
    { allowed: 0, probe: false, wakeAt: 3000 },
    '3 unseen may open it: wait',
  );
  // The first comes back: 1 counted + 2 unseen still may open it.
  states.recordShared(w, false, 1000, 1);
  assert.equal(unseen.seen(w.id), true, 'it was held: wake the dispatcher');
  assert.equal(states.admit(w, 1005).allowed, 0);
  // A success of another replica in between: 0 counted + 2 unseen cannot.
  states.recordShared(w, true, 1006, 1);
  assert.equal(states.admit(w, 1007).allowed, INF);
  assert.equal(unseen.seen(w.id), false, 'not held then');
  // Failures whose publish was lost hold for 2 s at most.
  unseen.published(w.id, 5000);
  unseen.published(w.id, 5001);
  unseen.published(w.id, 5002);
  assert.equal(states.admit(w, 6999).allowed, 0);
  assert.equal(states.admit(w, 7002).allowed, INF, 'none of them back within 2 s: not held');
  assert.equal(states.stateOf(w), 'Active', 'the breaker only counts what the stream returns');
});

test("rate limits: each replica's share of the rate and the burst, never below one token", () => {
  assert.deepEqual(rateShare({ perSecond: 10, burst: 20 }, 1), { perSecond: 10, burst: 20 });
  assert.deepEqual(rateShare({ perSecond: 10, burst: 20 }, 2), { perSecond: 5, burst: 10 });
  assert.deepEqual(rateShare({ perSecond: 10 }, 3), { perSecond: 10 / 3, burst: 3 });
  assert.deepEqual(rateShare({ perSecond: 1, burst: 2 }, 5), { perSecond: 0.2, burst: 1 });
  assert.deepEqual(rateShare({ perSecond: 0.5, burst: 1 }, 50), { perSecond: 0.1, burst: 1 }, 'the floor');
  assert.deepEqual(
    rateShare({ perSecond: 0.05 }, 4),
    { perSecond: 0.05, burst: 1 },
    'never above the limit itself',
  );
  assert.deepEqual(rateShare({ perSecond: 10, burst: 20 }, 0), { perSecond: 10, burst: 20 }, 'at least one');

  let replicas = 1;
  const limits = new RateLimits(() => replicas);
  const limited = webhook('r', { rateLimit: { perSecond: 10, burst: 10 } });
  assert.equal(limits.available(limited, 0).allowed, 10);
  replicas = 2;
  assert.equal(limits.available(limited, 0).allowed, 5, 'a second replica joined: half the burst');
  limits.take(limited, 5, 0);
  assert.deepEqual(limits.available(limited, 0), { allowed: 0, wakeAt: 200 }, 'refilled at 5/s');
  replicas = 1;
  assert.equal(limits.available(limited, 1000).allowed, 5, 'alone again: the tokens earned are kept');
  assert.equal(
    limits.available(limited, 1500).allowed,
    10,
    'and refill at the whole rate up to the whole burst',
  );
});
