/**
 * Attempt results wait a few milliseconds and are written together in one
 * transaction: one commit per batch instead of one per attempt. A batch that
 * cannot be written is kept and tried again; an unrecorded result can only
 * make hookd resend a delivery (same webhook-id), never lose it.
 */
import type { Logger } from 'pino';
import type { AttemptResult, DeliveryStore } from '../outbox/index.ts';

/**
 * How long results may wait before they are written: off the event loop
 * now, so only the bytes count (each commit rewrites the pages it touches:
 * 100 ms wrote 7 % fewer bytes per delivery than 20 ms in a drain). A retry
 * waits at least its schedule's next delay anyway.
 */
const FLUSH_MS = 100;
/** Write at once when this many are waiting. */
const FLUSH_MAX = 4096;
const RETRY_MS = 1000;

export interface WrittenResult {
  result: AttemptResult;
  webhookId: string;
}

export class ResultWriter {
  private pending: WrittenResult[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;

  constructor(
    private readonly deps: {
      outbox: Pick<DeliveryStore, 'complete'>;
      /**
       * How long results may wait to be written together (default
       * `FLUSH_MS`). 0: at once (the jetstream queue: a delivery holds its
       * slot of the webhook's cluster-wide limit until its result is written).
       */
      delayMs?: number;
      logger: Logger;
      now: () => number;
      /** Called once a batch is on disk. */
      onWritten: (batch: readonly WrittenResult[]) => void;
    },
  ) {}

  add(result: AttemptResult, webhookId: string): void {
    this.pending.push({ result, webhookId });
    if (this.pending.length >= FLUSH_MAX) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.deps.delayMs ?? FLUSH_MS);
  }

  /** Writes what is waiting now (after the batch being written, if any). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.writing) await this.writing;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const writing = this.write(batch);
    this.writing = writing;
    await writing;
    this.writing = undefined;
  }

  private async write(batch: WrittenResult[]): Promise<void> {
    try {
      await this.deps.outbox.complete(
        batch.map((b) => b.result),
        this.deps.now(),
      );
    } catch (err) {
      this.deps.logger.error({ err, results: batch.length }, 'could not record attempt results; retrying');
      this.pending = batch.concat(this.pending);
      this.timer = setTimeout(() => void this.flush(), RETRY_MS);
      return;
    }
    this.deps.onWritten(batch);
  }
}
