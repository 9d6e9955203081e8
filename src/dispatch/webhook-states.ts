/**
 * The runtime state of every webhook: `Active`, `Stopped` (by an operator,
 * or a 410 from the receiver) or `TooManyErrors` (the breaker). It decides
 * whether a webhook may get new attempts now, feeds its breaker, and
 * persists state changes so they survive a restart.
 *
 * In cluster mode (`store.backend: jetstream`, wired by `cluster.ts`) the
 * breakers are fed only from the outcome stream every replica reads in the
 * same order (`recordShared`), a half-open probe goes out only from the
 * replica that won its round (`ProbeRounds`), and a state another replica
 * saved is applied here (`applyRemote`) unless this replica decided it
 * already or something newer: each decision is known by when it was made
 * (a breaker's by its record's `at`, an operator's by the clock of the
 * replica it came through), and only a newer one is taken.
 */
import type { WebhookStateStore } from '../outbox/index.ts';
import type { Webhook, WebhookState } from '../rules/index.ts';
import { Breaker, type BreakerSettings, type BreakerSnapshot, type Transition } from './breaker.ts';
import type { ProbeRounds } from './probe-rounds.ts';
import type { Admission } from './scheduler.ts';
import type { UnseenFailures } from './unseen-failures.ts';

export interface StateStore {
  loadWebhookStates(): ReturnType<WebhookStateStore['loadWebhookStates']>;
  saveWebhookState(
    webhookId: string,
    state: WebhookState,
    reason: string | null,
    data: string | null,
    now: number,
  ): void;
  deleteWebhookState(webhookId: string): void;
}

