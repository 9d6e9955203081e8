/**
 * Where the `jetstream` backend keeps each thing (DESIGN.md section 8), and
 * the shape of every message: the one place the replicas' formats are
 * written down, so that intake, dispatch, the API's reads and the breakers
 * agree.
 *
 * | stream               | retention  | subject                        | holds                                  |
 * |----------------------|------------|--------------------------------|----------------------------------------|
 * | `HOOKD_DELIVERIES`   | work queue | `hookd.deliveries.<webhook>`   | deliveries due now (`QueuedMessage`)   |
 * | `HOOKD_RETRIES`      | work queue | `hookd.retries.<webhook>`      | deliveries waiting for a later attempt |
 * | `HOOKD_SUCCEEDED`    | max age    | `hookd.succeeded.<webhook>.<id>` | delivered (`FinishedRecord`)         |
 * | `HOOKD_DEAD_LETTERS` | max age    | `hookd.dead.<webhook>.<id>`    | given up (`FinishedRecord`)            |
 * | `HOOKD_REJECTED`     | max age    | `hookd.rejected`               | rejected events (`RejectedRecord`)     |
 * | `HOOKD_OUTCOMES`     | 1 hour     | `hookd.outcomes.<webhook>`     | what breakers count (`OutcomeRecord`)  |
 * | `HOOKD_PROBES`       | 1 hour     | `hookd.probes.<webhook>`       | claims of a half-open probe            |
 *
 * `<webhook>` is `idToken(webhookId)`; `<id>` a delivery id (`msg_` and
 * base64url: a valid token as it is). The max ages are `store.retention`
 * (succeeded, failed, rejected): the server deletes expired records, so
 * pruning never runs on a replica. Pending work (the two work queues) has
 * no age limit: it is never deleted.
 *
 * A delivery carries its own history: every attempt made so far travels in
 * the message (`attempts`), so the record that ends it (succeeded or dead
 * letter) is its whole story and no attempts stream is needed.
 */
import type { AttemptRow, NewDelivery } from '../contract.ts';
import { idToken } from './buckets.ts';

export const DELIVERIES_STREAM = 'HOOKD_DELIVERIES';
export const RETRIES_STREAM = 'HOOKD_RETRIES';
export const SUCCEEDED_STREAM = 'HOOKD_SUCCEEDED';
export const DEAD_LETTERS_STREAM = 'HOOKD_DEAD_LETTERS';
export const REJECTED_STREAM = 'HOOKD_REJECTED';
export const OUTCOMES_STREAM = 'HOOKD_OUTCOMES';
export const PROBES_STREAM = 'HOOKD_PROBES';

export const subjects = {
  delivery: (webhookId: string) => `hookd.deliveries.${idToken(webhookId)}`,
  retry: (webhookId: string) => `hookd.retries.${idToken(webhookId)}`,
  succeeded: (webhookId: string, deliveryId: string) => `hookd.succeeded.${idToken(webhookId)}.${deliveryId}`,
  dead: (webhookId: string, deliveryId: string) => `hookd.dead.${idToken(webhookId)}.${deliveryId}`,
  rejected: 'hookd.rejected',
  outcome: (webhookId: string) => `hookd.outcomes.${idToken(webhookId)}`,
  probe: (webhookId: string) => `hookd.probes.${idToken(webhookId)}`,
  /** Core NATS (not stored): "this webhook has new work", so idle replicas fetch at once. */
  activity: (webhookId: string) => `hookd.activity.${idToken(webhookId)}`,
} as const;

/** Every subject of a stream (its `subjects` when hookd creates it). */
export const streamSubjects = {
  outcomes: 'hookd.outcomes.>',
  probes: 'hookd.probes.>',
} as const;

/** Headers of a queued message: attempts made so far (0 before the first) and when the next may start (ms). */
export const ATTEMPT_HEADER = 'Hookd-Attempt';
export const NOT_BEFORE_HEADER = 'Hookd-Not-Before';
/** On a dead letter: why it was given up. */
export const REASON_HEADER = 'Hookd-Reason';

/**
 * `Nats-Msg-Id` of each move, so that a move repeated after a lost answer
 * or by a second replica (the first died before acknowledging) is stored
 * once: intake `<id>`, a retry `<id>.<n>`, an end record `<id>.f<n>`, a
 * requeue of a dead letter `<id>.r<dead letter sequence>`. `n` is the
 * number of attempts in the message's history (`attempts`, the attempt just
 * made included), not the attempt number of the budget: `hookd retry`
 * restarts the budget at 0 but the history only grows, so the moves of a
 * requeued delivery never share an id with its earlier ones (a shared id
 * inside a stream's duplicate window would drop the later move as a
 * duplicate and lose the delivery).
 */
