/**
 * The SQLite schema, as ordered migrations applied in code. `schema_version` holds the number of
 * migrations applied; each migration runs in its own IMMEDIATE transaction and re-reads the
 * version inside it, so two processes opening the same file at once never apply one twice.
 *
 * Money columns are INTEGER read in safe-integer mode (bigint in JavaScript): 64-bit exact,
 * summable in SQL, and SUM() raises "integer overflow" instead of drifting into floating point.
 */
import type Database from "better-sqlite3";

const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    active_intent_id TEXT,
    created_at INTEGER NOT NULL
  );

  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    label TEXT NOT NULL,
    hint TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
  );
  -- A revoked key's hash may be imported again, so only live keys are unique.
  CREATE UNIQUE INDEX api_keys_live_hash ON api_keys (key_hash) WHERE revoked_at IS NULL;
  CREATE INDEX api_keys_account ON api_keys (account_id, created_at);

  CREATE TABLE intents (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    payer TEXT NOT NULL,
    mint TEXT NOT NULL,
    escrow TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount >= 0),
    funded INTEGER NOT NULL CHECK (funded >= 0),
    held INTEGER NOT NULL CHECK (held >= 0),
    spent INTEGER NOT NULL CHECK (spent >= 0),
    settled INTEGER NOT NULL CHECK (settled >= 0),
    state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'closed', 'expired')),
    -- UNIQUE across every intent, closed ones included: a funding transfer counts once, ever.
    funding_signature TEXT UNIQUE,
    refund_signature TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    closed_at INTEGER
  );
  CREATE INDEX intents_account ON intents (account_id, created_at);
  CREATE INDEX intents_expiry ON intents (state, expires_at);

  CREATE TABLE holds (
    job_id TEXT PRIMARY KEY,
    intent_id TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount >= 0),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX holds_expiry ON holds (expires_at);

  CREATE TABLE usage (
    job_id TEXT PRIMARY KEY,
    node_id TEXT,
    intent_id TEXT,
    account_id TEXT NOT NULL,
    api_key_id TEXT NOT NULL,
    model_type TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    total_tokens INTEGER NOT NULL,
    local_prompt_tokens INTEGER NOT NULL,
    local_completion_tokens INTEGER NOT NULL,
    engine_reported INTEGER NOT NULL,
    engine_prompt_tokens INTEGER,
    engine_completion_tokens INTEGER,
    execution_duration REAL NOT NULL,
    execution_hash TEXT,
    logs_hash TEXT,
    timestamp INTEGER NOT NULL,
    day TEXT NOT NULL,
    success INTEGER NOT NULL,
    error_message TEXT,
    receipt_json TEXT,
    input_price_per_million INTEGER NOT NULL,
    output_price_per_million INTEGER NOT NULL,
    charge INTEGER NOT NULL CHECK (charge >= 0),
    charge_state TEXT NOT NULL,
    epoch INTEGER
  );
  CREATE INDEX usage_time ON usage (timestamp, job_id);
  CREATE INDEX usage_intent ON usage (intent_id, timestamp);
  CREATE INDEX usage_node ON usage (node_id, timestamp);
  CREATE INDEX usage_account ON usage (account_id, timestamp);
  `,
  `
  -- One row per confirmed payout added to an intent's settled, written in the same transaction
  -- as the increment: a settlement resumed after a crash reports the payout again, and the
  -- primary key turns that repeat into a no-op.
  CREATE TABLE settlement_payouts (
    payout_id TEXT PRIMARY KEY,
    intent_id TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount >= 0)
  );
  CREATE INDEX settlement_payouts_intent ON settlement_payouts (intent_id);

  -- The oracle's replay guard: a job id claimed once is claimed forever.
  CREATE TABLE nullifiers (
    job_id TEXT PRIMARY KEY
  ) WITHOUT ROWID;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

function currentVersion(database: Database.Database): number {
  const row = database.prepare("SELECT version FROM schema_version").get() as { version: bigint } | undefined;
  return row === undefined ? 0 : Number(row.version);
}

/** Brings the database up to SCHEMA_VERSION; refuses a database written by a newer version. */
export function migrate(database: Database.Database): void {
  database.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  for (;;) {
    const applied = database
      .transaction(() => {
        const version = currentVersion(database);
        if (version > SCHEMA_VERSION) {
          throw new Error(`billing database has schema version ${version}; this build knows up to ${SCHEMA_VERSION}`);
        }
        const migration = MIGRATIONS[version];
        if (migration === undefined) return false;
        database.exec(migration);
        database.prepare("DELETE FROM schema_version").run();
        database.prepare("INSERT INTO schema_version (version) VALUES (?)").run(version + 1);
        return true;
      })
      .immediate();
    if (!applied) return;
  }
}
