/**
 * Metrics lists its label values itself (it imports no stage); this keeps
 * them equal to the stages' own unions. A value added upstream and not in
 * metrics fails the type check (`npm run lint`), and the lists have no
 * duplicates at run time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BreakerMode } from '../../../src/dispatch/breaker.ts';
import { ATTEMPT_OUTCOMES, BREAKER_TARGETS, REJECT_REASONS } from '../../../src/metrics/metrics.ts';
import type { RejectReason } from '../../../src/source/decode.ts';
import type { SendResult } from '../../../src/transports/contract.ts';

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

test('metrics label lists equal the stage unions', () => {
  const same: [
    Same<RejectReason, (typeof REJECT_REASONS)[number]>,
    Same<SendResult['outcome'], (typeof ATTEMPT_OUTCOMES)[number]>,
    Same<BreakerMode, (typeof BREAKER_TARGETS)[number]>,
  ] = [true, true, true];
  assert.deepEqual(same, [true, true, true]);
  for (const list of [REJECT_REASONS, ATTEMPT_OUTCOMES, BREAKER_TARGETS]) {
    assert.equal(new Set(list).size, list.length, `duplicate in ${list.join(',')}`);
  }
});
