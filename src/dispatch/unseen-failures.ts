/**
 * Cluster mode: a replica's own failures that it published to the outcome
 * stream and has not read back yet. Its breaker counts only what the stream
 * returns (the same sequence on every replica), so without this a replica
 * whose receiver fails at once would go on starting attempts for as long
 * as its records take to come back. While the failures in a row its breaker
 * has counted plus its own unseen ones reach the threshold, the replica
 * starts no new attempt for the webhook: it waits (milliseconds) for the
 * stream to say whether the breaker opened. The breaker itself is not
 * touched, so every replica still reaches the same transitions. A failure
 * not back within `holdMs` (its publish was lost) no longer holds anything.
 */
export class UnseenFailures {
  /** Per webhook: when each unseen failure was published, oldest first. */
  private readonly unseen = new Map<string, number[]>();
  /** Webhooks held now, to be woken when a failure comes back. */
  private readonly held = new Set<string>();

  constructor(private readonly holdMs = 2000) {}

  /** This replica published a failure of `webhookId` at `now`. */
  published(webhookId: string, now: number): void {
    const list = this.unseen.get(webhookId);
    if (list) list.push(now);
    else this.unseen.set(webhookId, [now]);
  }

  /** One of this replica's failures came back from the stream; true when the webhook was held by them. */
  seen(webhookId: string): boolean {
    const list = this.unseen.get(webhookId);
    list?.shift();
    if (list?.length === 0) this.unseen.delete(webhookId);
    return this.held.delete(webhookId);
  }

  /**
   * Whether to hold `webhookId` now: `wouldOpen(n)` says whether `n` more
   * failures would open its breaker. Returns when to look again (undefined:
   * not held).
   */
  hold(webhookId: string, wouldOpen: (n: number) => boolean, now: number): number | undefined {
    const list = this.unseen.get(webhookId);
    while (list?.length && list[0]! <= now - this.holdMs) list.shift();
    if (list?.length === 0) this.unseen.delete(webhookId);
    if (!list?.length || !wouldOpen(list.length)) {
      this.held.delete(webhookId);
      return undefined;
    }
    this.held.add(webhookId);
    return list[0]! + this.holdMs;
  }

  forget(webhookId: string): void {
    this.unseen.delete(webhookId);
    this.held.delete(webhookId);
  }
}
