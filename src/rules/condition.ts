/**
 * `groupCondition` expressions: CEL (DESIGN.md section 3, step 4) through
 * `@marcbachmann/cel-js`, compiled once per webhook.
 *
 * An expression sees three variables: `data` (the event's `data`, or the
 * whole event when it has none), `event` (the whole event) and `attributes`
 * (the topic attributes, strings). JSON numbers are CEL doubles, as in CEL's
 * own JSON mapping: `data.n > 0` compares across types, arithmetic wants
 * `data.n * 2.0` or `int(data.n) * 2`.
 *
 * The sandbox: CEL has no way to name host objects; field access reads own
 * properties of plain objects only (so `constructor`, `__proto__` and
 * `toString` are missing keys); only CEL's standard functions exist. On top of
 * that, compile-time limits keep one condition from stalling the daemon: an
 * expression length, CEL's parse limits (AST nodes, nesting depth, literal
 * sizes), no nested comprehensions (`list.map(x, other.map(...))` is
 * quadratic in the event), and no `matches()`: JavaScript regular
 * expressions backtrack, and `.*a.*b` alone takes seconds on a 100 KB string.
 */
import { type ASTNode, Environment, type EvaluationError, type ParseError } from '@marcbachmann/cel-js';
import type { Attributes } from './attributes.ts';

/** Compile-time limits on one condition. */
export const CONDITION_LIMITS = Object.freeze({
  /** Characters in the expression. */
  maxLength: 2048,
  /** Nodes in the parsed expression. */
  maxAstNodes: 512,
  /** Nesting of calls, member access, indexes and literals. */
  maxDepth: 24,
  maxListElements: 128,
  maxMapEntries: 128,
  maxCallArguments: 8,
  /** Comprehensions (`all`, `exists`, `exists_one`, `map`, `filter`) inside one another. */
  maxComprehensionNesting: 1,
});

const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);
const REFUSED_FUNCTIONS = new Map([
  [
    'matches',
    'matches() is not allowed in conditions: regular expressions can backtrack for seconds on a crafted event; use startsWith(), endsWith() or contains()',
  ],
]);

/** The environment every condition is parsed in; created once, read-only afterwards. */
const env = new Environment({
  limits: {
    maxAstNodes: CONDITION_LIMITS.maxAstNodes,
    maxDepth: CONDITION_LIMITS.maxDepth,
    maxListElements: CONDITION_LIMITS.maxListElements,
    maxMapEntries: CONDITION_LIMITS.maxMapEntries,
    maxCallArguments: CONDITION_LIMITS.maxCallArguments,
  },
})
  .registerVariable('data', 'dyn')
  .registerVariable('event', 'dyn')
  .registerVariable('attributes', 'map<string, string>');

/** A condition that cannot be compiled; `column` is 1-based inside the expression. */
export class ConditionSyntaxError extends Error {
  readonly code = 'HOOKD_CONDITION_INVALID';
  constructor(
    message: string,
    readonly column?: number,
  ) {
    super(column === undefined ? message : `${message} (at column ${column})`);
  }
}

/** Evaluating a condition failed (missing key, type mismatch, ...): it counts as false. */
export class ConditionEvalError extends Error {
  readonly code = 'HOOKD_CONDITION_FAILED';
}

export interface ConditionContext {
  data: unknown;
  event: Record<string, unknown>;
  attributes: Attributes;
}

export interface Condition {
  readonly source: string;
  /** True or false; throws `ConditionEvalError` when the expression fails or is not a boolean. */
  evaluate(ctx: ConditionContext): boolean;
}

type CelError = ParseError | EvaluationError;

function columnOf(err: unknown): number | undefined {
  const start = (err as CelError | undefined)?.range?.start;
  return typeof start === 'number' ? start + 1 : undefined;
}

function summaryOf(err: unknown): string {
  const e = err as Partial<CelError> & Error;
  return e.summary ?? e.message?.split('\n')[0] ?? String(err);
}

