/**
 * Messages between the sandbox pool and its evaluation worker. One batch
 * message carries every evaluation queued in one turn of the event loop;
 * events are sent once per batch and referenced by index.
 */

/** `cel`: a condition, the result a boolean; `jsonata`: the result is its value as JSON text. */
export type EvalKind = 'cel' | 'jsonata';

export interface EvalItem {
  kind: EvalKind;
  /** Index into the batch's `sources`. */
  source: number;
  /** Index into the batch's `docs`: the event body (conditions: with its attributes). */
  doc: number;
  /** Index into the batch's `attributes`: the event's topic attributes (conditions only). */
  attributes?: number;
}

export interface EvalBatch {
  id: number;
  sources: string[];
  docs: unknown[];
  attributes: Record<string, string | undefined>[];
  items: EvalItem[];
}

/**
 * One outcome: `value` is the condition's boolean, or the JSONata value as
 * JSON text (undefined when the expression gives nothing). `error` is why it
 * failed, with jsonata's own `code` and `position` when it has them.
 */
export type EvalResult =
  | { ok: true; value: boolean | string | undefined }
  | { ok: false; error: { message: string; code?: string; position?: number } };

export interface EvalReply {
  id: number;
  results: EvalResult[];
}

/** Int32 slots of the shared progress counter the pool's watchdog reads. */
export const PROGRESS_BATCH = 0;
/** 1 + the index of the item being evaluated; 0 when idle. */
export const PROGRESS_ITEM = 1;
/** The worker's Linux thread id (0 when unknown), for its CPU time. */
export const PROGRESS_THREAD = 2;
export const PROGRESS_SLOTS = 3;

export interface WorkerSettings {
  progress: SharedArrayBuffer;
  /** `events.evalTimeoutMs`. */
  timeoutMs: number;
  /** A starved evaluation is stopped anyway after this many budgets of wall time. */
  maxWallFactor: number;
  /** Largest JSONata result, as JSON text (`delivery.maxRequestBytes`). */
  maxOutputBytes: number;
}
