/**
 * Runs a store's retention (DESIGN.md section 8) in the background: every
 * `intervalMs`, prune in batches of `batch` records, yielding to the event
 * loop between batches so intake and dispatch never wait behind it; a
 * backlog of expired records is worked off over several turns.
 */
import type { Logger } from 'pino';
import type { Pruned, Retention, Store } from './contract.ts';

export interface RetentionLoopDeps {
  store: Pick<Store, 'prune'>;
  retention: Retention;
  logger: Logger;
  now?: () => number;
  /** Between passes (default 10 s). */
  intervalMs?: number;
  /** Records per transaction (default 500). */
  batch?: number;
  /** Told after each pass that deleted something. */
  onPruned?: (pruned: Pruned) => void;
}

export class RetentionLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly deps: RetentionLoopDeps) {
    this.now = deps.now ?? Date.now;
  }

  start(): void {
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.pass().finally(() => {
        this.running = undefined;
        this.schedule();
      });
    }, this.deps.intervalMs ?? 10_000);
    this.timer.unref?.();
  }

  /** One pass: batches until less than a full one expired; resolves with what went. */
  async pass(): Promise<Pruned> {
    const batch = this.deps.batch ?? 500;
    const total: Pruned = { deliveries: 0, attempts: 0, rejected: 0 };
    try {
      for (;;) {
        const p = await this.deps.store.prune(this.deps.retention, this.now(), batch);
        total.deliveries += p.deliveries;
        total.attempts += p.attempts;
        total.rejected += p.rejected;
        if (p.deliveries + p.rejected < batch || this.stopped) break;
        // Let intake, dispatch and result writes in between.
        await new Promise((r) => setImmediate(r));
      }
    } catch (err) {
      this.deps.logger.error({ err }, 'could not delete expired records; trying again later');
    }
    if (total.deliveries + total.rejected > 0) {
      this.deps.logger.debug(total, 'expired records deleted');
      this.deps.onPruned?.(total);
    }
    return total;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
