/**
 * The sandbox (a side lane): conditions and JSONata evaluated in a worker
 * with a time and memory budget per evaluation, enforced even inside one
 * built-in. Rules and templates reach it through their own small seams.
 */
export { EvalBudgetError, EvalFailedError, Sandbox, type SandboxOptions } from './pool.ts';
