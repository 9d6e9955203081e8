/**
 * Attempt results wait a few milliseconds and are written together in one
 * transaction: one commit per batch instead of one per attempt. A batch that
 * cannot be written is kept and tried again; an unrecorded result can only
 * make hookd resend a delivery (same webhook-id), never lose it.
 */
import type { Logger } from 'pino';
import type { AttemptResult, Outbox } from '../outbox/store.ts';

/** How long results may wait before they are written. */
const FLUSH_MS = 5;
/** Write at once when this many are waiting. */
const FLUSH_MAX = 512;
const RETRY_MS = 1000;

export interface WrittenResult {
  result: AttemptResult;
  webhookId: string;
}

export class ResultWriter {
  private pending: WrittenResult[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      outbox: Pick<Outbox, 'complete'>;
      logger: Logger;
      now: () => number;
      /** Called once a batch is on disk. */
      onWritten: (batch: readonly WrittenResult[]) => void;
    },
  ) {}

  add(result: AttemptResult, webhookId: string): void {
    this.pending.push({ result, webhookId });
    if (this.pending.length >= FLUSH_MAX) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** Writes what is waiting now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    try {
      this.deps.outbox.complete(
        batch.map((b) => b.result),
        this.deps.now(),
      );
    } catch (err) {
      this.deps.logger.error({ err, results: batch.length }, 'could not record attempt results; retrying');
      this.pending = batch.concat(this.pending);
      this.timer = setTimeout(() => this.flush(), RETRY_MS);
      return;
    }
    this.deps.onWritten(batch);
  }
}
