/**
 * Starts one evaluation worker: its thread and the shared progress counter
 * the watchdog reads. The worker is unref'd (it never keeps the process
 * alive) and its heap is bounded by `resourceLimits`.
 */
import { Worker } from 'node:worker_threads';
import type { WorkerSettings } from './protocol.ts';

export interface Slot {
  thread: Worker;
  progress: Int32Array;
}

export function startWorker(settings: WorkerSettings, memoryMb: number): Slot {
  const thread = new Worker(WORKER_ENTRY, {
    eval: FROM_SOURCE,
    workerData: settings,
    resourceLimits: { maxOldGenerationSizeMb: memoryMb, maxYoungGenerationSizeMb: 16 },
  });
  thread.unref();
  return { thread, progress: new Int32Array(settings.progress) };
}

/**
 * The worker's own module: JavaScript when hookd is built; from source, a
 * two-line bootstrap registers tsx in the worker first (loader hooks are
 * per thread, and `--import` is not a worker option).
 */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_ENTRY = FROM_SOURCE
  ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
      .then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./eval-worker.ts', import.meta.url).href)}); });`
  : new URL('./eval-worker.js', import.meta.url);
