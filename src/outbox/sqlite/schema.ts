/**
 * The SQLite tables. Times are milliseconds since the epoch.
 *
 * A delivery is one (event identity, webhook) pair; its id is derived from
 * that pair, so a redelivered event maps onto the same row and the same
 * `webhook-id`. `event_id` alone is not unique: two sources may use one id.
 *
 * Lean on purpose (issue 14: every byte here is written to the WAL and again
 * at checkpoint, for every delivery): rows live in insertion order (`seq`),
 * the request is stored once (its body as sent, the rest as a small JSON
 * head), a success is kept on the delivery row instead of an attempts row,
 * and each index is either written once (`by_webhook`, `done`) or only
 * while a delivery is pending (`due`).
 */
import { rowKey } from './row-key.ts';

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS deliveries (
  seq              INTEGER PRIMARY KEY,    -- insertion order: paging and the retention walk
  key              INTEGER NOT NULL,       -- rowKey(id): what lookups use (not unique; the id is compared too)
  id               TEXT NOT NULL,
  event_id         TEXT NOT NULL,
  event_type       TEXT NOT NULL,
  webhook_id       TEXT NOT NULL,
  identifier       TEXT NOT NULL,
  transport        TEXT NOT NULL,
  priority         INTEGER NOT NULL,
  state            TEXT NOT NULL,          -- pending | succeeded | failed (in flight is tracked in memory)
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  INTEGER NOT NULL,
  received_at      INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  head             TEXT NOT NULL,          -- the rendered request but its body (JSON), sent unchanged on every attempt
  body             TEXT NOT NULL,          -- the rendered body, as sent
  last_error       TEXT,
  last_status      INTEGER,                -- the last attempt (the attempts table keeps failures, and successes when asked)
  last_started_at  INTEGER,
  last_duration_ms REAL,
  last_response    TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_key ON deliveries (key);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (webhook_id, next_attempt_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_by_webhook ON deliveries (webhook_id);
CREATE INDEX IF NOT EXISTS deliveries_done ON deliveries (state, updated_at) WHERE state <> 'pending';

CREATE TABLE IF NOT EXISTS attempts (
  id           INTEGER PRIMARY KEY,
  delivery_id  TEXT NOT NULL,
  attempt      INTEGER NOT NULL,
  started_at   INTEGER NOT NULL,
  duration_ms  REAL NOT NULL,
  outcome      TEXT NOT NULL,             -- success | retryable | permanent
  status       INTEGER,
  error        TEXT,
  response     TEXT
);
CREATE INDEX IF NOT EXISTS attempts_delivery ON attempts (delivery_id, attempt);

-- Events that could not be accepted (not JSON, not an object, too large, no id): kept with the reason.
CREATE TABLE IF NOT EXISTS rejected_events (
  id          INTEGER PRIMARY KEY,
  received_at INTEGER NOT NULL,
  source      TEXT NOT NULL,
  subject     TEXT,
  reason      TEXT NOT NULL,
  detail      TEXT,
  payload     BLOB
);

-- Runtime webhook state (breaker, operator): survives restarts.
CREATE TABLE IF NOT EXISTS webhook_states (
  webhook_id  TEXT PRIMARY KEY,
  state       TEXT NOT NULL,
  reason      TEXT,
  data        TEXT,
  updated_at  INTEGER NOT NULL
);

-- Webhooks created through the API.
CREATE TABLE IF NOT EXISTS webhooks (
  id          TEXT PRIMARY KEY,
  spec        TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);

-- Integer aliases of API webhooks, for the seed APIs whose ids are integers
-- (000 id, 001 WebhookId). AUTOINCREMENT: a deleted webhook's number is never reused.
CREATE TABLE IF NOT EXISTS webhook_numbers (
  number      INTEGER PRIMARY KEY AUTOINCREMENT,
  webhook_id  TEXT NOT NULL UNIQUE
);
`;

interface Db {
  prepare(sql: string): { all(...args: unknown[]): unknown[]; run(...args: unknown[]): unknown };
  exec(sql: string): unknown;
}

/**
 * Stores of earlier versions keep the whole request as JSON in `request`
 * (and some have `UNIQUE (event_id, webhook_id)`, which would drop a second
 * source's event), or a unique index of the ids instead of `key`: rebuild
 * that table once in the current layout, keeping every row. Runs before `SCHEMA`.
 */
export function migrate(db: Db): void {
  const columns = (
    db.prepare(`SELECT name FROM pragma_table_info('deliveries')`).all() as { name: string }[]
  ).map((c) => c.name);
  if (columns.length === 0 || columns.includes('key')) return;
  const v1 = columns.includes('request');
  const table = SCHEMA.slice(
    SCHEMA.indexOf('CREATE TABLE IF NOT EXISTS deliveries'),
    SCHEMA.indexOf(');') + 2,
  );
  db.exec(`BEGIN IMMEDIATE;
    DROP INDEX IF EXISTS deliveries_due;
    DROP INDEX IF EXISTS deliveries_webhook;
    DROP INDEX IF EXISTS deliveries_by_webhook;
    DROP INDEX IF EXISTS deliveries_done;
    ${table.replace('IF NOT EXISTS deliveries', 'deliveries_rebuilt')}
    INSERT INTO deliveries_rebuilt (key, id, event_id, event_type, webhook_id, identifier, transport, priority, state,
      attempts, next_attempt_at, received_at, updated_at, head, body, last_error)
    SELECT 0, id, event_id, event_type, webhook_id, identifier, transport, priority, state,
      attempts, next_attempt_at, received_at, updated_at,
      ${v1 ? `json_remove(request, '$.body'), coalesce(json_extract(request, '$.body'), '')` : 'head, body'}, last_error
    FROM deliveries ORDER BY ${v1 ? 'received_at' : 'seq'};`);
  const setKey = db.prepare(`UPDATE deliveries_rebuilt SET key = ? WHERE seq = ?`);
  for (const r of db.prepare(`SELECT seq, id FROM deliveries_rebuilt`).all() as {
    seq: number;
    id: string;
  }[]) {
    setKey.run(rowKey(r.id), r.seq);
  }
  db.exec(`DROP TABLE deliveries;
    ALTER TABLE deliveries_rebuilt RENAME TO deliveries;
    COMMIT;`);
}
