/**
 * The embedded billing store: one SQLite file (better-sqlite3) holding accounts, API keys,
 * intents, holds and the usage ledger.
 *
 * Atomicity: every mutating method is one `BEGIN IMMEDIATE` transaction. IMMEDIATE takes the
 * write lock before the first read, so a check-then-write (is there room for this hold?) can
 * never interleave with another connection or process doing the same; better-sqlite3 runs the
 * whole transaction synchronously, so concurrent async callers in one process serialize too.
 *
 * Durability: WAL with `synchronous = FULL`, so a commit is fsynced before the method returns.
 * NORMAL would survive a killed process (the WAL sits in the OS page cache) but could drop the
 * last commits on power loss or a kernel crash; the gateway tells a client its response is
 * complete only after `capture` returns, so the charge must be on disk by then. A hold is the
 * exception: `reserve` commits without its own fsync. A hold lost to power loss belonged to a job
 * that died with the machine, which the restart would release anyway, and the next durable
 * commit (a capture) fsyncs the WAL with every frame before it. One fsync per request, not two.
 *
 * Money: INTEGER columns read in safe-integer mode, so amounts are exact bigints up to 2^63 − 1;
 * larger amounts are refused before they reach SQL (see `assertBaseUnits`).
 */
import Database from "better-sqlite3";
import type { ApiKeyStore } from "../api-keys.ts";
import { SqliteApiKeyStore } from "./sqlite-api-keys.ts";
import {
  type AccountRow,
  accountFromRow,
  accountToRow,
  type HoldRow,
  holdFromRow,
  holdToRow,
  type IntentRow,
  intentFromRow,
  intentToRow,
  type UsageRow,
  usageFromRow,
  usageToRow,
} from "./sqlite-rows.ts";
import { migrate } from "./sqlite-schema.ts";
import type {
  AccountRecord,
  BillingStore,
  CaptureResult,
  HoldRecord,
  IntentRecord,
  ReportDimension,
  ReportRow,
  ReserveResult,
  UsageFilter,
  UsageRecord,
} from "./types.ts";
import {
  assertBaseUnits,
  assertCount,
  assertHoldRequest,
  assertId,
  assertIntent,
  assertUsageRecord,
  sortReportRows,
} from "./validation.ts";

/** How long a connection waits for another one's write lock before giving up. */
const BUSY_TIMEOUT_MS = 10_000;

const REPORT_KEY_SQL: Readonly<Record<ReportDimension, string>> = {
  intent: "COALESCE(intent_id, '')",
  runner: "COALESCE(node_id, '')",
  model: "model_type",
  epoch: "COALESCE(CAST(epoch AS TEXT), '')",
  day: "day",
};

interface ReportSqlRow {
  key: string;
  jobs: bigint;
  prompt_tokens: bigint;
  completion_tokens: bigint;
  charge: bigint;
}

const ACCOUNT_COLUMNS = "(id, name, active_intent_id, created_at) VALUES (@id, @name, @active_intent_id, @created_at)";
const INTENT_COLUMNS = `(id, account_id, payer, mint, escrow, amount, funded, held, spent, settled, state,
  funding_signature, refund_signature, created_at, expires_at, closed_at)
  VALUES (@id, @account_id, @payer, @mint, @escrow, @amount, @funded, @held, @spent, @settled, @state,
  @funding_signature, @refund_signature, @created_at, @expires_at, @closed_at)`;
const HOLD_COLUMNS =
  "(job_id, intent_id, amount, created_at, expires_at) VALUES (@job_id, @intent_id, @amount, @created_at, @expires_at)";
const USAGE_COLUMNS = `(job_id, node_id, intent_id, account_id, api_key_id, model_type, prompt_tokens,
  completion_tokens, total_tokens, local_prompt_tokens, local_completion_tokens, engine_reported,
  engine_prompt_tokens, engine_completion_tokens, execution_duration, execution_hash, logs_hash, timestamp, day,
  success, error_message, receipt_json, input_price_per_million, output_price_per_million, charge, charge_state, epoch)
  VALUES (@job_id, @node_id, @intent_id, @account_id, @api_key_id, @model_type, @prompt_tokens,
  @completion_tokens, @total_tokens, @local_prompt_tokens, @local_completion_tokens, @engine_reported,
  @engine_prompt_tokens, @engine_completion_tokens, @execution_duration, @execution_hash, @logs_hash, @timestamp, @day,
  @success, @error_message, @receipt_json, @input_price_per_million, @output_price_per_million, @charge,
  @charge_state, @epoch)`;

