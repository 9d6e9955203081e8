/**
 * The circuit breaker of one webhook (DESIGN.md section 4), a pure state
 * machine driven by attempt outcomes and a clock:
 *
 *   closed ──(N consecutive failures, or failure rate ≥ rate over ≥ minAttempts in the window)──▶ open
 *   open ──(cooldown elapsed)──▶ half-open: exactly one probe may go out
 *   half-open ──(probe succeeds)──▶ closed (cooldown back to its base)
 *   half-open ──(probe fails)──▶ open, cooldown doubled up to maxCooldownMs
 *
 * While open (and while a probe is out) the webhook's deliveries are held:
 * kept, not attempted, not counted against their retries.
 */
export interface BreakerSettings {
  failures: number;
  rate: number;
  minAttempts: number;
  windowMs: number;
  cooldownMs: number;
  maxCooldownMs: number;
}

export type BreakerMode = 'closed' | 'open' | 'half-open';

/** What survives a restart. */
export interface BreakerSnapshot {
  mode: 'open';
  openedAt: number;
  /** The open period when saved (older snapshots carry only this). */
  cooldownMs: number;
  /** How many failed probes doubled the cooldown: restored against the webhook's settings in force. */
  doublings?: number;
}

export type Transition = {
  from: BreakerMode;
  to: BreakerMode;
  reason: string;
  /** For `to: 'open'`: when the probe may go out. */
  reopensAt?: number;
};

export class Breaker {
  mode: BreakerMode = 'closed';
  /** When the current open period started. */
  openedAt = 0;
  /** Failed probes since it last closed: each doubles the cooldown, up to maxCooldownMs. */
  private doublings = 0;
  private consecutive = 0;
  /** Outcomes in the sliding window: time and success. Bounded by pruning on each record. */
  private window: { at: number; ok: boolean }[] = [];
  private probeOut = false;

  constructor(private s: BreakerSettings) {}

  /** Restores a saved open breaker under the settings in force now (its webhook's, not those it was saved with). */
  static restore(s: BreakerSettings, snap: BreakerSnapshot): Breaker {
    const b = new Breaker(s);
    b.mode = 'open';
    b.openedAt = snap.openedAt;
    b.doublings =
      snap.doublings ?? Math.max(0, Math.round(Math.log2(Math.max(1, snap.cooldownMs) / s.cooldownMs)));
    return b;
  }

  /**
   * Follows a settings change: mode, open period start, failed probes and
   * the counted outcomes stay; thresholds and cooldowns are the new ones.
   */
  reconfigure(s: BreakerSettings): void {
    this.s = s;
  }

  /** Length of the current (or next) open period. */
  get cooldownMs(): number {
    return Math.min(this.s.cooldownMs * 2 ** this.doublings, this.s.maxCooldownMs);
  }

  snapshot(): BreakerSnapshot | undefined {
    return this.mode === 'closed'
      ? undefined
      : { mode: 'open', openedAt: this.openedAt, cooldownMs: this.cooldownMs, doublings: this.doublings };
  }

  /** When an open breaker lets its probe out. */
  get reopensAt(): number {
    return this.openedAt + this.cooldownMs;
  }

  /**
   * How many new attempts may start now: Infinity when closed (other limits
   * apply), 1 for the probe once the cooldown is over, else 0. Moving from
   * open to half-open is returned as a transition.
   */
  admit(now: number): { allowed: number; transition?: Transition } {
    if (this.mode === 'closed') return { allowed: Number.POSITIVE_INFINITY };
    if (this.mode === 'open') {
      if (now < this.reopensAt) return { allowed: 0 };
      this.mode = 'half-open';
      this.probeOut = false;
      return {
        allowed: 1,
        transition: { from: 'open', to: 'half-open', reason: 'cooldown elapsed; sending one probe' },
      };
    }
    return { allowed: this.probeOut ? 0 : 1 };
  }

