import type { Webhook } from '../rules/index.ts';

/**
 * A token bucket for a webhook's `rateLimit: {perSecond, burst}`: at most
 * `burst` attempts at once, refilled at `perSecond`.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;
  private perSecond = 0;
  private burst = 0;

  constructor(perSecond: number, burst: number | undefined, now: number) {
    this.at = now;
    this.reconfigure(perSecond, burst, now);
    this.tokens = this.burst;
  }

  /** New settings: tokens earned so far are kept (up to the new burst), refilled at the new rate from now. */
  reconfigure(perSecond: number, burst: number | undefined, now: number): void {
    if (this.perSecond > 0) this.refill(now);
    this.perSecond = perSecond;
    this.burst = burst ?? Math.max(1, Math.ceil(perSecond));
    this.tokens = Math.min(this.tokens ?? this.burst, this.burst);
  }

  private refill(now: number): void {
    if (now > this.at) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.perSecond);
      this.at = now;
    }
  }

  /** Whole tokens available now. */
  available(now: number): number {
    this.refill(now);
    return Math.floor(this.tokens);
  }

  take(n: number, now: number): void {
    this.refill(now);
    this.tokens -= n;
  }

  /** When the next whole token will be there. */
  nextAt(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? now : now + Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
  }
}

/** A replica's rate never goes below this (per second) nor its burst below one token, however many share it. */
const MIN_SHARE_PER_SECOND = 0.1;

/**
 * One replica's share of a limit that `replicas` share (cluster mode): the
 * rate divided among them, and the burst too, but never below one token of
 * burst and `MIN_SHARE_PER_SECOND` (or the whole rate when it is lower), so
 * every replica can still send; with many replicas on a small limit the
 * cluster's sum can therefore exceed it.
 */
export function rateShare(
  limit: { perSecond: number; burst?: number },
  replicas: number,
): { perSecond: number; burst: number | undefined } {
  const n = Math.max(1, Math.floor(replicas));
  if (n === 1) return { perSecond: limit.perSecond, burst: limit.burst };
  const perSecond = Math.max(limit.perSecond / n, Math.min(limit.perSecond, MIN_SHARE_PER_SECOND));
  const burst = Math.max(1, Math.floor((limit.burst ?? Math.max(1, Math.ceil(limit.perSecond))) / n));
  return { perSecond, burst };
}

/**
 * The token buckets of the webhooks that have a `rateLimit`, each following
 * its webhook's current spec and, in cluster mode, how many replicas share
 * the limit (each gets `rateShare`; approximate while replicas join or leave).
 */
export class RateLimits {
  private readonly buckets = new Map<string, { bucket: TokenBucket; spec: Webhook; replicas: number }>();

  /** `replicas`: how many processes share each limit now (default: this one alone). */
  constructor(private readonly replicas: () => number = () => 1) {}

  private bucketFor(w: Webhook, now: number): TokenBucket | undefined {
    const entry = this.buckets.get(w.id);
    const replicas = this.replicas();
    if (entry?.spec === w && entry.replicas === replicas) return entry.bucket;
    const limit = w.rateLimit;
    if (!limit) {
      this.buckets.delete(w.id);
      return undefined;
    }
    const { perSecond, burst } = rateShare(limit, replicas);
    const bucket = entry?.bucket ?? new TokenBucket(perSecond, burst, now);
    if (entry) bucket.reconfigure(perSecond, burst, now);
    this.buckets.set(w.id, { bucket, spec: w, replicas });
    return bucket;
  }

  /** Attempts the webhook may start now (Infinity: no limit), and when the next token comes when none. */
  available(w: Webhook, now: number): { allowed: number; wakeAt?: number } {
    const b = this.bucketFor(w, now);
    if (!b) return { allowed: Number.POSITIVE_INFINITY };
    const allowed = b.available(now);
    return allowed > 0 ? { allowed } : { allowed: 0, wakeAt: b.nextAt(now) };
  }

  take(w: Webhook, n: number, now: number): void {
    this.bucketFor(w, now)?.take(n, now);
  }

  forget(webhookId: string): void {
    this.buckets.delete(webhookId);
  }
}
