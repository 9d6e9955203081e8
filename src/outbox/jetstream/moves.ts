/**
 * Where a taken delivery goes next, published (and confirmed) before the
 * message it came from is acknowledged: after an attempt, its end record
 * (`HOOKD_SUCCEEDED`, `HOOKD_DEAD_LETTERS`) or the waiting room
 * (`HOOKD_RETRIES`) with the attempt appended; before any attempt, a
 * message not due for a while goes to the waiting room as it is. Each
 * move's `Nats-Msg-Id` (records.ts) makes a repeated move a duplicate.
 */
import type { AttemptResult, AttemptRow } from '../contract.ts';
import { StoreError } from '../errors.ts';
import { headerValue } from './delivery-queue.ts';
import type { Publisher } from './publisher.ts';
import { ATTEMPT_HEADER, msgIds, NOT_BEFORE_HEADER, REASON_HEADER, subjects } from './records.ts';
import { retryUntil } from './retry.ts';
import type { TakenMessage } from './taken.ts';

export function attemptRow(r: AttemptResult): AttemptRow {
  return {
    attempt: r.attempt,
    started_at: r.startedAt,
    duration_ms: r.durationMs,
    outcome: r.outcome,
    status: r.status ?? null,
    error: r.error ?? null,
    response: r.response ?? null,
  };
}

interface Move {
  subject: string;
  body: string | Uint8Array;
  msgID: string;
  set: Record<string, string>;
}

/** Where an attempted delivery goes with its result: its end record, or the waiting room. */
function afterAttempt(t: TakenMessage, r: AttemptResult, now: number): Move {
  const d = t.delivery;
  const attempts = [...(d.attempts ?? []), attemptRow(r)];
  if (r.next.state === 'pending')
    return {
      subject: subjects.retry(d.webhookId),
      body: t.queuedWith(attempts),
      msgID: msgIds.retry(d.id, attempts.length),
      set: { [ATTEMPT_HEADER]: String(r.attempt), [NOT_BEFORE_HEADER]: String(r.next.at) },
    };
  if (r.next.state === 'succeeded')
    return {
      subject: subjects.succeeded(d.webhookId, d.id),
      body: t.finished('succeeded', attempts, now, null),
      msgID: msgIds.finished(d.id, attempts.length),
      set: {},
    };
  const error = r.error ?? `gave up after attempt ${r.attempt}`;
  return {
    subject: subjects.dead(d.webhookId, d.id),
    body: t.finished('failed', attempts, now, error),
    msgID: msgIds.finished(d.id, attempts.length),
    set: { [REASON_HEADER]: headerValue(error) },
  };
}

async function publish(pub: Publisher, m: Move, deadlineMs: number, what: string): Promise<void> {
  try {
    await retryUntil(deadlineMs, () => pub.publish(m.subject, m.body, { msgID: m.msgID, set: m.set }));
  } catch (err) {
    throw new StoreError(`moving ${what} to ${m.subject} failed: ${(err as Error).message}`, { cause: err });
  }
}

/** Publishes where an attempted delivery goes with its result; rejects when it could not be stored. */
export function moveAfterAttempt(
  pub: Publisher,
  t: TakenMessage,
  r: AttemptResult,
  now: number,
  deadlineMs: number,
): Promise<void> {
  return publish(pub, afterAttempt(t, r, now), deadlineMs, `delivery ${t.delivery.id}`);
}

/** Publishes a message not due for a while to the waiting room, as it came (attempt, time, body). */
export function moveToWaitingRoom(pub: Publisher, t: TakenMessage, deadlineMs: number): Promise<void> {
  const { id, webhookId } = t.delivery;
  const move: Move = {
    subject: subjects.retry(webhookId),
    body: t.data,
    msgID: msgIds.hold(id, t.seq),
    set: { [ATTEMPT_HEADER]: String(t.attempt), [NOT_BEFORE_HEADER]: String(t.notBefore) },
  };
  return publish(pub, move, deadlineMs, `delivery ${id}`);
}
