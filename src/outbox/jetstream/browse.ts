/**
 * Reading a stream's messages on one subject (wildcards allowed) without a
 * consumer. The work queues refuse a second consumer whose filter overlaps
 * a webhook's own ("filtered consumer not unique"), and a read must never
 * take a message from a queue, so reads use the stream's message get:
 * `next_by_subj` (the first match at or after a sequence) and
 * `last_by_subj` (the last match), both on nats-server 2.9 with wildcards.
 * Every replica reads the same stream, so every replica reads the same.
 *
 * `newest` finds the highest-sequence matches below a bound with few
 * requests however sparse the subject is: one probe tells whether a
 * sequence range holds a match at all, and a range with one is split in
 * halves, upper half first, until a half is small enough to walk. A page of
 * `k` costs about `k` gets plus a few probes per halving.
 */
import type { JetStreamManager, StoredMsg } from '@nats-io/jetstream';

/** A range this small (in sequences, beyond the page) is walked message by message. */
const WALK = 16;

export class SubjectReader {
  constructor(
    private readonly jsm: JetStreamManager,
    readonly stream: string,
    readonly subject: string,
  ) {}

  /** The first match at or after `seq` (null: none). */
  next(seq: number): Promise<StoredMsg | null> {
    // `next_by_subj` is in the server's API on 2.9 (the client types list it only for direct gets).
    return this.jsm.streams.getMessage(this.stream, {
      seq: Math.max(1, seq),
      next_by_subj: this.subject,
    } as never);
  }

  /** The last match (null: none). */
  last(): Promise<StoredMsg | null> {
    return this.jsm.streams.getMessage(this.stream, { last_by_subj: this.subject });
  }

  /** The stream's first and last sequence now. */
  async bounds(): Promise<{ first: number; last: number }> {
    const { state } = await this.jsm.streams.info(this.stream);
    return { first: state.first_seq, last: state.last_seq };
  }

  /** Up to `k` matches with a sequence below `below` (exclusive), highest first. */
  async newest(below: number, k: number): Promise<StoredMsg[]> {
    if (k <= 0 || below <= 1) return [];
    const { first, last } = await this.bounds();
    return this.top(first, Math.min(below - 1, last), k);
  }

  /** Every match from `from` on, oldest first, `fn` called with each until it returns false. */
  async forEach(from: number, fn: (m: StoredMsg) => boolean | Promise<boolean>): Promise<void> {
    for (let m = await this.next(from); m; m = await this.next(m.seq + 1)) if (!(await fn(m))) return;
  }

  /** The `need` highest matches in [lo, hi], highest first. */
  private async top(lo: number, hi: number, need: number, known?: StoredMsg): Promise<StoredMsg[]> {
    if (need <= 0 || lo > hi) return [];
    const first = known ?? (await this.next(lo));
    if (!first || first.seq > hi) return [];
    if (hi - first.seq <= need + WALK) {
      const found = [first];
      for (let m = await this.next(first.seq + 1); m && m.seq <= hi; m = await this.next(m.seq + 1))
        found.push(m);
      return found.reverse().slice(0, need);
    }
    const mid = Math.floor((first.seq + hi) / 2);
    const upper = await this.top(mid + 1, hi, need);
    if (upper.length >= need) return upper;
    return upper.concat(await this.top(first.seq, mid, need - upper.length, first));
  }
}
