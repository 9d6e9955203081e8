/**
 * The better-sqlite3 build for the Node that runs hookd. On Node 20 it is
 * 12.x (pinned, DESIGN.md section 10: 13.x crashes there). On Node 24 it
 * is 13.x (Node-API), installed as the optional alias `better-sqlite3-napi`:
 * Node 24 changed `node::ObjectWrap`, and 12.x aborts the process
 * ("Assertion failed: (env) != nullptr" in RemoveEnvironmentCleanupHook)
 * whenever V8 collects one of its statements, in normal operation too.
 */
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

const require = createRequire(import.meta.url);

/** Node's major version from which 13.x (Node-API) is used. */
export const NODE_API_FROM_MAJOR = 24;

export const driverName =
  Number(process.versions.node.split('.')[0]) >= NODE_API_FROM_MAJOR
    ? 'better-sqlite3-napi'
    : 'better-sqlite3';

/** The `Database` class of better-sqlite3 (the same API in 12.x and 13.x). */
export const Database: typeof BetterSqlite3 = require(driverName);
export type Database = BetterSqlite3.Database;
