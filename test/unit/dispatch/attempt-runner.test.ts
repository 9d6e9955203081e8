/** One attempt on a fake clock: the timeout aborts it, a throwing transport is retryable, no transport is permanent. */
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { runAttempt } from '../../../src/dispatch/index.ts';
import type { TransportInstance } from '../../../src/transports/contract.ts';
import { ScriptedTransport, settle, webhook } from './fixtures.ts';

const delivery = {
  id: 'd1',
  eventId: 'e1',
  eventType: 'x.y',
  attempt: 1,
  request: { headers: {}, body: '{}', contentType: 'application/json', fields: {} },
  webhook: webhook('a'),
};

test('the per-attempt timeout aborts the send at the timeout, not before', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 5000 });
  const transport = new ScriptedTransport();
  const run = runAttempt({ transport, delivery, timeoutMs: 2000, now: Date.now });
  await settle();
  const [open] = transport.open;
  assert.ok(open);
  open.signal.addEventListener('abort', () =>
    open.answer({ outcome: 'retryable', error: String((open.signal.reason as Error).message) }),
  );
  t.mock.timers.tick(1999);
  assert.equal(open.signal.aborted, false);
  t.mock.timers.tick(1);
  const r = await run;
  assert.deepEqual(r.result, { outcome: 'retryable', error: 'no response within 2000 ms' });
  assert.equal(r.startedAt, 5000);
  mock.timers.reset();
});

test('an exception escaping the transport is retryable; a missing transport is permanent', async () => {
  const throwing: TransportInstance = {
    send: async () => {
      throw new Error('bug in the transport');
    },
    close: async () => {},
  };
  const r = await runAttempt({ transport: throwing, delivery, timeoutMs: 1000, now: Date.now });
  assert.deepEqual(r.result, { outcome: 'retryable', error: 'transport failed: bug in the transport' });
  const bad = await runAttempt({
    transport: throwing,
    delivery: { ...delivery, request: () => JSON.parse('{not json') },
    timeoutMs: 1000,
    now: Date.now,
  });
  assert.equal(bad.result.outcome, 'retryable', 'an unreadable stored request is the attempt’s failure');
  const none = await runAttempt({ transport: undefined, delivery, timeoutMs: 1000, now: Date.now });
  assert.deepEqual(none.result, { outcome: 'permanent', error: 'no transport for type "http"' });
});
