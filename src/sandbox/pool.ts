/**
 * The sandbox: CEL conditions and JSONata expressions evaluated off the
 * event loop, each with a real budget (DESIGN.md section 4, "Bounds").
 *
 * Evaluations asked for in one turn of the event loop go to the worker as
 * one batch (an intake batch is one message, not one per event). The
 * worker writes which evaluation it is running into a shared counter; a
 * watchdog here, running only while a batch is out, terminates the worker
 * when one evaluation has run `timeoutMs`, even inside one built-in (a
 * backtracking regex), and `resourceLimits` stops one from taking the
 * memory. That evaluation fails with `EvalBudgetError`; the rest of its
 * batch goes to a fresh worker. The main thread only waits, so `/healthz`
 * and intake of other events go on throughout.
 *
 * One concept over 300 lines: the worker pool and its watchdog share the
 * batch state and must be read together.
 */
import type { Logger } from 'pino';
import {
  type EvalBatch,
  type EvalItem,
  type EvalKind,
  type EvalReply,
  type EvalResult,
  PROGRESS_BATCH,
  PROGRESS_ITEM,
  PROGRESS_SLOTS,
  PROGRESS_THREAD,
} from './protocol.ts';
import { threadCpuMs } from './thread-cpu.ts';
import { type Slot, startWorker } from './worker-slot.ts';

export interface SandboxOptions {
  /** Wall time one evaluation may run (`events.evalTimeoutMs`). */
  timeoutMs: number;
  /** Largest JSONata result as JSON text (`delivery.maxRequestBytes`). */
  maxOutputBytes: number;
  /** Heap limit of the worker, MiB. @default 128 */
  memoryMb?: number;
  logger?: Logger;
  /** Called for every evaluation stopped by its budget (`timeout` or `memory`). */
  onBreach?: (kind: EvalKind, budget: 'timeout' | 'memory') => void;
}

/** An evaluation ran past its time or memory budget; it counts as a failure for that event alone. */
export class EvalBudgetError extends Error {
  readonly code = 'HOOKD_EVAL_BUDGET';
}

/** The expression itself failed (a missing key, a type error, jsonata's own limits). */
export class EvalFailedError extends Error {
  readonly code: string;
  constructor(
    message: string,
    code?: string,
    readonly position?: number,
  ) {
    super(message);
    // jsonata's codes (T2001, D3012...) are what its users look up.
    this.code = code ?? 'HOOKD_EVAL_FAILED';
  }
}

interface Pending {
  kind: EvalKind;
  source: string;
  doc: object;
  attributes?: Record<string, string | undefined>;
  resolve: (r: EvalResult) => void;
  /** Workers lost while this was queued behind the culprit; bounded so nothing loops forever. */
  retries: number;
}

interface InFlight {
  batch: EvalBatch;
  pending: Pending[];
  /** Item (1-based) the watchdog last saw running, and since when. */
  seenItem: number;
  seenAt: number;
  /** CPU milliseconds the worker thread had used then, when /proc tells. */
  seenCpu: number | undefined;
}

const MAX_BATCH = 4096;
const MAX_RETRIES = 3;
/** A starved evaluation is stopped anyway after this many budgets of wall time. */
const MAX_WALL_FACTOR = 20;

export class Sandbox {
  private queue: Pending[] = [];
  private inflight: InFlight | undefined;
  private worker: Slot | undefined;
  /** Started beside the worker, so a breach costs no start-up time (a worker takes ~0.5 s to load). */
  private spare: Slot | undefined;
  private scheduled = false;
  private nextId = 1;
  private watchdog: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly tickMs: number;

  constructor(private readonly opts: SandboxOptions) {
    this.tickMs = Math.max(1, Math.min(10, Math.floor(opts.timeoutMs / 4)));
  }