export const msgIds = {
  intake: (deliveryId: string) => deliveryId,
  retry: (deliveryId: string, attemptsInHistory: number) => `${deliveryId}.${attemptsInHistory}`,
  requeue: (deliveryId: string, deadLetterSeq: number) => `${deliveryId}.r${deadLetterSeq}`,
  /**
   * A taken message not due for a while (a first attempt scheduled later,
   * or clocks apart) moved to the waiting room as it is: `<id>.w<its
   * HOOKD_DELIVERIES sequence>`, the same when that message is moved again
   * and never the id of the move that brought it (which the waiting room
   * may still remember).
   */
  hold: (deliveryId: string, seq: number) => `${deliveryId}.w${seq}`,
  finished: (deliveryId: string, attemptsInHistory: number) => `${deliveryId}.f${attemptsInHistory}`,
  /**
   * A claim of a half-open probe: the webhook, the open period (its
   * `openedAt`) and the round (which cooldown of that period), so exactly
   * one claim per round is stored: the publisher whose ack is not a
   * duplicate sends the probe.
   */
  probe: (webhookId: string, openedAt: number, round: number) => `${idToken(webhookId)}.${openedAt}.${round}`,
} as const;

/**
 * The queued message of a new delivery (`QueuedMessage` as text), its
 * rendered request last: the records that follow it (a retry with its
 * attempts, the end record, which leaves the request out) are made by
 * cutting and joining this text (taken.ts), so the request is serialized
 * once, here. `requestHead` (the request but its body, as intake measured
 * it) is used when given.
 */
export function queuedText(d: NewDelivery): string {
  const fields = JSON.stringify({
    id: d.id,
    eventId: d.eventId,
    eventType: d.eventType,
    webhookId: d.webhookId,
    identifier: d.identifier,
    transport: d.transport,
    priority: d.priority,
    receivedAt: d.receivedAt,
  });
  let head = d.requestHead;
  if (head === undefined) {
    const { body: _, ...rest } = d.request;
    head = JSON.stringify(rest);
  }
  const request = `${head === '{}' ? '{' : `${head.slice(0, -1)},`}"body":${JSON.stringify(d.request.body)}}`;
  return `${fields.slice(0, -1)},"request":${request}}`;
}

/** A delivery in a work queue: as intake rendered it, with the attempts made so far. */
export interface QueuedMessage extends Omit<NewDelivery, 'renderError' | 'nextAttemptAt' | 'requestHead'> {
  /** Attempts made so far, oldest first (absent before the first). */
  attempts?: AttemptRow[];
}

/**
 * The record that ends a delivery: the queued message with its outcome. A
 * succeeded one leaves out the request (`request` absent: nothing reads it,
 * the API shows a delivery's attempts, and only dead letters are requeued),
 * so each delivery's rendered request is written to a stream once; a dead
 * letter keeps it (`hookd retry` sends it again).
 */
export interface FinishedRecord extends Omit<QueuedMessage, 'request'> {
  request?: QueuedMessage['request'];
  state: 'succeeded' | 'failed';
  attempts: AttemptRow[];
  finishedAt: number;
  lastError: string | null;
}

export interface RejectedRecord {
  receivedAt: number;
  source: string;
  subject: string | null;
  reason: string;
  detail: string | null;
  /** The rejected payload, base64 (bounded by `events.maxBytes`), or null. */
  payload: string | null;
}

/**
 * What a webhook's breaker counts, in the order the stream recorded it:
 * every replica feeds the same sequence to its breaker, so all of them
 * reach the same state at the same record, with no shared counter and no
 * compare-and-set. Failures are one record each; successes are summed per
 * webhook over a short interval (a success only resets the consecutive
 * count and feeds the failure rate). A probe's outcome is a record of its
 * own whose `probe` is the `openedAt` of the open period it tested: while a
 * breaker is not closed only that period's probe counts, so a late result
 * of an attempt started before it opened (or a second round's probe) never
 * decides it.
 */
export type OutcomeRecord =
  | { kind: 'failure'; at: number; replica: string; deliveryId: string; probe?: number }
  | { kind: 'successes'; at: number; replica: string; count: number; probe?: number };

/** A claim of a probe (`HOOKD_PROBES`, msg-id `msgIds.probe`): who claimed it and when, for operators. */
export interface ProbeClaim {
  replica: string;
  at: number;
}
