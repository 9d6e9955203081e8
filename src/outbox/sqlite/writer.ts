/**
 * How the store's writes reach their connection. A file store writes in the
 * writer thread (`writer-thread.ts`): the event loop hands an operation over
 * and gets a promise that settles once the commit covering it returned. An
 * in-memory store (tests, tools) has no file a thread could open: it writes
 * on the caller's connection, one operation per transaction.
 */
import { Worker } from 'node:worker_threads';
import { StoreError } from '../errors.ts';
import type { Database } from './driver.ts';
import { type OpReply, type WriteOp, WriteOps } from './write-ops.ts';
import type { WriterData, WriterReply, WriterRequest } from './writer-thread.ts';

export interface Writer {
  /** Resolves with the operation's value once it is committed; rejects with `StoreError`. */
  run(op: WriteOp): Promise<unknown>;
  close(): Promise<void>;
}

function settle(reply: OpReply): unknown {
  if (reply.ok) return reply.value;
  const cause = Object.assign(new Error(reply.error.message), { code: reply.error.code });
  throw new StoreError(`the outbox could not be written: ${reply.error.message}`, { cause });
}

/** Writes on the caller's connection (an in-memory store). */
export class InlineWriter implements Writer {
  private readonly ops: WriteOps;

  constructor(db: Database, logSuccesses: boolean) {
    this.ops = new WriteOps(db, logSuccesses);
  }

  async run(op: WriteOp): Promise<unknown> {
    return settle(this.ops.group([op])[0]!);
  }

  async close(): Promise<void> {}
}

/**
 * The module the thread runs: JavaScript when hookd is built; from source, a
 * two-line bootstrap registers tsx in the thread first (loader hooks are per
 * thread, and `--import` is not a worker option).
 */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const ENTRY = FROM_SOURCE
  ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
      .then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./writer-thread.ts', import.meta.url).href)}); });`
  : new URL('./writer-thread.js', import.meta.url);

/** The writer thread's young generation (MiB). */
const WRITER_YOUNG_MB = 8;

/** Writes in the writer thread; a thread that died is started again for the next operation. */
export class ThreadWriter implements Writer {
  private thread: Worker | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private next = 0;

  constructor(private readonly data: WriterData) {
    this.start();
  }

  private start(): Worker {
    const thread = new Worker(ENTRY, {
      eval: FROM_SOURCE,
      workerData: this.data,
      // What the thread allocates dies young (operations in transit): a young generation of the
      // default size (48 MiB) only held garbage, about 30 MiB of RSS in the held-deliveries bench.
      resourceLimits: { maxYoungGenerationSizeMb: WRITER_YOUNG_MB },
    });
    thread.unref();
    thread.on('message', (replies: WriterReply) => {
      for (const [n, reply] of replies) {
        const w = this.waiting.get(n);
        if (!w) continue;
        this.waiting.delete(n);
        try {
          w.resolve(settle(reply));
        } catch (err) {
          w.reject(err as Error);
        }
      }
      // Idle: the thread never keeps the process alive on its own.
      if (this.waiting.size === 0) thread.unref();
    });
    const lost = (why: string) => {
      if (this.thread !== thread) return;
      this.thread = undefined;
      const err = new StoreError(`the outbox writer thread stopped: ${why}`);
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    thread.on('error', (err) => lost(err.message));
    this.exited = new Promise((resolve) =>
      thread.once('exit', (code) => {
        lost(`exited with code ${code}`);
        resolve();
      }),
    );
    this.thread = thread;
    return thread;
  }

  run(op: WriteOp): Promise<unknown> {
    const thread = this.thread ?? this.start();
    const n = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(n, { resolve, reject });
      // Something to wait for: keep the process alive until it is answered.
      if (this.waiting.size === 1) thread.ref();
      thread.postMessage({ n, op } satisfies WriterRequest);
    });
  }

  /** Writes what was handed over, then the thread ends. */
  async close(): Promise<void> {
    const thread = this.thread;
    if (!thread) return;
    thread.ref();
    thread.postMessage('close' satisfies WriterRequest);
    await this.exited;
  }
}
