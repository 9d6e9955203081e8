/**
 * The streams of the `jetstream` backend's deliveries (records.ts names
 * them), created when missing and kept at `store.retention`: a finished
 * record's lifetime is its stream's `max_age`, so the server deletes what
 * is past it and pruning never runs on a replica. The retention in force is
 * applied to existing streams at every start (a changed `store.retention`
 * updates them); the work queues have no age limit (pending work is never
 * deleted).
 *
 * Every replica calls `ensureStreams` with the same settings; a stream an
 * operator changed otherwise (subjects, replicas) is used as it is, only
 * its `max_age` follows the config.
 */
import {
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  type StreamConfig,
} from '@nats-io/jetstream';
import { type NatsConnection, nanos } from '@nats-io/transport-node';
import { ensureStream, type PatienceOptions, patiently } from '../../source/index.ts';
import type { Retention } from '../contract.ts';
import { tokenId } from './buckets.ts';
import {
  DEAD_LETTERS_STREAM,
  DELIVERIES_STREAM,
  REJECTED_STREAM,
  RETRIES_STREAM,
  SUCCEEDED_STREAM,
} from './records.ts';

/**
 * How long a stream remembers a `Nats-Msg-Id`: longer than a redelivery of
 * the event or of a taken delivery (their ack waits), so a move repeated by
 * another replica is stored once.
 */
export const DUPLICATE_WINDOW_MS = 10 * 60_000;

/** The streams of deliveries and what bounds each: `undefined` age = none (work queues). */
export function streamConfigs(retention: Retention): {
  name: string;
  subjects: string[];
  workQueue: boolean;
  maxAgeMs?: number;
}[] {
  return [
    { name: DELIVERIES_STREAM, subjects: ['hookd.deliveries.>'], workQueue: true },
    { name: RETRIES_STREAM, subjects: ['hookd.retries.>'], workQueue: true },
    {
      name: SUCCEEDED_STREAM,
      subjects: ['hookd.succeeded.>'],
      workQueue: false,
      maxAgeMs: retention.succeeded,
    },
    { name: DEAD_LETTERS_STREAM, subjects: ['hookd.dead.>'], workQueue: false, maxAgeMs: retention.failed },
    { name: REJECTED_STREAM, subjects: ['hookd.rejected'], workQueue: false, maxAgeMs: retention.rejected },
  ];
}

/** A duplicate window never longer than the stream's max age (the server refuses that). */
const windowFor = (maxAgeMs: number | undefined) =>
  nanos(maxAgeMs ? Math.min(DUPLICATE_WINDOW_MS, maxAgeMs) : DUPLICATE_WINDOW_MS);

/**
 * Creates the missing streams (`replicas`: 1, or 3 on a cluster) and sets
 * the finished records' max ages to `retention`. Resolves to the names of
 * the streams whose max age it changed.
 */
export async function ensureStreams(
  nc: NatsConnection,
  opts: { replicas: number; retention: Retention } & PatienceOptions,
): Promise<string[]> {
  const jsm = await jetstreamManager(nc);
  const changed: string[] = [];
  for (const s of streamConfigs(opts.retention)) {
    if (await applyStream(jsm, s, opts)) changed.push(s.name);
  }
  return changed;
}

/** Creates one stream, or sets its max age; true when an existing stream's max age changed. */
async function applyStream(
  jsm: JetStreamManager,
  s: ReturnType<typeof streamConfigs>[number],
  opts: { replicas: number } & PatienceOptions,
): Promise<boolean> {
  const cfg: Partial<StreamConfig> & { name: string } = {
    name: s.name,
    subjects: s.subjects,
    num_replicas: opts.replicas,
    duplicate_window: windowFor(s.maxAgeMs),
    ...(s.workQueue ? { retention: RetentionPolicy.Workqueue } : { max_age: nanos(s.maxAgeMs ?? 0) }),
  };
  const { info, created } = await ensureStream(jsm, cfg, opts);
  if (created) return false;
  if (s.maxAgeMs === undefined || info.config.max_age === nanos(s.maxAgeMs)) return false;
  const maxAge = nanos(s.maxAgeMs);
  await patiently(
    `set the max age of the JetStream stream ${s.name}`,
    () =>
      jsm.streams.update(s.name, {
        ...info.config,
        max_age: maxAge,
        duplicate_window: Math.min(info.config.duplicate_window, windowFor(s.maxAgeMs)),
      }),
    opts,
  );
  return true;
}

/** Messages in `HOOKD_DELIVERIES` per webhook (waiting and taken), from one stream info call. */
export async function backlogByWebhook(jsm: JetStreamManager): Promise<Map<string, number>> {
  const prefix = 'hookd.deliveries.';
  const info = await jsm.streams.info(DELIVERIES_STREAM, { subjects_filter: `${prefix}>` });
  const backlog = new Map<string, number>();
  for (const [subject, n] of Object.entries(info.state.subjects ?? {})) {
    const webhookId = tokenId(subject.slice(prefix.length));
    if (webhookId !== undefined) backlog.set(webhookId, n);
  }
  return backlog;
}