  /** The probe was sent (half-open admits one at a time). */
  probeStarted(): void {
    if (this.mode === 'half-open') this.probeOut = true;
  }

  /** Records an attempt's outcome; returns the transition it caused, if any. */
  record(ok: boolean, now: number): Transition | undefined {
    if (this.mode === 'half-open') {
      this.probeOut = false;
      if (ok) return this.close('probe succeeded');
      if (this.cooldownMs < this.s.maxCooldownMs) this.doublings++;
      return this.open(now, 'probe failed', 'half-open');
    }
    if (this.mode === 'open') return undefined; // a late result of an attempt started before opening
    const cutoff = now - this.s.windowMs;
    let drop = 0;
    while (drop < this.window.length && this.window[drop]!.at <= cutoff) drop++;
    if (drop) this.window = this.window.slice(drop);
    this.window.push({ at: now, ok });
    if (ok) {
      this.consecutive = 0;
      return undefined;
    }
    this.consecutive++;
    if (this.consecutive >= this.s.failures) {
      return this.open(now, `${this.consecutive} consecutive failed attempts`, 'closed');
    }
    if (this.window.length >= this.s.minAttempts) {
      const failed = this.window.filter((w) => !w.ok).length;
      const rate = failed / this.window.length;
      if (rate >= this.s.rate) {
        return this.open(
          now,
          `${Math.round(rate * 100)} % of ${this.window.length} attempts failed in ${this.s.windowMs} ms`,
          'closed',
        );
      }
    }
    return undefined;
  }

  /**
   * Cluster mode (`store.backend: jetstream`): an outcome read from the
   * stream every replica reads in the same order, at the record's time.
   * Closed, it counts as `record` does. Otherwise only the probe of the
   * current open period (`probeOf` = its `openedAt`) decides, as in
   * half-open, whether or not this replica saw the cooldown end: the same
   * records give every replica the same transitions at the same record,
   * however its clock or its admissions ran.
   */
  recordShared(ok: boolean, at: number, probeOf: number | undefined): Transition | undefined {
    if (this.mode === 'closed') return this.record(ok, at);
    if (probeOf !== this.openedAt) return undefined;
    this.mode = 'half-open';
    return this.record(ok, at);
  }

  /**
   * Takes an open period decided elsewhere (another replica's record of
   * it): returns the transition when it is news here, nothing when this
   * breaker is in that period already.
   */
  adopt(snap: BreakerSnapshot, reason: string): Transition | undefined {
    if (this.mode !== 'closed' && this.openedAt === snap.openedAt) return undefined;
    const from = this.mode;
    const restored = Breaker.restore(this.s, snap);
    this.doublings = restored.doublings;
    this.probeOut = false;
    return this.open(snap.openedAt, reason, from);
  }

  /** Whether `n` more failures in a row would open it now (closed, by the consecutive count). */
  wouldOpenAfter(n: number): boolean {
    return this.mode === 'closed' && this.consecutive + n >= this.s.failures;
  }

  /** Opens by hand (an operator set TooManyErrors). */
  forceOpen(now: number): Transition | undefined {
    if (this.mode === 'open') return undefined;
    return this.open(now, 'set by an operator', this.mode);
  }

  /** Closes by hand (an operator set Active). */
  reset(): Transition | undefined {
    this.doublings = 0;
    if (this.mode === 'closed') return undefined;
    return this.close('set by an operator');
  }

  private open(now: number, reason: string, from: BreakerMode): Transition {
    this.mode = 'open';
    this.openedAt = now;
    this.consecutive = 0;
    this.window = [];
    return { from, to: 'open', reason, reopensAt: this.reopensAt };
  }

  private close(reason: string): Transition {
    const from = this.mode;
    this.mode = 'closed';
    this.doublings = 0;
    this.consecutive = 0;
    this.window = [];
    return { from, to: 'closed', reason };
  }
}