  /** Evaluates a CEL condition; resolves true or false, rejects with `EvalFailedError` or `EvalBudgetError`. */
  async condition(
    source: string,
    doc: object,
    attributes: Record<string, string | undefined>,
  ): Promise<boolean> {
    const r = await this.enqueue('cel', source, doc, attributes);
    if (!r.ok) throw this.errorOf(r);
    return r.value === true;
  }

  /** Evaluates a JSONata expression against `doc`; resolves its value (JSON-shaped). */
  async jsonata(source: string, doc: object): Promise<unknown> {
    const r = await this.enqueue('jsonata', source, doc);
    if (!r.ok) throw this.errorOf(r);
    return typeof r.value === 'string' ? JSON.parse(r.value) : undefined;
  }

  /** Terminates the worker; evaluations still queued fail. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopWatchdog();
    const pending = [...(this.inflight?.pending ?? []), ...this.queue];
    this.inflight = undefined;
    this.queue = [];
    for (const p of pending) p.resolve({ ok: false, error: { message: 'the sandbox was closed' } });
    const slots = [this.worker, this.spare];
    this.worker = this.spare = undefined;
    await Promise.all(slots.map((s) => s?.thread.terminate()));
  }

  private errorOf(r: Extract<EvalResult, { ok: false }>): Error {
    if (r.error.code === 'HOOKD_EVAL_BUDGET') return new EvalBudgetError(r.error.message);
    return new EvalFailedError(r.error.message, r.error.code, r.error.position);
  }

  private enqueue(
    kind: EvalKind,
    source: string,
    doc: object,
    attributes?: Record<string, string | undefined>,
  ): Promise<EvalResult> {
    if (this.closed)
      return Promise.resolve({ ok: false, error: { message: 'the sandbox was closed' } } as EvalResult);
    return new Promise((resolve) => {
      this.queue.push({ kind, source, doc, attributes, resolve, retries: 0 });
      if (!this.scheduled) {
        this.scheduled = true;
        // Everything asked for in this turn goes out as one batch.
        queueMicrotask(() => {
          this.scheduled = false;
          this.pump();
        });
      }
    });
  }

  /** Sends the next batch when the worker is free. */
  private pump(): void {
    if (this.inflight || this.queue.length === 0 || this.closed) return;
    const pending = this.queue.splice(0, MAX_BATCH);
    const sources: string[] = [];
    const sourceIndex = new Map<string, number>();
    const docs: unknown[] = [];
    const docIndex = new Map<object, number>();
    const attributes: Record<string, string | undefined>[] = [];
    const attrIndex = new Map<object, number>();
    const items: EvalItem[] = pending.map((p) => {
      let source = sourceIndex.get(p.source);
      if (source === undefined) {
        source = sources.push(p.source) - 1;
        sourceIndex.set(p.source, source);
      }
      let doc = docIndex.get(p.doc);
      if (doc === undefined) {
        doc = docs.push(p.doc) - 1;
        docIndex.set(p.doc, doc);
      }
      if (!p.attributes) return { kind: p.kind, source, doc };
      let a = attrIndex.get(p.attributes);
      if (a === undefined) {
        a = attributes.push(p.attributes) - 1;
        attrIndex.set(p.attributes, a);
      }
      return { kind: p.kind, source, doc, attributes: a };
    });
    const batch: EvalBatch = { id: this.nextId++, sources, docs, attributes, items };
    if (this.nextId > 0x3fff_ffff) this.nextId = 1;
    this.inflight = { batch, pending, seenItem: 0, seenAt: 0, seenCpu: undefined };
    this.ensureWorker().thread.postMessage(batch);
    this.watchdog ??= setInterval(() => this.check(), this.tickMs);
    this.watchdog.unref();
  }

  private onReply(reply: EvalReply): void {
    const f = this.inflight;
    if (!f || reply.id !== f.batch.id) return;
    this.inflight = undefined;
    this.stopWatchdog();
    for (let i = 0; i < f.pending.length; i++) f.pending[i]!.resolve(reply.results[i]!);
    this.pump();
  }

