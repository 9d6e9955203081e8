/**
 * One half-open probe per cooldown cluster-wide, without compare-and-set
 * (nats-server #4320): a replica claims a round's probe by publishing to
 * `HOOKD_PROBES` with `Nats-Msg-Id` = `<webhook>.<openedAt>.<round>`. The
 * stream stores the first publish of an id within its duplicate window and
 * answers every later one as a duplicate, so exactly one claimant's ack is
 * not a duplicate: that replica sends the probe. The stream's leader decides
 * alone (the same single writer that orders every publish), which is what a
 * 3-node 2.9 cluster was tested for under concurrent claims.
 *
 * A retried publish (its answer lost) is answered as a duplicate of its own
 * first publish; the duplicate's answer names the stored message, whose
 * claim nonce says whether it was this claim.
 */
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, nanos } from '@nats-io/transport-node';
import { ensureStream } from '../../source/index.ts';
import { msgIds, PROBES_STREAM, type ProbeClaim, streamSubjects, subjects } from './records.ts';
import { retryUntil } from './retry.ts';

/** How long claims are remembered (records.ts: 1 hour): above any round, so a round's id is claimed once. */
const WINDOW_MS = 60 * 60_000;

export class ProbeClaims {
  private claims = 0;

  private constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly replica: string,
    private readonly deadlineMs: number,
  ) {}

  /**
   * Creates the stream (or uses it as it is): its duplicate window is
   * `windowMs` (default 1 hour, at least the longest cooldown, so every
   * claim of one round falls in it).
   */
  static async open(
    nc: NatsConnection,
    opts: { replicas: number; replica: string; windowMs?: number; claimDeadlineMs?: number },
  ): Promise<ProbeClaims> {
    const jsm = await jetstreamManager(nc);
    const window = Math.max(WINDOW_MS, opts.windowMs ?? 0);
    await ensureStream(jsm, {
      name: PROBES_STREAM,
      subjects: [streamSubjects.probes],
      max_age: nanos(window),
      duplicate_window: nanos(window),
      num_replicas: opts.replicas,
    });
    return new ProbeClaims(jetstream(nc), jsm, opts.replica, opts.claimDeadlineMs ?? 5000);
  }

  /**
   * Claims round `round` of the open period `openedAt`: true when this
   * replica's claim is the one stored (send the probe), false when another
   * replica's is. Rejects when the stream did not answer in time (no probe
   * this round from here).
   */
  async claim(webhookId: string, openedAt: number, round: number): Promise<boolean> {
    const nonce = `${this.replica}.${++this.claims}`;
    const claim: ProbeClaim & { nonce: string } = { replica: this.replica, at: Date.now(), nonce };
    const ack = await retryUntil(this.deadlineMs, () =>
      this.js.publish(subjects.probe(webhookId), JSON.stringify(claim), {
        msgID: msgIds.probe(webhookId, openedAt, round),
      }),
    );
    if (!ack.duplicate) return true;
    // Ours if this claim's first publish was stored and only its answer was lost.
    const stored = await this.jsm.streams.getMessage(PROBES_STREAM, { seq: ack.seq }).catch(() => undefined);
    return stored?.json<{ nonce?: string }>().nonce === nonce;
  }
}
