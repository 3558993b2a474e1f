/**
 * The billing store: accounts, API keys, payment intents, holds and the usage ledger behind one
 * interface, with two real adapters (embedded SQLite, Redis) that pass one contract suite.
 *
 * Money is bigint base units of the settlement mint everywhere. The store owns every invariant
 * that must hold under concurrency and crashes, so each method is atomic on its own:
 *   - an intent's `held + spent <= funded` at all times (nothing ever goes below zero);
 *   - a job is captured at most once (its usage record is keyed by job id);
 *   - a hold and its capture move money between `held` and `spent` in one step, together with
 *     the usage record, so a record exists exactly when its charge was taken.
 */
import type { ApiKeyStore } from "../api-keys.ts";

export type IntentState = "pending" | "active" | "closed" | "expired";

export interface IntentRecord {
  /** `in_` + 24 url-safe characters: at most 32 bytes, so it can seed an escrow address. */
  id: string;
  accountId: string;
  /** Base58 wallet that funds the intent and receives the refund. */
  payer: string;
  /** Base58 mint of the settlement token. */
  mint: string;
  /** Base58 escrow token account (derived from the settlement authority and the id). */
  escrow: string;
  /** Amount the payer committed to when creating the intent. */
  amount: bigint;
  /** Amount verified on chain in the escrow (0 until confirmed). */
  funded: bigint;
  /** Reserved by running jobs. */
  held: bigint;
  /** Captured by finished jobs. */
  spent: bigint;
  /** Paid out to runners (settlement). */
  settled: bigint;
  state: IntentState;
  fundingSignature: string | undefined;
  refundSignature: string | undefined;
  createdAt: number;
  /** ms since epoch after which the intent closes itself; undefined = never. */
  expiresAt: number | undefined;
  closedAt: number | undefined;
}

export interface AccountRecord {
  id: string;
  name: string;
  /** The intent new jobs of this account are billed to. */
  activeIntentId: string | undefined;
  createdAt: number;
}

export interface HoldRecord {
  jobId: string;
  intentId: string;
  amount: bigint;
  createdAt: number;
  /** After this a hold of a job that never finished (gateway crash) is released. */
  expiresAt: number;
}

export type ReserveResult =
  | { ok: true; hold: HoldRecord }
  | { ok: false; reason: "insufficient_funds" | "intent_not_active"; available: bigint };

export type ChargeState = "authorized" | "escrowed" | "verified" | "settled";

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** One finished job: DESIGN.md's job completion event plus what billing needs to prove it. */
export interface UsageRecord {
  jobId: string;
  nodeId: string | undefined;
  intentId: string | undefined;
  accountId: string;
  apiKeyId: string;
  modelType: string;
  tokenUsage: TokenUsage;
  /** The gateway's own tiktoken counts. */
  localUsage: { promptTokens: number; completionTokens: number };
  /** The engine's counts as the runner reported them (undefined fields = not reported). */
  engineUsage: { promptTokens: number | undefined; completionTokens: number | undefined } | undefined;
  executionDuration: number;
  /** sha256 (hex) of the output, from the runner's receipt. */
  executionHash: string | undefined;
  logsHash: string | undefined;
  timestamp: number;
  success: boolean;
  errorMessage: string | undefined;
  /** The runner's signed receipt as JSON (verified later by the oracle). */
  receiptJson: string | undefined;
  /** Price applied, base units per 1M tokens. */
  inputPricePerMillion: bigint;
  outputPricePerMillion: bigint;
  /** Base units charged to the intent (after capping at what the intent could still cover). */
  charge: bigint;
  chargeState: ChargeState;
  /** Settlement epoch, once batched. */
  epoch: number | undefined;
}

export interface CaptureResult {
  /** False when the job was already captured (the existing record is returned). */
  created: boolean;
  record: UsageRecord;
}

export type ReportDimension = "intent" | "runner" | "model" | "epoch" | "day";

export interface UsageFilter {
  accountId?: string;
  intentId?: string;
  nodeId?: string;
  /** Inclusive lower bound on `timestamp` (ms). */
  from?: number;
  /** Exclusive upper bound on `timestamp` (ms). */
  to?: number;
}

export interface ReportRow {
  /** The intent id, runner id, model id, epoch number or UTC day (YYYY-MM-DD); "" when unknown. */
  key: string;
  jobs: number;
  promptTokens: number;
  completionTokens: number;
  charge: bigint;
}

export interface BillingStore {
  readonly kind: "sqlite" | "redis";
  readonly apiKeys: ApiKeyStore;

  createAccount(account: AccountRecord): Promise<void>;
  getAccount(id: string): Promise<AccountRecord | undefined>;
  setActiveIntent(accountId: string, intentId: string | undefined): Promise<void>;

  createIntent(intent: IntentRecord): Promise<void>;
  getIntent(id: string): Promise<IntentRecord | undefined>;
  listIntents(accountId?: string): Promise<IntentRecord[]>;
  /**
   * pending → active with the verified funded amount. Refuses (returns false) when the
   * signature was already used by any intent, or the intent is not pending.
   */
  activateIntent(id: string, funded: bigint, fundingSignature: string): Promise<boolean>;
  /** active|expired → closed, only when nothing is held; records the refund signature. */
  closeIntent(id: string, refundSignature: string | undefined, now: number): Promise<boolean>;
  /** active → expired for intents past `expiresAt` (jobs can no longer reserve). Returns their ids. */
  expireIntents(now: number): Promise<string[]>;
  /**
   * Adds a confirmed payout to the intent's `settled`, once per `payoutId`: a repeat (a
   * settlement resumed after a crash) returns false and changes nothing.
   */
  recordSettlement(intentId: string, payoutId: string, amount: bigint): Promise<boolean>;

  /** Atomically reserves `amount` if `funded - held - spent >= amount` and the intent is active. */
  reserve(intentId: string, jobId: string, amount: bigint, now: number, ttlMs: number): Promise<ReserveResult>;
  /**
   * Atomically: drops the job's hold, charges min(record.charge, hold + what the intent still
   * has free) to `spent`, and appends the record with the charge actually taken. A job with no
   * hold (unbilled) is recorded with the charge it carries and no intent movement. Idempotent.
   */
  capture(record: UsageRecord): Promise<CaptureResult>;
  /** Drops a hold without charging (the job produced nothing). */
  release(jobId: string): Promise<boolean>;
  /** Releases holds past their expiry; returns the job ids released. */
  expireHolds(now: number): Promise<string[]>;
  getHold(jobId: string): Promise<HoldRecord | undefined>;

  /**
   * The oracle accepted these jobs in `epoch`: escrowed → verified, epoch set. Records in
   * another state are left alone. Returns how many changed.
   */
  markVerified(jobIds: readonly string[], epoch: number): Promise<number>;
  /** Their payouts confirmed on chain: verified → settled. Returns how many changed. */
  markSettled(jobIds: readonly string[]): Promise<number>;
  /** The oracle's replay guard: true the first time a job id is claimed, false ever after. */
  claimNullifier(jobId: string): Promise<boolean>;

  getUsage(jobId: string): Promise<UsageRecord | undefined>;
  listUsage(filter: UsageFilter, limit?: number): Promise<UsageRecord[]>;
  report(by: ReportDimension, filter: UsageFilter): Promise<ReportRow[]>;

  close(): Promise<void>;
}
