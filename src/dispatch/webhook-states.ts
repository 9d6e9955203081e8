/**
 * The runtime state of every webhook: `Active`, `Stopped` (by an operator,
 * or a 410 from the receiver) or `TooManyErrors` (the breaker). It decides
 * whether a webhook may get new attempts now, feeds its breaker, and
 * persists state changes so they survive a restart.
 */
import type { Webhook, WebhookState } from '../rules/index.ts';
import { Breaker, type BreakerSettings, type BreakerSnapshot, type Transition } from './breaker.ts';
import type { Admission } from './scheduler.ts';

export interface StateStore {
  loadWebhookStates(): { webhookId: string; state: string; reason: string | null; data: string | null }[];
  saveWebhookState(
    webhookId: string,
    state: WebhookState,
    reason: string | null,
    data: string | null,
    now: number,
  ): void;
  deleteWebhookState(webhookId: string): void;
}

export interface StateChange {
  webhookId: string;
  identifier: string;
  from: WebhookState;
  to: WebhookState;
  reason: string;
}

interface Runtime {
  state: WebhookState;
  reason: string | null;
}

/** A webhook's breaker and the spec (version) whose settings it runs with. */
interface BreakerEntry {
  breaker: Breaker;
  spec: Webhook;
  settings: string;
}

export class WebhookStates {
  private readonly runtime = new Map<string, Runtime>();
  private readonly breakers = new Map<string, BreakerEntry>();
  /** Open breakers saved by an earlier run, restored at first use with their webhook's settings. */
  private readonly saved = new Map<string, BreakerSnapshot>();

  constructor(
    private readonly deps: {
      store: StateStore;
      settings: BreakerSettings;
      onChange: (change: StateChange) => void;
      onBreaker: (webhook: Webhook, t: Transition) => void;
    },
  ) {
    for (const row of deps.store.loadWebhookStates()) {
      if (row.state !== 'Stopped' && row.state !== 'TooManyErrors' && row.state !== 'Active') continue;
      this.runtime.set(row.webhookId, { state: row.state, reason: row.reason });
      if (row.state === 'TooManyErrors' && row.data) {
        this.saved.set(row.webhookId, JSON.parse(row.data) as BreakerSnapshot);
      }
    }
  }

  private settingsFor(w: Webhook): BreakerSettings {
    return w.breaker ? { ...this.deps.settings, ...w.breaker } : this.deps.settings;
  }

  /**
   * The webhook's breaker, running with the settings of `w`, the spec in
   * force: a new version with other settings reconfigures it, keeping its
   * state (open, cooldown, counted outcomes).
   */
  private breaker(w: Webhook): Breaker {
    const entry = this.breakers.get(w.id);
    if (entry?.spec === w) return entry.breaker;
    const settings = this.settingsFor(w);
    const key = JSON.stringify(settings);
    if (entry) {
      if (entry.settings !== key) entry.breaker.reconfigure(settings);
      this.breakers.set(w.id, { breaker: entry.breaker, spec: w, settings: key });
      return entry.breaker;
    }
    const snap = this.saved.get(w.id);
    this.saved.delete(w.id);
    const b = snap ? Breaker.restore(settings, snap) : new Breaker(settings);
    // A webhook configured as TooManyErrors in its file starts open.
    if (!snap && w.state === 'TooManyErrors' && !this.runtime.has(w.id)) b.forceOpen(0);
    this.breakers.set(w.id, { breaker: b, spec: w, settings: key });
    return b;
  }

  /** The state in force: set at run time (breaker, operator, 410), else as configured. */
  stateOf(w: Webhook): WebhookState {
    return this.runtime.get(w.id)?.state ?? w.state;
  }

  reasonOf(w: Webhook): string | null {
    return this.runtime.get(w.id)?.reason ?? null;
  }

  /** Webhooks with a state set at run time (for metrics and the API). */
  overrides(): ReadonlyMap<string, Runtime> {
    return this.runtime;
  }

  admit(w: Webhook, now: number): Admission {
    const state = this.stateOf(w);
    if (state === 'Stopped') return { allowed: 0, probe: false };
    const b = this.breaker(w);
    const r = b.admit(now);
    if (r.transition) this.deps.onBreaker(w, r.transition);
    if (r.allowed === 0)
      return { allowed: 0, probe: false, wakeAt: b.mode === 'open' ? b.reopensAt : undefined };
    if (b.mode === 'half-open') return { allowed: 1, probe: true };
    // Closed: a webhook configured TooManyErrors was closed by a probe already; otherwise Active.
    return { allowed: r.allowed, probe: false };
  }

  /** Forgets a deleted webhook's state and breaker. */
  forget(webhookId: string): void {
    this.runtime.delete(webhookId);
    this.breakers.delete(webhookId);
    this.saved.delete(webhookId);
    this.deps.store.deleteWebhookState(webhookId);
  }

  /** The half-open probe went out. */
  probeStarted(w: Webhook): void {
    this.breaker(w).probeStarted();
  }

  /** Feeds an attempt's outcome to the breaker; persists and reports state changes. */
  record(w: Webhook, ok: boolean, now: number): Transition | undefined {
    if (this.stateOf(w) === 'Stopped') return undefined;
    const b = this.breaker(w);
    const t = b.record(ok, now);
    if (!t) return undefined;
    this.deps.onBreaker(w, t);
    if (t.to === 'open') this.set(w, 'TooManyErrors', t.reason, now, b.snapshot());
    else if (t.to === 'closed') this.set(w, 'Active', t.reason, now);
    return t;
  }

  /** Sets a state by hand (API) or on a 410; returns false when nothing changed. */
  setState(w: Webhook, state: WebhookState, reason: string, now: number): boolean {
    const b = this.breaker(w);
    if (state === 'TooManyErrors') {
      const t = b.forceOpen(now);
      if (t) this.deps.onBreaker(w, t);
      return this.set(w, state, reason, now, b.snapshot());
    }
    if (state === 'Active') {
      const t = b.reset();
      if (t) this.deps.onBreaker(w, t);
    }
    return this.set(w, state, reason, now);
  }

  private set(w: Webhook, to: WebhookState, reason: string, now: number, snap?: BreakerSnapshot): boolean {
    const from = this.stateOf(w);
    this.runtime.set(w.id, { state: to, reason });
    this.deps.store.saveWebhookState(w.id, to, reason, snap ? JSON.stringify(snap) : null, now);
    if (from === to && to !== 'TooManyErrors') return false;
    this.deps.onChange({ webhookId: w.id, identifier: w.identifier, from, to, reason });
    return true;
  }
}
