/**
 * Messages a work queue should have dropped. In `HOOKD_DELIVERIES` a message
 * is removed when its webhook's consumer acknowledges it; on Debian's
 * nats-server 2.9, after the stream's leader was SIGKILLed and came back,
 * the stream kept 880 of 5,000 acknowledged messages (first sequence 97) while
 * the consumer stood at ack floor 5,000 with nothing pending or in flight.
 * Nothing delivers them again, but they count as the webhook's backlog (the
 * scheduler asks for them, `hookd_queue_depth` shows them) for ever.
 *
 * Everything at or below a consumer's ack floor was acknowledged, so a
 * webhook whose messages outnumber what its consumer still owes (pending +
 * in flight) has those below the floor purged from its subject: a no-op when
 * the count only moved in between.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { tokenId } from './buckets.ts';
import { DELIVERIES_STREAM } from './records.ts';

const PREFIX = 'hookd.deliveries.';

/**
 * Purges what each webhook's consumer acknowledged and the stream kept;
 * `backlog` is the stream's messages per webhook (`backlogByWebhook`).
 * Resolves to the webhooks purged and how many messages each. `stream`: for
 * tests, a stream of the same subjects that keeps what is acknowledged.
 */
export async function purgeAckedLeftovers(
  jsm: JetStreamManager,
  backlog: ReadonlyMap<string, number>,
  stream = DELIVERIES_STREAM,
): Promise<Map<string, number>> {
  const purged = new Map<string, number>();
  if (backlog.size === 0) return purged;
  for await (const c of jsm.consumers.list(stream)) {
    const subject = c.config.filter_subject;
    if (!subject?.startsWith(PREFIX)) continue;
    const webhookId = tokenId(subject.slice(PREFIX.length));
    if (webhookId === undefined) continue;
    const inStream = backlog.get(webhookId) ?? 0;
    if (inStream <= c.num_pending + c.num_ack_pending || c.ack_floor.stream_seq === 0) continue;
    const r = await jsm.streams.purge(stream, {
      filter: subject,
      seq: c.ack_floor.stream_seq + 1,
    });
    if (r.purged > 0) purged.set(webhookId, r.purged);
  }
  return purged;
}

/** `purgeAckedLeftovers`, each purge and any failure told to `report` (logged at warn). */
export async function sweepAckedLeftovers(
  jsm: JetStreamManager,
  backlog: ReadonlyMap<string, number>,
  report: (err: Error) => void,
): Promise<void> {
  try {
    for (const [webhookId, n] of await purgeAckedLeftovers(jsm, backlog))
      report(
        new Error(
          `purged ${n} messages of ${DELIVERIES_STREAM} that webhook ${webhookId}'s consumer had acknowledged (kept by the stream after a leader change)`,
        ),
      );
  } catch (err) {
    report(
      new Error(
        `could not look for acknowledged messages left in ${DELIVERIES_STREAM}: ${(err as Error).message}`,
      ),
    );
  }
}
