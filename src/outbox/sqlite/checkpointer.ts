/**
 * WAL checkpoints off the event loop (issue 14: 47 checkpoints per 20k
 * deliveries each blocked the loop 10–54 ms). A worker thread with its own
 * connection runs a PASSIVE checkpoint every `everyMs`; the writer thread
 * keeps appending meanwhile (WAL allows it; a checkpoint there would hold
 * every commit behind it), and the next write after a complete checkpoint
 * starts the WAL over. The writer's connection keeps a large auto-checkpoint
 * as a safety net in case this thread is gone.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { driverName } from './driver.ts';

/** Plain CommonJS run with `eval`: no TypeScript loader needed in the thread. */
const SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 1000');
const checkpoint = () => { try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {} };
const timer = setInterval(checkpoint, workerData.everyMs);
parentPort.on('message', () => {
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

export class Checkpointer {
  private readonly thread: Worker;
  private readonly exited: Promise<void>;

  constructor(path: string, everyMs = 500) {
    const driver = createRequire(import.meta.url).resolve(driverName);
    this.thread = new Worker(SOURCE, {
      eval: true,
      workerData: { path, driver, everyMs },
      // It allocates next to nothing: a small heap, not the defaults' tens of MiB.
      resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 },
    });
    this.thread.unref();
    this.exited = new Promise((resolve) => this.thread.once('exit', () => resolve()));
    // A checkpointer that failed only means the main connection's own auto-checkpoint takes over.
    this.thread.on('error', () => {});
  }

  /** A last checkpoint, then the thread ends. */
  async close(): Promise<void> {
    // Kept alive until it has ended: the last checkpoint finishes before the file is closed.
    this.thread.ref();
    this.thread.postMessage('close');
    await this.exited;
  }
}