function minimum(left: bigint, right: bigint): bigint {
  return left < right ? left : right;
}

function prepareStatements(database: Database.Database) {
  const prepare = <Parameters extends unknown[] | object, Row = unknown>(source: string) =>
    database.prepare<Parameters, Row>(source);
  return {
    insertAccount: prepare<AccountRow>(`INSERT INTO accounts ${ACCOUNT_COLUMNS}`),
    getAccount: prepare<[string], AccountRow>("SELECT * FROM accounts WHERE id = ?"),
    setActiveIntent: prepare<[string | null, string]>("UPDATE accounts SET active_intent_id = ? WHERE id = ?"),
    insertIntent: prepare<IntentRow>(`INSERT INTO intents ${INTENT_COLUMNS}`),
    getIntent: prepare<[string], IntentRow>("SELECT * FROM intents WHERE id = ?"),
    listIntents: prepare<[], IntentRow>("SELECT * FROM intents ORDER BY created_at, id"),
    listAccountIntents: prepare<[string], IntentRow>(
      "SELECT * FROM intents WHERE account_id = ? ORDER BY created_at, id",
    ),
    signatureUsed: prepare<[string], { id: string }>("SELECT id FROM intents WHERE funding_signature = ?"),
    activate: prepare<[bigint, string, string]>(
      "UPDATE intents SET state = 'active', funded = ?, funding_signature = ? WHERE id = ?",
    ),
    close: prepare<[string | null, bigint, string]>(
      "UPDATE intents SET state = 'closed', refund_signature = ?, closed_at = ? WHERE id = ?",
    ),
    dueIntents: prepare<[bigint], { id: string }>(
      "SELECT id FROM intents WHERE state = 'active' AND expires_at <= ? ORDER BY expires_at, id",
    ),
    expireIntent: prepare<[string]>("UPDATE intents SET state = 'expired' WHERE id = ?"),
    setSettled: prepare<[bigint, string]>("UPDATE intents SET settled = ? WHERE id = ?"),
    payoutRecorded: prepare<[string], { payout_id: string }>(
      "SELECT payout_id FROM settlement_payouts WHERE payout_id = ?",
    ),
    insertPayout: prepare<[string, string, bigint]>(
      "INSERT INTO settlement_payouts (payout_id, intent_id, amount) VALUES (?, ?, ?)",
    ),
    setBalances: prepare<[bigint, bigint, string]>("UPDATE intents SET held = ?, spent = ? WHERE id = ?"),
    insertHold: prepare<HoldRow>(`INSERT INTO holds ${HOLD_COLUMNS}`),
    getHold: prepare<[string], HoldRow>("SELECT * FROM holds WHERE job_id = ?"),
    deleteHold: prepare<[string]>("DELETE FROM holds WHERE job_id = ?"),
    dueHolds: prepare<[bigint], HoldRow>("SELECT * FROM holds WHERE expires_at <= ? ORDER BY expires_at, job_id"),
    insertUsage: prepare<UsageRow>(`INSERT INTO usage ${USAGE_COLUMNS}`),
    getUsage: prepare<[string], UsageRow>("SELECT * FROM usage WHERE job_id = ?"),
    markVerified: prepare<[bigint, string]>(
      "UPDATE usage SET charge_state = 'verified', epoch = ? WHERE job_id = ? AND charge_state = 'escrowed'",
    ),
    markSettled: prepare<[string]>(
      "UPDATE usage SET charge_state = 'settled' WHERE job_id = ? AND charge_state = 'verified'",
    ),
    claimNullifier: prepare<[string]>("INSERT OR IGNORE INTO nullifiers (job_id) VALUES (?)"),
  };
}

export class SqliteBillingStore implements BillingStore {
  readonly kind = "sqlite" as const;
  readonly apiKeys: ApiKeyStore;
  private readonly statements: ReturnType<typeof prepareStatements>;

  private readonly pendingCaptures: {
    record: UsageRecord;
    resolve(result: CaptureResult): void;
    reject(error: unknown): void;
  }[] = [];

  private constructor(private readonly database: Database.Database) {
    this.apiKeys = new SqliteApiKeyStore(database);
    this.statements = prepareStatements(database);
  }

