/**
 * Cluster mode: which replica sends a half-open breaker's probe. The open
 * period (its `openedAt`) is divided into rounds of one cooldown after it
 * ends (round 0 from `reopensAt`); each round's probe is claimed by
 * publishing a claim that the stream stores once (`ProbeClaims`): only the
 * replica whose claim was stored sends it. A round whose winner died or
 * whose probe's outcome never came is followed by the next, claimable
 * again one cooldown later.
 *
 * The admission gate is synchronous: a claim in flight answers "not now",
 * and `wake` is called when it settles, so the dispatcher asks again.
 */
import type { Admission } from './scheduler.ts';

interface Claim {
  openedAt: number;
  round: number;
  state: 'pending' | 'won' | 'lost';
  /** The probe sent for this round (won rounds only). */
  sent?: string;
}

export interface ProbeRoundsDeps {
  /** Claims a round: true when this replica's claim is the one stored. */
  claim: (webhookId: string, openedAt: number, round: number) => Promise<boolean>;
  /** A claim settled: ask for admissions again. */
  wake: () => void;
  onError?: (err: Error) => void;
}

export class ProbeRounds {
  /** Per webhook: the round claimed last. */
  private readonly claims = new Map<string, Claim>();
  /** Probes sent and not yet reported: delivery id → the open period it probes. */
  private readonly probes = new Map<string, number>();

  constructor(private readonly deps: ProbeRoundsDeps) {}

  /** Whether this replica may send the probe of a half-open breaker now (`now` ≥ `reopensAt`). */
  admit(
    webhookId: string,
    b: { openedAt: number; reopensAt: number; cooldownMs: number },
    now: number,
  ): Admission {
    const round = Math.max(0, Math.floor((now - b.reopensAt) / b.cooldownMs));
    const c = this.claims.get(webhookId);
    if (!c || c.openedAt !== b.openedAt || c.round !== round) {
      this.start(webhookId, b.openedAt, round);
      return { allowed: 0, probe: false };
    }
    if (c.state === 'won' && c.sent === undefined) return { allowed: 1, probe: true };
    if (c.state === 'pending') return { allowed: 0, probe: false };
    return { allowed: 0, probe: false, wakeAt: b.reopensAt + (round + 1) * b.cooldownMs };
  }

  private start(webhookId: string, openedAt: number, round: number): void {
    const c: Claim = { openedAt, round, state: 'pending' };
    this.claims.set(webhookId, c);
    void this.deps
      .claim(webhookId, openedAt, round)
      .then(
        (won) => {
          c.state = won ? 'won' : 'lost';
        },
        (err: Error) => {
          c.state = 'lost';
          this.deps.onError?.(err);
        },
      )
      .finally(() => this.deps.wake());
  }

  /** The won round's probe went out as `deliveryId`. */
  started(webhookId: string, deliveryId: string): void {
    const c = this.claims.get(webhookId);
    if (c?.state !== 'won' || c.sent !== undefined) return;
    c.sent = deliveryId;
    this.probes.set(deliveryId, c.openedAt);
  }

  /** The open period `deliveryId` probed, once (undefined: it was no probe). */
  takeProbe(deliveryId: string): number | undefined {
    const openedAt = this.probes.get(deliveryId);
    this.probes.delete(deliveryId);
    return openedAt;
  }

  /** Forgets a webhook's claims (it was deleted). */
  forget(webhookId: string): void {
    this.claims.delete(webhookId);
  }
}
