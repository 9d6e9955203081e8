/**
 * The stream hookd consumes events from (`nats.stream`, created with
 * `nats.subjects` and `nats.maxAge` when missing; an existing one is used as
 * it is) and its durable pull consumer (`nats.consumer`).
 */
import { AckPolicy, DeliverPolicy, type JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { ensureConsumer, ensureStream } from './jetstream-setup.ts';

/** Deliveries past `nats.maxDeliver` the consumer allows, to store a poison message's rejection. */
const POISON_STORE_TRIES = 3;

/**
 * Creates what is missing, waiting out a cluster that cannot place it yet
 * (each wait logged); resolves to the stream's identity, `<name>@<created>`:
 * id-less events are keyed by it and the sequence, and a stream re-created
 * under the same name starts its sequence again.
 */
export async function openEventStream(
  jsm: JetStreamManager,
  s: Config['nats'],
  logger: Logger,
): Promise<string> {
  const onWait = (err: Error) => logger.warn({ err: err.message }, 'waiting for JetStream');
  const { info, created } = await ensureStream(
    jsm,
    { name: s.stream, subjects: s.subjects, max_age: nanos(s.maxAge) },
    { onWait },
  );
  if (created)
    logger.info({ stream: s.stream, subjects: s.subjects, maxAgeMs: s.maxAge }, 'created JetStream stream');
  else if ([...info.config.subjects].sort().join('\n') !== [...s.subjects].sort().join('\n'))
    logger.warn(
      { stream: s.stream, streamSubjects: info.config.subjects, natsSubjects: s.subjects },
      'the existing stream has other subjects than nats.subjects; using the stream as it is',
    );
  const consumer = await ensureConsumer(
    jsm,
    s.stream,
    {
      durable_name: s.consumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(s.ackWaitMs),
      max_ack_pending: s.batch * 8,
      // Bounded: hookd moves a message delivered past nats.maxDeliver to rejected_events;
      // the few deliveries beyond are for when storing that rejection fails too.
      max_deliver: s.maxDeliver + POISON_STORE_TRIES,
    },
    { onWait },
  );
  if (consumer.created) logger.info({ stream: s.stream, consumer: s.consumer }, 'created JetStream consumer');
  return `${s.stream}@${info.created}`;
}