  /** Opens (creating and migrating as needed) the database at `path`, or a private in-memory one. */
  static open(path: string | ":memory:"): SqliteBillingStore {
    const database = new Database(path, { timeout: BUSY_TIMEOUT_MS });
    try {
      database.defaultSafeIntegers(true);
      database.pragma("journal_mode = WAL");
      database.pragma("synchronous = FULL");
      migrate(database);
    } catch (error) {
      database.close();
      throw error;
    }
    return new SqliteBillingStore(database);
  }

  async createAccount(account: AccountRecord): Promise<void> {
    this.write(() => this.createAccountSync(account));
  }

  async getAccount(id: string): Promise<AccountRecord | undefined> {
    const row = this.statements.getAccount.get(id);
    return row === undefined ? undefined : accountFromRow(row);
  }

  async setActiveIntent(accountId: string, intentId: string | undefined): Promise<void> {
    if (this.statements.setActiveIntent.run(intentId ?? null, accountId).changes === 0) {
      throw new Error(`unknown account ${accountId}`);
    }
  }

  async createIntent(intent: IntentRecord): Promise<void> {
    assertIntent(intent);
    this.write(() => this.createIntentSync(intent));
  }

  async getIntent(id: string): Promise<IntentRecord | undefined> {
    const row = this.statements.getIntent.get(id);
    return row === undefined ? undefined : intentFromRow(row);
  }

  async listIntents(accountId?: string): Promise<IntentRecord[]> {
    const rows =
      accountId === undefined ? this.statements.listIntents.all() : this.statements.listAccountIntents.all(accountId);
    return rows.map(intentFromRow);
  }

  async activateIntent(id: string, funded: bigint, fundingSignature: string): Promise<boolean> {
    assertBaseUnits(funded, "funded");
    return this.write(() => this.activateSync(id, funded, fundingSignature));
  }

  async closeIntent(id: string, refundSignature: string | undefined, now: number): Promise<boolean> {
    return this.write(() => this.closeSync(id, refundSignature, now));
  }

  async expireIntents(now: number): Promise<string[]> {
    return this.write(() => this.expireIntentsSync(now));
  }

  async recordSettlement(intentId: string, payoutId: string, amount: bigint): Promise<boolean> {
    assertId(payoutId, "payout id");
    assertBaseUnits(amount, "settlement amount");
    return this.write(() => this.recordSettlementSync(intentId, payoutId, amount));
  }

  async reserve(intentId: string, jobId: string, amount: bigint, now: number, ttlMs: number): Promise<ReserveResult> {
    assertHoldRequest(jobId, amount, now, ttlMs);
    return this.write(() => this.reserveSync(intentId, jobId, amount, now, ttlMs), "relaxed");
  }

  /**
   * Captures arriving in the same turn of the event loop commit together (group commit): one
   * transaction and one fsync for all of them, each in its own savepoint so one failure rolls
   * back only itself. Each promise resolves after the shared commit is on disk.
   */
  async capture(record: UsageRecord): Promise<CaptureResult> {
    assertUsageRecord(record);
    return new Promise<CaptureResult>((resolve, reject) => {
      this.pendingCaptures.push({ record, resolve, reject });
      if (this.pendingCaptures.length === 1) setImmediate(() => this.flushCaptures());
    });
  }

