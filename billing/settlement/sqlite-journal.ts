/**
 * The payout journal in SQLite (better-sqlite3): the embedded leader's durable record of every
 * payout transaction, in the same file as the billing store or its own.
 *
 * Durability matters more than speed here: a signed transaction must be on disk before it is
 * broadcast, so the database runs WAL with `synchronous = FULL` (a commit is fsynced before the
 * call returns). Each transition is one `BEGIN IMMEDIATE` transaction that re-reads the row, so
 * two settlers on one file cannot both move a batch out of the same state.
 *
 * Amounts travel as decimal strings inside JSON (payouts, carried remainders): JSON numbers
 * would round anything above 2^53.
 */
import Database from "better-sqlite3";
import {
  applyTransition,
  type BatchState,
  type EpochRecord,
  isUnfinished,
  JournalTransitionError,
  type PayoutBatch,
  type PayoutJournal,
  type SignedAttempt,
} from "./journal.ts";
import type { PayoutRole, SettlementPayout } from "./plan.ts";

const BUSY_TIMEOUT_MS = 10_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS settlement_epochs (
  epoch INTEGER PRIMARY KEY,
  root_hex TEXT NOT NULL,
  carried TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settlement_batches (
  batch_id TEXT PRIMARY KEY,
  epoch INTEGER NOT NULL,
  batch_index INTEGER NOT NULL,
  root_hex TEXT NOT NULL,
  escrow TEXT NOT NULL,
  payouts TEXT NOT NULL,
  state TEXT NOT NULL,
  signature TEXT,
  signed_transaction BLOB,
  last_valid_block_height INTEGER,
  signatures TEXT NOT NULL,
  notified TEXT NOT NULL,
  error TEXT,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS settlement_batch_members (
  epoch INTEGER NOT NULL,
  position INTEGER NOT NULL,
  job_id TEXT NOT NULL,
  PRIMARY KEY (epoch, position)
);
CREATE INDEX IF NOT EXISTS settlement_batches_by_state ON settlement_batches (state, epoch, batch_index);
`;

interface EpochRow {
  epoch: bigint;
  root_hex: string;
  carried: string;
}

interface BatchRow {
  batch_id: string;
  epoch: bigint;
  batch_index: bigint;
  root_hex: string;
  escrow: string;
  payouts: string;
  state: string;
  signature: string | null;
  signed_transaction: Uint8Array | null;
  last_valid_block_height: bigint | null;
  signatures: string;
  notified: string;
  error: string | null;
  updated_at: bigint;
}

interface StoredPayout {
  payoutId: string;
  epoch: number;
  intentId: string;
  escrow: string;
  recipient: string;
  role: PayoutRole;
  amount: string;
  nodeIds: string[];
}

const BATCH_STATES: readonly BatchState[] = ["planned", "signed", "sent", "confirmed", "failed", "expired"];

function parseState(text: string): BatchState {
  const state = BATCH_STATES.find((candidate) => candidate === text);
  if (state === undefined) throw new Error(`journal holds an unknown batch state "${text}"`);
  return state;
}

function payoutsToJson(payouts: SettlementPayout[]): string {
  const stored: StoredPayout[] = payouts.map((payout) => ({ ...payout, amount: payout.amount.toString() }));
  return JSON.stringify(stored);
}

function payoutsFromJson(text: string): SettlementPayout[] {
  const stored = JSON.parse(text) as StoredPayout[];
  return stored.map((payout) => ({ ...payout, amount: BigInt(payout.amount) }));
}

function carriedToJson(carried: Map<string, bigint>): string {
  return JSON.stringify([...carried].map(([key, amount]) => [key, amount.toString()]));
}

function carriedFromJson(text: string): Map<string, bigint> {
  const entries = JSON.parse(text) as [string, string][];
  return new Map(entries.map(([key, amount]) => [key, BigInt(amount)]));
}

function epochFromRow(row: EpochRow): EpochRecord {
  return { epoch: Number(row.epoch), rootHex: row.root_hex, carried: carriedFromJson(row.carried) };
}

function batchFromRow(row: BatchRow): PayoutBatch {
  return {
    batchId: row.batch_id,
    epoch: Number(row.epoch),
    index: Number(row.batch_index),
    rootHex: row.root_hex,
    escrow: row.escrow,
    payouts: payoutsFromJson(row.payouts),
    state: parseState(row.state),
    signature: row.signature ?? undefined,
    signedTransaction: row.signed_transaction === null ? undefined : Uint8Array.from(row.signed_transaction),
    lastValidBlockHeight: row.last_valid_block_height === null ? undefined : Number(row.last_valid_block_height),
    signatures: JSON.parse(row.signatures) as string[],
    notified: JSON.parse(row.notified) as string[],
    error: row.error ?? undefined,
    updatedAt: Number(row.updated_at),
  };
}

function batchToRow(batch: PayoutBatch): Record<string, string | number | Buffer | null> {
  return {
    batch_id: batch.batchId,
    epoch: batch.epoch,
    batch_index: batch.index,
    root_hex: batch.rootHex,
    escrow: batch.escrow,
    payouts: payoutsToJson(batch.payouts),
    state: batch.state,
    signature: batch.signature ?? null,
    signed_transaction: batch.signedTransaction === undefined ? null : Buffer.from(batch.signedTransaction),
    last_valid_block_height: batch.lastValidBlockHeight ?? null,
    signatures: JSON.stringify(batch.signatures),
    notified: JSON.stringify(batch.notified),
    error: batch.error ?? null,
    updated_at: batch.updatedAt,
  };
}

const BATCH_COLUMNS = `(batch_id, epoch, batch_index, root_hex, escrow, payouts, state, signature, signed_transaction,
  last_valid_block_height, signatures, notified, error, updated_at)
  VALUES (@batch_id, @epoch, @batch_index, @root_hex, @escrow, @payouts, @state, @signature, @signed_transaction,
  @last_valid_block_height, @signatures, @notified, @error, @updated_at)`;

export class SqlitePayoutJournal implements PayoutJournal {
  private constructor(
    private readonly database: Database.Database,
    private readonly ownsDatabase: boolean,
    private readonly now: () => number,
  ) {
    database.exec(SCHEMA);
  }

  /** Opens (creating as needed) a journal in its own file, or a private in-memory one. */
  static open(path: string | ":memory:", now: () => number = Date.now): SqlitePayoutJournal {
    const database = new Database(path, { timeout: BUSY_TIMEOUT_MS });
    try {
      database.pragma("journal_mode = WAL");
      database.pragma("synchronous = FULL");
      return new SqlitePayoutJournal(database, true, now);
    } catch (error) {
      database.close();
      throw error;
    }
  }

  /** Shares a database another component opened (e.g. the billing store's); its pragmas are left as set. */
  static attach(database: Database.Database, now: () => number = Date.now): SqlitePayoutJournal {
    return new SqlitePayoutJournal(database, false, now);
  }

  close(): void {
    if (this.ownsDatabase) this.database.close();
  }

  async recordBatchMembers(epoch: number, jobIds: readonly string[]): Promise<void> {
    const insert = this.database.prepare(
      "INSERT OR IGNORE INTO settlement_batch_members (epoch, position, job_id) VALUES (?, ?, ?)",
    );
    this.database
      .transaction(() => {
        for (const [position, jobId] of jobIds.entries()) insert.run(epoch, position, jobId);
      })
      .immediate();
  }

  async batchMembers(epoch: number): Promise<string[] | undefined> {
    const rows = this.database
      .prepare("SELECT job_id FROM settlement_batch_members WHERE epoch = ? ORDER BY position")
      .all(epoch) as { job_id: string }[];
    return rows.length === 0 ? undefined : rows.map((row) => row.job_id);
  }

  async recordEpoch(epoch: EpochRecord, batches: PayoutBatch[]): Promise<boolean> {
    const record = this.database.transaction(() => {
      const inserted = this.database
        .prepare("INSERT OR IGNORE INTO settlement_epochs (epoch, root_hex, carried) VALUES (?, ?, ?)")
        .run(epoch.epoch, epoch.rootHex, carriedToJson(epoch.carried));
      if (inserted.changes === 0) return false;
      const insertBatch = this.database.prepare(`INSERT INTO settlement_batches ${BATCH_COLUMNS}`);
      for (const batch of batches) insertBatch.run(batchToRow(batch));
      return true;
    });
    return record.immediate();
  }

  async getEpoch(epoch: number): Promise<EpochRecord | undefined> {
    const row = this.epochQuery("SELECT * FROM settlement_epochs WHERE epoch = ?").get(epoch);
    return row === undefined ? undefined : epochFromRow(row);
  }

  async latestEpoch(): Promise<EpochRecord | undefined> {
    const row = this.epochQuery("SELECT * FROM settlement_epochs ORDER BY epoch DESC LIMIT 1").get();
    return row === undefined ? undefined : epochFromRow(row);
  }

  async getBatch(batchId: string): Promise<PayoutBatch | undefined> {
    const row = this.batchQuery("SELECT * FROM settlement_batches WHERE batch_id = ?").get(batchId);
    return row === undefined ? undefined : batchFromRow(row);
  }

  async batchesOfEpoch(epoch: number): Promise<PayoutBatch[]> {
    return this.batchQuery("SELECT * FROM settlement_batches WHERE epoch = ? ORDER BY batch_index")
      .all(epoch)
      .map(batchFromRow);
  }

  async unfinishedBatches(): Promise<PayoutBatch[]> {
    // Confirmed batches still count while some payout is un-notified; the filter decides that part.
    return this.batchQuery("SELECT * FROM settlement_batches WHERE state <> 'failed' ORDER BY epoch, batch_index")
      .all()
      .map(batchFromRow)
      .filter(isUnfinished);
  }

  async markSigned(batchId: string, attempt: SignedAttempt): Promise<void> {
    this.transition(batchId, "signed", { ...attempt, error: undefined });
  }

  async markSent(batchId: string): Promise<void> {
    this.transition(batchId, "sent", {});
  }

  async markConfirmed(batchId: string, signature: string): Promise<void> {
    this.transition(batchId, "confirmed", { signature, error: undefined });
  }

  async markFailed(batchId: string, signature: string, error: string): Promise<void> {
    this.transition(batchId, "failed", { signature, error });
  }

  async markExpired(batchId: string): Promise<void> {
    this.transition(batchId, "expired", {});
  }

  async markNotified(batchId: string, payoutId: string): Promise<void> {
    this.database
      .transaction(() => {
        const batch = this.requireBatch(batchId);
        if (batch.notified.includes(payoutId)) return;
        this.database
          .prepare("UPDATE settlement_batches SET notified = ?, updated_at = ? WHERE batch_id = ?")
          .run(JSON.stringify([...batch.notified, payoutId]), this.now(), batchId);
      })
      .immediate();
  }

  private transition(
    batchId: string,
    to: Exclude<BatchState, "planned">,
    change: Parameters<typeof applyTransition>[2],
  ): void {
    this.database
      .transaction(() => {
        const next = applyTransition(this.requireBatch(batchId), to, change, this.now());
        this.database.prepare(`INSERT OR REPLACE INTO settlement_batches ${BATCH_COLUMNS}`).run(batchToRow(next));
      })
      .immediate();
  }

  private requireBatch(batchId: string): PayoutBatch {
    const row = this.batchQuery("SELECT * FROM settlement_batches WHERE batch_id = ?").get(batchId);
    if (row === undefined) throw new JournalTransitionError(`unknown batch ${batchId}`);
    return batchFromRow(row);
  }

  /** Safe-integer mode per statement, so reads are exact whatever the shared database's default. */
  private epochQuery(sql: string) {
    return this.database.prepare<unknown[], EpochRow>(sql).safeIntegers(true);
  }

  private batchQuery(sql: string) {
    return this.database.prepare<unknown[], BatchRow>(sql).safeIntegers(true);
  }
}
