/**
 * A token bucket for a webhook's `rateLimit: {perSecond, burst}`: at most
 * `burst` attempts at once, refilled at `perSecond`.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;
  private readonly burst: number;

  constructor(
    private readonly perSecond: number,
    burst: number | undefined,
    now: number,
  ) {
    this.burst = burst ?? Math.max(1, Math.ceil(perSecond));
    this.tokens = this.burst;
    this.at = now;
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
