/**
 * Creating what hookd needs on JetStream (a stream, a durable consumer) when
 * it is missing, and using it as it is when it exists: one place for the
 * create-or-open of every stream, bucket and consumer, so that each waits out
 * a cluster that cannot answer or place replicas yet (a member restarting, a
 * meta leader being elected) and reports any other refusal with the server's
 * reason, instead of mistaking a timed-out lookup for a missing stream.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ConsumerConfig,
  type ConsumerInfo,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import { errors } from '@nats-io/transport-node';

/** Server error codes (ADR-7) that a cluster gives while it forms or a member is away. */
const NOT_PLACEABLE_YET = new Set([
  10005, // no suitable peers for placement
  10008, // JetStream system temporarily unavailable
  10023, // insufficient resources
]);
/** A stream (or bucket) created by another client at the same moment, with other settings. */
export const STREAM_NAME_IN_USE = 10058;
const CONSUMER_EXISTS = 10148; // consumer already exists
const CONSUMER_NAME_IN_USE = 10013; // consumer name already in use

/**
 * Whether a JetStream request failed because the server or cluster cannot
 * answer or place replicas yet, so the same request may succeed later.
 */
export function notReadyYet(err: unknown): boolean {
  if (err instanceof errors.RequestError && err.cause !== undefined && err.cause !== err)
    return notReadyYet(err.cause);
  if (err instanceof errors.TimeoutError || err instanceof errors.NoRespondersError) return true;
  if ((err as Error)?.name === 'JetStreamNotEnabled') return true;
  return err instanceof JetStreamApiError && (err.status === 503 || NOT_PLACEABLE_YET.has(err.code));
}

/** What hookd needs on JetStream could not be set up; the message names it and gives the server's reason. */
export class JetStreamSetupError extends Error {
  readonly code = 'HOOKD_JETSTREAM_SETUP';
}

export interface PatienceOptions {
  /** How long a request that keeps failing with `notReadyYet` is tried again (default 60 s). */
  patienceMs?: number;
  /** Told of each wait, with the reason. */
  onWait?: (err: Error) => void;
  /** Ends the waiting (rejects with the signal's reason). */
  signal?: AbortSignal;
}

/**
 * Runs `attempt` until it succeeds, trying again after a growing pause
 * (250 ms to 5 s) while it fails with `notReadyYet`; any other error, or the
 * last one once `patienceMs` is spent, is thrown as a `JetStreamSetupError`
 * `cannot <what>: <reason>`.
 */
export async function patiently<T>(
  what: string,
  attempt: () => Promise<T>,
  opts: PatienceOptions = {},
): Promise<T> {
  const deadline = Date.now() + (opts.patienceMs ?? 60_000);
  for (let pauseMs = 250; ; pauseMs = Math.min(pauseMs * 2, 5000)) {
    opts.signal?.throwIfAborted();
    try {
      return await attempt();
    } catch (err) {
      const reason = (err as Error)?.message ?? String(err);
      if (!notReadyYet(err) || Date.now() + pauseMs > deadline)
        throw new JetStreamSetupError(`cannot ${what}: ${reason}`, { cause: err });
      opts.onWait?.(new Error(`cannot ${what} yet (${reason}); trying again`, { cause: err }));
      await sleep(pauseMs, undefined, { signal: opts.signal });
    }
  }
}

/** `n replica(s)`, as the set-up errors say it. */
export const replicasText = (n: number) => `${n} replica${n === 1 ? '' : 's'}`;

export const isCode = (err: unknown, ...codes: number[]) =>
  err instanceof JetStreamApiError && codes.includes(err.code);

/**
 * The stream `config.name` as it is, or created with `config` when it does
 * not exist (by this caller or, at the same moment, by another replica).
 */
export function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
  opts?: PatienceOptions,
): Promise<{ info: StreamInfo; created: boolean }> {
  const replicas = config.num_replicas ?? 1;
  return patiently(
    `create the JetStream stream ${config.name} (${replicasText(replicas)})`,
    async () => {
      try {
        return { info: await jsm.streams.info(config.name), created: false };
      } catch (err) {
        if (!isCode(err, JetStreamApiCodes.StreamNotFound)) throw err;
      }
      try {
        return { info: await jsm.streams.add(config), created: true };
      } catch (err) {
        if (!isCode(err, STREAM_NAME_IN_USE)) throw err;
        return { info: await jsm.streams.info(config.name), created: false };
      }
    },
    opts,
  );
}

/**
 * The durable consumer `config.durable_name` of `stream` as it is, or
 * created with `config` when it does not exist.
 */
export function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  config: Partial<ConsumerConfig> & { durable_name: string },
  opts?: PatienceOptions,
): Promise<{ info: ConsumerInfo; created: boolean }> {
  const name = config.durable_name;
  return patiently(
    `create the consumer ${name} of the JetStream stream ${stream}`,
    async () => {
      try {
        return { info: await jsm.consumers.info(stream, name), created: false };
      } catch (err) {
        if (!isCode(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
      }
      try {
        return { info: await jsm.consumers.add(stream, config), created: true };
      } catch (err) {
        if (!isCode(err, CONSUMER_EXISTS, CONSUMER_NAME_IN_USE)) throw err;
        return { info: await jsm.consumers.info(stream, name), created: false };
      }
    },
    opts,
  );
}
