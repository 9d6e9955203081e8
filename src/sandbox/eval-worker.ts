/**
 * The evaluation worker: runs CEL conditions and JSONata expressions for
 * the sandbox pool, one batch at a time. Before each evaluation it writes
 * the batch and item into the shared progress counter, so the pool's
 * watchdog knows which evaluation ran past its budget when it has to
 * terminate this thread (a regex inside one built-in cannot be interrupted
 * any other way). Compiled expressions are kept per source for the life of
 * the worker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import jsonata from 'jsonata';
import { type Condition, compileCondition } from '../rules/index.ts';
import { jsonataMessage } from '../templates/index.ts';
import {
  type EvalBatch,
  type EvalItem,
  type EvalReply,
  type EvalResult,
  PROGRESS_BATCH,
  PROGRESS_ITEM,
  PROGRESS_THREAD,
  type WorkerSettings,
} from './protocol.ts';
import { ownThreadId } from './thread-cpu.ts';

const settings = workerData as WorkerSettings;
const progress = new Int32Array(settings.progress);
Atomics.store(progress, PROGRESS_THREAD, ownThreadId() ?? 0);
const MAX_CACHED = 10_000;
const expressions = new Map<string, jsonata.Expression>();
const conditions = new Map<string, Condition>();

function cached<T>(cache: Map<string, T>, source: string, compile: (s: string) => T): T {
  let c = cache.get(source);
  if (c === undefined) {
    c = compile(source);
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(source, c);
  }
  return c;
}

function compileJsonata(source: string): jsonata.Expression {
  // jsonata's own step check counts wall time from the start of the evaluation, so a machine busy
  // with other work trips it on a trivial expression; the pool's watchdog (CPU-aware) is the budget,
  // this only a backstop at its longest wall time.
  const timeout = settings.timeoutMs * settings.maxWallFactor;
  const e = jsonata(source, { timeout, stack: 500, sequence: 1_000_000 } as never);
  e.registerFunction('pad', boundedPad, '<s-ns?:s>');
  return e;
}

/**
 * jsonata's `$pad`, with the width capped at the output budget: the
 * built-in makes a string of any width in one step, outside the heap
 * limit (`$pad('', 1e8)` took 95 MiB in no time).
 */
function boundedPad(str: string | undefined, width: number, char?: string): string | undefined {
  if (str === undefined) return undefined;
  const w = Math.trunc(width);
  if (Math.abs(w) > settings.maxOutputBytes) {
    throw {
      code: 'D3141',
      message: `$pad width ${w} is over delivery.maxRequestBytes (${settings.maxOutputBytes})`,
    };
  }
  const fill = char === undefined || char.length === 0 ? ' ' : char;
  const padLength = Math.abs(w) - [...str].length;
  if (padLength <= 0) return str;
  let padding = fill.repeat(padLength);
  if (fill.length > 1) padding = [...padding].slice(0, padLength).join('');
  return w > 0 ? str + padding : padding + str;
}

function failure(err: unknown): EvalResult {
  const e = err as { message?: unknown; code?: unknown; position?: unknown } | undefined;
  return {
    ok: false,
    error: {
      message: typeof e?.message === 'string' ? e.message : jsonataMessage(err),
      code: typeof e?.code === 'string' ? e.code : undefined,
      position: typeof e?.position === 'number' ? e.position : undefined,
    },
  };
}

/** The value as JSON text within the output budget. */
function output(value: unknown): EvalResult {
  if (value === undefined) return { ok: true, value: undefined };
  const max = settings.maxOutputBytes;
  if (typeof value === 'string' && value.length > max) return tooLarge(value.length);
  const text = JSON.stringify(value);
  if (text === undefined) return { ok: true, value: undefined };
  if (text.length > max || Buffer.byteLength(text) > max) return tooLarge(Buffer.byteLength(text));
  return { ok: true, value: text };
}

const tooLarge = (n: number): EvalResult => ({
  ok: false,
  error: {
    message: `the result is ${n} bytes or more; delivery.maxRequestBytes is ${settings.maxOutputBytes}`,
  },
});

/** A condition, synchronously: most items of a batch are these, and they need no promise. */
function condition(batch: EvalBatch, item: EvalItem): EvalResult {
  try {
    const c = cached(conditions, batch.sources[item.source]!, compileCondition);
    const doc = batch.docs[item.doc] as Record<string, unknown>;
    const data = Object.hasOwn(doc, 'data') ? doc.data : doc;
    const attributes = item.attributes === undefined ? {} : batch.attributes[item.attributes]!;
    return { ok: true, value: c.evaluate({ data, event: doc, attributes }) };
  } catch (err) {
    return failure(err);
  }
}

async function expression(batch: EvalBatch, item: EvalItem): Promise<EvalResult> {
  try {
    const e = cached(expressions, batch.sources[item.source]!, compileJsonata);
    return output(await e.evaluate(batch.docs[item.doc]));
  } catch (err) {
    return failure(err);
  }
}

/** Compiles what a batch uses before any evaluation is timed: a fresh worker must not spend a budget on it. */
function compileSources(batch: EvalBatch): void {
  const kinds = new Map<number, EvalItem['kind']>();
  for (const item of batch.items) kinds.set(item.source, item.kind);
  for (const [i, kind] of kinds) {
    try {
      if (kind === 'cel') cached(conditions, batch.sources[i]!, compileCondition);
      else cached(expressions, batch.sources[i]!, compileJsonata);
    } catch {
      // Reported by the item's own evaluation.
    }
  }
}

// Run both engines once before taking work: the first evaluation in a fresh
// thread compiles their code, which is no evaluation's fault.
compileCondition('data.warm == 1').evaluate({ data: { warm: 1 }, event: {}, attributes: {} });
await compileJsonata('$string(warm) & "x"').evaluate({ warm: 1 });

parentPort!.on('message', async (batch: EvalBatch) => {
  const results: EvalResult[] = new Array(batch.items.length);
  compileSources(batch);
  Atomics.store(progress, PROGRESS_BATCH, batch.id);
  for (let i = 0; i < batch.items.length; i++) {
    Atomics.store(progress, PROGRESS_ITEM, i + 1);
    const item = batch.items[i]!;
    results[i] = item.kind === 'cel' ? condition(batch, item) : await expression(batch, item);
  }
  Atomics.store(progress, PROGRESS_ITEM, 0);
  parentPort!.postMessage({ id: batch.id, results } satisfies EvalReply);
});
