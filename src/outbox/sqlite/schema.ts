/**
 * The outbox tables. Times are milliseconds since the epoch.
 * A delivery is one (event identity, webhook) pair; its id is derived from
 * that pair, so a redelivered event maps onto the same row and the same
 * `webhook-id`. `event_id` alone is not unique: two sources may use one id.
 */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS deliveries (
  id              TEXT PRIMARY KEY,
  event_id        TEXT NOT NULL,
  event_type      TEXT NOT NULL,
  webhook_id      TEXT NOT NULL,
  identifier      TEXT NOT NULL,
  transport       TEXT NOT NULL,
  priority        INTEGER NOT NULL,
  state           TEXT NOT NULL,          -- pending | succeeded | failed (in flight is tracked in memory)
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  received_at     INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  request         TEXT NOT NULL,          -- the rendered request (JSON), sent unchanged on every attempt
  last_error      TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (webhook_id, next_attempt_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_webhook ON deliveries (webhook_id, state, updated_at);

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

/**
 * Stores made before event identity was (`source`, `id`) have
 * `UNIQUE (event_id, webhook_id)`, which would drop the second source's
 * event: rebuild that table once without it (the id already is the key).
 */
export function dropEventIdUnique(db: {
  prepare(sql: string): { get(): unknown };
  exec(sql: string): unknown;
}): void {
  const row = db
    .prepare(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'deliveries'`)
    .get() as { sql: string } | undefined;
  if (!row?.sql.includes('UNIQUE (event_id, webhook_id)')) return;
  const table = SCHEMA.slice(
    SCHEMA.indexOf('CREATE TABLE IF NOT EXISTS deliveries'),
    SCHEMA.indexOf(');') + 2,
  );
  db.exec(`BEGIN IMMEDIATE;
    ${table.replace('IF NOT EXISTS deliveries', 'deliveries_rebuilt')}
    INSERT INTO deliveries_rebuilt SELECT * FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_rebuilt RENAME TO deliveries;
    COMMIT;`);
}
