/**
 * The writer thread: the one owner of the store's write connection. It takes
 * every operation that arrived while it was busy, runs them as one group
 * (one transaction, one sync: `WriteOps.group`) and answers them together,
 * so intake batches and result batches that come close together share a
 * sync, and the event loop never waits for a disk.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Database } from './driver.ts';
import { type OpReply, type WriteOp, WriteOps } from './write-ops.ts';

export interface WriterData {
  path: string;
  logSuccesses: boolean;
}

/** A request from the main thread: an operation with the number its answer carries, or `close`. */
export type WriterRequest = { n: number; op: WriteOp } | 'close';
/** The answers of one group, in order. */
export type WriterReply = [number, OpReply][];

const { path, logSuccesses } = workerData as WriterData;
const db = new Database(path);
db.pragma('busy_timeout = 5000');
// Checkpoints run in the checkpointer thread; this connection's own only if that one is gone.
db.pragma('wal_autocheckpoint = 10000');
const ops = new WriteOps(db, logSuccesses);
const port = parentPort!;
let queue: { n: number; op: WriteOp }[] = [];
let scheduled = false;
let closed = false;

function run(): void {
  scheduled = false;
  if (closed || queue.length === 0) return;
  const group = queue;
  queue = [];
  const replies = ops.group(group.map((q) => q.op));
  port.postMessage(group.map((q, i): [number, OpReply] => [q.n, replies[i]!]) satisfies WriterReply);
}

port.on('message', (m: WriterRequest) => {
  if (m === 'close') {
    run();
    closed = true;
    db.close();
    port.close();
    return;
  }
  queue.push(m);
  // Everything that arrives before this turn ends joins the group.
  if (!scheduled) {
    scheduled = true;
    setImmediate(run);
  }
});