  private flushCaptures(): void {
    const batch = this.pendingCaptures.splice(0);
    const outcomes: ({ ok: true; result: CaptureResult } | { ok: false; error: unknown })[] = [];
    try {
      this.write(() => {
        for (const pending of batch) {
          try {
            // A transaction inside a transaction is a savepoint in better-sqlite3.
            outcomes.push({ ok: true, result: this.database.transaction(() => this.captureSync(pending.record))() });
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      for (const pending of batch) pending.reject(error);
      return;
    }
    batch.forEach((pending, index) => {
      const outcome = outcomes[index];
      if (outcome?.ok) pending.resolve(outcome.result);
      else pending.reject(outcome?.error ?? new Error("capture lost"));
    });
  }

  async release(jobId: string): Promise<boolean> {
    return this.write(() => this.releaseSync(jobId));
  }

  async expireHolds(now: number): Promise<string[]> {
    return this.write(() => this.expireHoldsSync(now));
  }

  async getHold(jobId: string): Promise<HoldRecord | undefined> {
    const row = this.statements.getHold.get(jobId);
    return row === undefined ? undefined : holdFromRow(row);
  }

  async markVerified(jobIds: readonly string[], epoch: number): Promise<number> {
    assertCount(epoch, "epoch");
    return this.write(() => {
      let changed = 0;
      for (const jobId of jobIds) changed += this.statements.markVerified.run(BigInt(epoch), jobId).changes;
      return changed;
    });
  }

  async markSettled(jobIds: readonly string[]): Promise<number> {
    return this.write(() => {
      let changed = 0;
      for (const jobId of jobIds) changed += this.statements.markSettled.run(jobId).changes;
      return changed;
    });
  }

  async claimNullifier(jobId: string): Promise<boolean> {
    assertId(jobId, "job id");
    return this.write(() => this.statements.claimNullifier.run(jobId).changes === 1);
  }

  async getUsage(jobId: string): Promise<UsageRecord | undefined> {
    const row = this.statements.getUsage.get(jobId);
    return row === undefined ? undefined : usageFromRow(row);
  }

  async listUsage(filter: UsageFilter, limit?: number): Promise<UsageRecord[]> {
    const { where, values } = this.filterSql(filter);
    const limitSql = limit === undefined || !Number.isFinite(limit) ? "" : ` LIMIT ${Math.max(0, Math.floor(limit))}`;
    const statement = this.database.prepare<unknown[], UsageRow>(
      `SELECT * FROM usage ${where} ORDER BY timestamp, job_id${limitSql}`,
    );
    return statement.all(...values).map(usageFromRow);
  }

  async report(by: ReportDimension, filter: UsageFilter): Promise<ReportRow[]> {
    const { where, values } = this.filterSql(filter);
    const statement = this.database.prepare<unknown[], ReportSqlRow>(
      `SELECT ${REPORT_KEY_SQL[by]} AS key, COUNT(*) AS jobs, SUM(prompt_tokens) AS prompt_tokens,
       SUM(completion_tokens) AS completion_tokens, SUM(charge) AS charge
       FROM usage ${where} GROUP BY 1`,
    );
    const rows = statement.all(...values).map((row) => ({
      key: row.key,
      jobs: Number(row.jobs),
      promptTokens: Number(row.prompt_tokens),
      completionTokens: Number(row.completion_tokens),
      charge: row.charge,
    }));
    return sortReportRows(rows, by);
  }

  async close(): Promise<void> {
    if (this.database.open) this.database.close();
  }

  /** Runs `body` as one BEGIN IMMEDIATE transaction (see the header for why IMMEDIATE and when relaxed). */
  private write<Result>(body: () => Result, durability: "durable" | "relaxed" = "durable"): Result {
    if (durability === "durable") return this.database.transaction(body).immediate();
    this.database.pragma("synchronous = NORMAL");
    try {
      return this.database.transaction(body).immediate();
    } finally {
      this.database.pragma("synchronous = FULL");
    }
  }

  private filterSql(filter: UsageFilter): { where: string; values: unknown[] } {
    const conditions: string[] = [];
    const values: unknown[] = [];
    const add = (condition: string, value: unknown) => {
      conditions.push(condition);
      values.push(value);
    };
    if (filter.accountId !== undefined) add("account_id = ?", filter.accountId);
    if (filter.intentId !== undefined) add("intent_id = ?", filter.intentId);
    if (filter.nodeId !== undefined) add("node_id = ?", filter.nodeId);
    if (filter.from !== undefined) add("timestamp >= ?", filter.from);
    if (filter.to !== undefined) add("timestamp < ?", filter.to);
    return { where: conditions.length === 0 ? "" : `WHERE ${conditions.join(" AND ")}`, values };
  }

  private requireIntent(id: string): IntentRow {
    const row = this.statements.getIntent.get(id);
    if (row === undefined) throw new Error(`unknown intent ${id}`);
    return row;
  }

  private createAccountSync(account: AccountRecord): void {
    if (this.statements.getAccount.get(account.id)) throw new Error(`account ${account.id} already exists`);
    this.statements.insertAccount.run(accountToRow(account));
  }

  private createIntentSync(intent: IntentRecord): void {
    if (this.statements.getIntent.get(intent.id)) throw new Error(`intent ${intent.id} already exists`);
    if (intent.fundingSignature !== undefined && this.statements.signatureUsed.get(intent.fundingSignature)) {
      throw new Error(`funding signature ${intent.fundingSignature} is already used by another intent`);
    }
    this.statements.insertIntent.run(intentToRow(intent));
  }

  private activateSync(id: string, funded: bigint, signature: string): boolean {
    if (this.statements.signatureUsed.get(signature)) return false;
    const intent = this.statements.getIntent.get(id);
    if (intent === undefined || intent.state !== "pending") return false;
    this.statements.activate.run(funded, signature, id);
    return true;
  }

  private closeSync(id: string, refundSignature: string | undefined, now: number): boolean {
    const intent = this.statements.getIntent.get(id);
    if (intent === undefined || (intent.state !== "active" && intent.state !== "expired")) return false;
    if (intent.held !== 0n) return false;
    this.statements.close.run(refundSignature ?? null, BigInt(now), id);
    return true;
  }

  private expireIntentsSync(now: number): string[] {
    const due = this.statements.dueIntents.all(BigInt(now)).map((row) => row.id);
    for (const id of due) this.statements.expireIntent.run(id);
    return due;
  }

  private recordSettlementSync(intentId: string, payoutId: string, amount: bigint): boolean {
    // A payout reported again (a settlement resumed after a crash) was already counted.
    if (this.statements.payoutRecorded.get(payoutId)) return false;
    const intent = this.requireIntent(intentId);
    const settled = intent.settled + amount;
    // Payouts come out of captured charges; paying more than was spent would unbalance the books.
    if (settled > intent.spent) {
      throw new RangeError(`intent ${intentId}: settling ${amount} would exceed spent (${intent.spent})`);
    }
    this.statements.setSettled.run(settled, intentId);
    this.statements.insertPayout.run(payoutId, intentId, amount);
    return true;
  }

  private reserveSync(intentId: string, jobId: string, amount: bigint, now: number, ttlMs: number): ReserveResult {
    if (this.statements.getUsage.get(jobId)) throw new Error(`job ${jobId} was already captured`);
    const existing = this.statements.getHold.get(jobId);
    if (existing !== undefined) {
      // A retried reserve (e.g. resent after a reconnect) gets the hold it already has.
      if (existing.intent_id !== intentId) throw new Error(`job ${jobId} already holds funds on another intent`);
      return { ok: true, hold: holdFromRow(existing) };
    }
    const intent = this.statements.getIntent.get(intentId);
    const pastExpiry = (intent: IntentRow) => intent.expires_at !== null && BigInt(now) >= intent.expires_at;
    if (intent === undefined || intent.state !== "active" || pastExpiry(intent)) {
      return { ok: false, reason: "intent_not_active", available: 0n };
    }
    const available = intent.funded - intent.held - intent.spent;
    if (available < amount) return { ok: false, reason: "insufficient_funds", available };
    const hold: HoldRecord = { jobId, intentId, amount, createdAt: now, expiresAt: now + ttlMs };
    this.statements.setBalances.run(intent.held + amount, intent.spent, intentId);
    this.statements.insertHold.run(holdToRow(hold));
    return { ok: true, hold };
  }

  private captureSync(record: UsageRecord): CaptureResult {
    const existing = this.statements.getUsage.get(record.jobId);
    if (existing !== undefined) return { created: false, record: usageFromRow(existing) };
    let stored = record;
    const hold = this.statements.getHold.get(record.jobId);
    if (hold !== undefined) {
      const intent = this.requireIntent(hold.intent_id);
      const free = intent.funded - intent.held - intent.spent;
      const charge = minimum(record.charge, hold.amount + free);
      this.statements.setBalances.run(intent.held - hold.amount, intent.spent + charge, intent.id);
      this.statements.deleteHold.run(record.jobId);
      // The hold decides which intent paid; the record says what was actually taken.
      stored = { ...record, intentId: hold.intent_id, charge };
    }
    this.statements.insertUsage.run(usageToRow(stored));
    return { created: true, record: stored };
  }

  private releaseSync(jobId: string): boolean {
    const hold = this.statements.getHold.get(jobId);
    if (hold === undefined) return false;
    const intent = this.requireIntent(hold.intent_id);
    this.statements.setBalances.run(intent.held - hold.amount, intent.spent, intent.id);
    this.statements.deleteHold.run(jobId);
    return true;
  }

  private expireHoldsSync(now: number): string[] {
    const due = this.statements.dueHolds.all(BigInt(now)).map((row) => row.job_id);
    for (const jobId of due) this.releaseSync(jobId);
    return due;
  }
}
