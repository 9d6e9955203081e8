/**
 * The CLI commands (top of the stack): run, check, explain, publish, retry.
 * This file is the folder's surface: other folders import only from here.
 */
export { runCheck } from './check.ts';
export { type Report, runExplain } from './explain.ts';
export { consoleOutput } from './output.ts';
export { runPublish } from './publish.ts';
export { runRetry } from './retry.ts';
export { runDaemon } from './run.ts';
