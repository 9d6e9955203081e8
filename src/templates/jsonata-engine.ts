/**
 * The seam between templates and the `jsonata` package. Templates compile
 * every expression once through a `JsonataEngine`; tests inject a counting
 * engine to prove that templates without JSONata never reach it.
 */
import jsonata from 'jsonata';

export interface JsonataExpression {
  evaluate(input: unknown): Promise<unknown>;
}

export interface JsonataEngine {
  /** Compiles one expression; throws the jsonata error object on a syntax error. */
  compile(expression: string): JsonataExpression;
}

/** Guardrails against expressions that run away (jsonata 2.x `timeout`, `stack`, `sequence` options). */
export interface JsonataLimits {
  /** Milliseconds one evaluation may run. @default 1000 */
  timeoutMs?: number;
  /** Maximum evaluation depth (recursion). @default 500 */
  stack?: number;
  /** Maximum length of any sequence built. @default 1000000 */
  sequence?: number;
}

export function jsonataEngine(limits: JsonataLimits = {}): JsonataEngine {
  const options = {
    timeout: limits.timeoutMs ?? 1000,
    stack: limits.stack ?? 500,
    sequence: limits.sequence ?? 1_000_000,
  };
  return { compile: (expression) => jsonata(expression, options) };
}

/** The engine used when none is injected. */
export const defaultJsonataEngine: JsonataEngine = jsonataEngine();

/** Evaluates JSONata off the event loop with a budget (the sandbox). */
export interface JsonataRunner {
  jsonata(expression: string, input: object): Promise<unknown>;
}

/**
 * An engine whose expressions compile here (a syntax error is a config
 * error at load, with its position) and evaluate in `runner`.
 */
export function sandboxedJsonata(
  runner: JsonataRunner,
  local: JsonataEngine = defaultJsonataEngine,
): JsonataEngine {
  return {
    compile(expression) {
      local.compile(expression);
      return { evaluate: (input) => runner.jsonata(expression, input as object) };
    },
  };
}

/** jsonata throws plain objects `{code, position, token, message}`, not Errors. */
export function jsonataMessage(err: unknown): string {
  if (err !== null && typeof err === 'object') {
    const e = err as { code?: unknown; position?: unknown; message?: unknown };
    const message = typeof e.message === 'string' ? e.message : String(err);
    const code = typeof e.code === 'string' ? `${e.code} ` : '';
    const at = typeof e.position === 'number' && e.position > 0 ? ` (at character ${e.position})` : '';
    return `${code}${message}${at}`;
  }
  return String(err);
}