  /**
   * The watchdog: one evaluation seen running for `timeoutMs` is over its
   * budget, unless the worker thread was starved rather than busy (it used
   * less CPU than the budget meanwhile, on a machine shared with other
   * work); then it gets up to `MAX_WALL_FACTOR` times the budget in wall time.
   */
  private check(): void {
    const f = this.inflight;
    const progress = this.worker?.progress;
    if (!f || !progress) return;
    if (Atomics.load(progress, PROGRESS_BATCH) !== f.batch.id) return;
    const item = Atomics.load(progress, PROGRESS_ITEM);
    const now = performance.now();
    if (item === 0) return;
    const tid = Atomics.load(progress, PROGRESS_THREAD);
    if (item !== f.seenItem) {
      f.seenItem = item;
      f.seenAt = now;
      f.seenCpu = tid ? threadCpuMs(tid) : undefined;
      return;
    }
    const budget = this.opts.timeoutMs;
    const wall = now - f.seenAt;
    if (wall < budget) return;
    if (wall < budget * MAX_WALL_FACTOR && f.seenCpu !== undefined) {
      const cpu = threadCpuMs(tid);
      if (cpu !== undefined && cpu - f.seenCpu < budget) return;
    }
    this.breach(
      item - 1,
      'timeout',
      `the evaluation ran past its budget (events.evalTimeoutMs: ${budget} ms) and was stopped`,
    );
  }

  /**
   * Fails evaluation `index` of the batch out, replaces the worker, and
   * queues the rest of the batch first in line (with `index` unknown, as
   * when the worker died between evaluations, every one is retried a
   * bounded number of times).
   */
  private breach(index: number, budget: 'timeout' | 'memory', message: string): void {
    const f = this.inflight;
    this.inflight = undefined;
    this.stopWatchdog();
    const w = this.worker?.thread;
    this.worker = undefined;
    if (w) {
      w.removeAllListeners();
      w.on('error', () => {});
      void w.terminate();
    }
    if (!f) return;
    const culprit = f.pending[index];
    if (culprit) {
      this.opts.onBreach?.(culprit.kind, budget);
      culprit.resolve({ ok: false, error: { message, code: 'HOOKD_EVAL_BUDGET' } });
    }
    const rest: Pending[] = [];
    for (const p of f.pending) {
      if (p === culprit) continue;
      if (!culprit && ++p.retries > MAX_RETRIES) p.resolve({ ok: false, error: { message } });
      else rest.push(p);
    }
    this.queue.unshift(...rest);
    this.pump();
  }

  private ensureWorker(): Slot {
    if (!this.worker) {
      this.worker = this.spare ?? this.spawn();
      this.spare = undefined;
    }
    this.spare ??= this.spawn();
    return this.worker;
  }

  private spawn(): Slot {
    const slot = startWorker(
      {
        progress: new SharedArrayBuffer(PROGRESS_SLOTS * 4),
        timeoutMs: this.opts.timeoutMs,
        maxWallFactor: MAX_WALL_FACTOR,
        maxOutputBytes: this.opts.maxOutputBytes,
      },
      this.opts.memoryMb ?? 128,
    );
    slot.thread.on('message', (reply: EvalReply) => this.onReply(reply));
    const lost = (why: string) => {
      if (this.spare === slot) {
        this.spare = undefined;
        return;
      }
      if (this.worker !== slot) return;
      const item = Atomics.load(slot.progress, PROGRESS_ITEM);
      const batch = Atomics.load(slot.progress, PROGRESS_BATCH);
      const index = this.inflight && batch === this.inflight.batch.id ? item - 1 : -1;
      this.opts.logger?.warn({ reason: why }, 'evaluation worker stopped; starting a new one');
      this.breach(index, 'memory', `the evaluation was stopped: ${why}`);
    };
    slot.thread.on('error', (err) => lost(err.message));
    slot.thread.on('exit', (code) => lost(`the worker exited with code ${code}`));
    return slot;
  }

  private stopWatchdog(): void {
    clearInterval(this.watchdog);
    this.watchdog = undefined;
  }
}