/** A webhook's state as another replica saved it (`HOOKD_STATES`). */
export interface SavedState {
  state: string;
  reason: string | null;
  data: string | null;
  updatedAt: number;
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
  /** When each webhook's state in force was decided (cluster mode: older saved states are not applied). */
  private readonly decidedAt = new Map<string, number>();
  /** Cluster mode: who sends a half-open probe; this replica's failures not yet read back. */
  private rounds: ProbeRounds | undefined;
  private unseen: UnseenFailures | undefined;

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
      if (row.updatedAt !== undefined) this.decidedAt.set(row.webhookId, row.updatedAt);
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
    if (b.mode === 'half-open') return this.rounds?.admit(w.id, b, now) ?? { allowed: 1, probe: true };
    // Closed: a webhook configured TooManyErrors was closed by a probe already; otherwise Active.
    const wakeAt = this.unseen?.hold(w.id, (n) => b.wouldOpenAfter(n), now);
    if (wakeAt !== undefined) return { allowed: 0, probe: false, wakeAt };
    return { allowed: r.allowed, probe: false };
  }

  /** Forgets a deleted webhook's state and breaker. */
  forget(webhookId: string): void {
    this.runtime.delete(webhookId);
    this.breakers.delete(webhookId);
    this.saved.delete(webhookId);
    this.decidedAt.delete(webhookId);
    this.rounds?.forget(webhookId);
    this.unseen?.forget(webhookId);
    this.deps.store.deleteWebhookState(webhookId);
  }

  /** The half-open probe went out (cluster mode: as delivery `deliveryId`, for its outcome's record). */
  probeStarted(w: Webhook, deliveryId?: string): void {
    if (this.rounds) {
      if (deliveryId !== undefined) this.rounds.started(w.id, deliveryId);
    } else this.breaker(w).probeStarted();
  }

  /**
   * Cluster mode from now on: breakers are fed by `recordShared` only, a
   * half-open probe needs its round won through `rounds`, and a webhook
   * whose own `unseen` failures may already open its breaker waits for them.
   */
  shareBreakers(rounds: ProbeRounds, unseen?: UnseenFailures): void {
    this.rounds = rounds;
    this.unseen = unseen;
  }

  /**
   * Cluster mode: outcomes read from the shared stream (`count` of them, at
   * the record's `at`; `probe`: the open period a probe tested), fed to the
   * breaker as every replica feeds its own; state changes are saved and
   * reported as `record` does, with `at` as their time. Outcomes at or
   * before the time of the state in force are not counted.
   */
  recordShared(w: Webhook, ok: boolean, at: number, count: number, probe?: number): void {
    if (this.stateOf(w) === 'Stopped') return;
    // Outcomes from before the decision in force (a late attempt's, or ones this replica reads
    // after another's newer record reached it) do not count toward the next one.
    if (at <= (this.decidedAt.get(w.id) ?? Number.NEGATIVE_INFINITY)) return;
    const b = this.breaker(w);
    for (let i = 0; i < count; i++) {
      if (b.mode !== 'closed' && probe !== b.openedAt) return;
      const t = b.recordShared(ok, at, probe);
      if (t) this.transitioned(w, b, t, at);
    }
  }

  /**
   * Cluster mode: a state another replica saved (undefined: the webhook
   * was deleted). Applied and reported like a local change (`onChange`,
   * `onBreaker`) unless this replica decided the same or something newer
   * already; never saved again. `w` is undefined when this replica does
   * not know the webhook yet: the state waits for it.
   */
  applyRemote(webhookId: string, row: SavedState | undefined, w: Webhook | undefined): void {
    if (!row) {
      this.runtime.delete(webhookId);
      this.breakers.delete(webhookId);
      this.saved.delete(webhookId);
      this.decidedAt.delete(webhookId);
      this.rounds?.forget(webhookId);
      return;
    }
    const { state, reason, updatedAt } = row;
    if (state !== 'Stopped' && state !== 'TooManyErrors' && state !== 'Active') return;
    if (updatedAt <= (this.decidedAt.get(webhookId) ?? Number.NEGATIVE_INFINITY)) return;
    this.decidedAt.set(webhookId, updatedAt);
    const snap = state === 'TooManyErrors' ? snapshotOf(row.data) : undefined;
    if (!w) {
      this.runtime.set(webhookId, { state, reason });
      if (snap) this.saved.set(webhookId, snap);
      return;
    }
    const from = this.stateOf(w);
    const b = this.breaker(w);
    const why = reason ?? `set through another replica`;
    const t =
      state === 'TooManyErrors'
        ? b.adopt(snap ?? { mode: 'open', openedAt: updatedAt, cooldownMs: b.cooldownMs }, why)
        : state === 'Active'
          ? b.reset()
          : undefined;
    if (t) this.deps.onBreaker(w, t);
    this.runtime.set(w.id, { state, reason });
    // As `set` reports: a change of state, or a new open period.
    if (from !== state || t?.to === 'open')
      this.deps.onChange({ webhookId: w.id, identifier: w.identifier, from, to: state, reason: why });
  }

  /** Feeds an attempt's outcome to the breaker; persists and reports state changes. */
  record(w: Webhook, ok: boolean, now: number): Transition | undefined {
    if (this.stateOf(w) === 'Stopped') return undefined;
    const b = this.breaker(w);
    const t = b.record(ok, now);
    if (t) this.transitioned(w, b, t, now);
    return t;
  }

  /** Reports a breaker's transition and saves the state it leads to. */
  private transitioned(w: Webhook, b: Breaker, t: Transition, now: number): void {
    this.deps.onBreaker(w, t);
    if (t.to === 'open') this.set(w, 'TooManyErrors', t.reason, now, b.snapshot());
    else if (t.to === 'closed') this.set(w, 'Active', t.reason, now);
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
    this.decidedAt.set(w.id, now);
    this.deps.store.saveWebhookState(w.id, to, reason, snap ? JSON.stringify(snap) : null, now);
    if (from === to && to !== 'TooManyErrors') return false;
    this.deps.onChange({ webhookId: w.id, identifier: w.identifier, from, to, reason });
    return true;
  }
}

/** A saved open breaker; undefined when there is none or it is not readable (the breaker then opens at the save's time). */
function snapshotOf(data: string | null): BreakerSnapshot | undefined {
  try {
    const v = data ? (JSON.parse(data) as Partial<BreakerSnapshot> | null) : undefined;
    return typeof v?.openedAt === 'number' && typeof v.cooldownMs === 'number'
      ? (v as BreakerSnapshot)
      : undefined;
  } catch {
    return undefined;
  }
}