/** Walks the parsed expression for what CEL's own limits do not cover. */
function checkAst(node: ASTNode, nesting: number): void {
  if (node.op === 'call' || node.op === 'rcall') {
    const name = node.args[0];
    const refused = REFUSED_FUNCTIONS.get(name);
    if (refused) throw new ConditionSyntaxError(refused, node.range.start + 1);
    if (node.op === 'rcall' && COMPREHENSIONS.has(name)) {
      if (nesting + 1 > CONDITION_LIMITS.maxComprehensionNesting) {
        throw new ConditionSyntaxError(
          `${name}() inside another comprehension is not allowed in conditions (its cost grows with the square of the event)`,
          node.range.start + 1,
        );
      }
      checkAst(node.args[1], nesting);
      for (const a of node.args[2]) checkAst(a, nesting + 1);
      return;
    }
  }
  visitChildren(node.args, (child) => checkAst(child, nesting));
}

function isNode(v: unknown): v is ASTNode {
  return typeof v === 'object' && v !== null && typeof (v as { op?: unknown }).op === 'string' && 'args' in v;
}

function visitChildren(args: unknown, visit: (n: ASTNode) => void): void {
  if (isNode(args)) visit(args);
  else if (Array.isArray(args)) for (const a of args) visitChildren(a, visit);
}

/** Compiled conditions by source: many webhooks share one (seed 000 repeats it per customer). */
const cache = new Map<string, Condition>();

/** Compiles one expression (cached; conditions hold no state); throws `ConditionSyntaxError` with a column where it can. */
export function compileCondition(source: string): Condition {
  let c = cache.get(source);
  if (c === undefined) {
    c = compileUncached(source);
    // Bounded: conditions change at run time through the API.
    if (cache.size >= 10_000) cache.clear();
    cache.set(source, c);
  }
  return c;
}

function compileUncached(source: string): Condition {
  if (source.length > CONDITION_LIMITS.maxLength) {
    throw new ConditionSyntaxError(
      `the condition is ${source.length} characters long; the limit is ${CONDITION_LIMITS.maxLength}`,
    );
  }
  let fn: ReturnType<typeof env.parse>;
  try {
    fn = env.parse(source);
  } catch (err) {
    throw new ConditionSyntaxError(`invalid CEL: ${summaryOf(err)}`, columnOf(err));
  }
  checkAst(fn.ast, 0);
  const checked = fn.check();
  if (!checked.valid) {
    const hint = /Unknown variable/.test(summaryOf(checked.error))
      ? '; conditions can use data, event and attributes'
      : '';
    throw new ConditionSyntaxError(
      `invalid CEL: ${summaryOf(checked.error)}${hint}`,
      columnOf(checked.error),
    );
  }
  if (checked.type !== 'bool' && checked.type !== 'dyn') {
    throw new ConditionSyntaxError(`a condition must be true or false, but this one gives ${checked.type}`);
  }
  return {
    source,
    evaluate(ctx) {
      let v: unknown;
      // A failing condition throws inside cel-js on every such event; without
      // stack traces (nobody reads them) that costs several times less.
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 0;
      try {
        v = fn(ctx);
      } catch (err) {
        const col = columnOf(err);
        const hint = (err as Partial<CelError>).code === 'no_such_key' ? ' (guard it with has())' : '';
        const at = col === undefined ? '' : ` at column ${col}`;
        throw new ConditionEvalError(`${summaryOf(err)}${hint}${at}`, { cause: err });
      } finally {
        Error.stackTraceLimit = limit;
      }
      if (typeof v !== 'boolean') {
        throw new ConditionEvalError(`the condition gave ${describe(v)} instead of true or false`);
      }
      return v;
    },
  };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'bigint') return `the int ${v}`;
  if (typeof v === 'number') return `the double ${v}`;
  if (typeof v === 'string') return `a string`;
  return Array.isArray(v) ? 'a list' : `a ${typeof v === 'object' ? 'map' : typeof v}`;
}
