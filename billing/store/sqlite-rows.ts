/**
 * Row ↔ record mapping for the SQLite store. The connection runs in safe-integer mode, so every
 * INTEGER column arrives as a bigint: money stays bigint, counts and times become numbers.
 */
import type { AccountRecord, ChargeState, HoldRecord, IntentRecord, IntentState, UsageRecord } from "./types.ts";
import { utcDay } from "./validation.ts";

export interface AccountRow {
  id: string;
  name: string;
  active_intent_id: string | null;
  created_at: bigint;
}

export interface IntentRow {
  id: string;
  account_id: string;
  payer: string;
  mint: string;
  escrow: string;
  amount: bigint;
  funded: bigint;
  held: bigint;
  spent: bigint;
  settled: bigint;
  state: string;
  funding_signature: string | null;
  refund_signature: string | null;
  created_at: bigint;
  expires_at: bigint | null;
  closed_at: bigint | null;
}

export interface HoldRow {
  job_id: string;
  intent_id: string;
  amount: bigint;
  created_at: bigint;
  expires_at: bigint;
}

export interface UsageRow {
  job_id: string;
  node_id: string | null;
  intent_id: string | null;
  account_id: string;
  api_key_id: string;
  model_type: string;
  prompt_tokens: bigint;
  completion_tokens: bigint;
  total_tokens: bigint;
  local_prompt_tokens: bigint;
  local_completion_tokens: bigint;
  engine_reported: bigint;
  engine_prompt_tokens: bigint | null;
  engine_completion_tokens: bigint | null;
  execution_duration: number;
  execution_hash: string | null;
  logs_hash: string | null;
  timestamp: bigint;
  day: string;
  success: bigint;
  error_message: string | null;
  receipt_json: string | null;
  input_price_per_million: bigint;
  output_price_per_million: bigint;
  charge: bigint;
  charge_state: string;
  epoch: bigint | null;
}

function optionalNumber(value: bigint | null): number | undefined {
  return value === null ? undefined : Number(value);
}

function optionalBigint(value: number | undefined): bigint | null {
  return value === undefined ? null : BigInt(value);
}

export function accountFromRow(row: AccountRow): AccountRecord {
  return {
    id: row.id,
    name: row.name,
    activeIntentId: row.active_intent_id ?? undefined,
    createdAt: Number(row.created_at),
  };
}

export function accountToRow(account: AccountRecord): AccountRow {
  return {
    id: account.id,
    name: account.name,
    active_intent_id: account.activeIntentId ?? null,
    created_at: BigInt(account.createdAt),
  };
}

export function intentFromRow(row: IntentRow): IntentRecord {
  return {
    id: row.id,
    accountId: row.account_id,
    payer: row.payer,
    mint: row.mint,
    escrow: row.escrow,
    amount: row.amount,
    funded: row.funded,
    held: row.held,
    spent: row.spent,
    settled: row.settled,
    state: row.state as IntentState,
    fundingSignature: row.funding_signature ?? undefined,
    refundSignature: row.refund_signature ?? undefined,
    createdAt: Number(row.created_at),
    expiresAt: optionalNumber(row.expires_at),
    closedAt: optionalNumber(row.closed_at),
  };
}

export function intentToRow(intent: IntentRecord): IntentRow {
  return {
    id: intent.id,
    account_id: intent.accountId,
    payer: intent.payer,
    mint: intent.mint,
    escrow: intent.escrow,
    amount: intent.amount,
    funded: intent.funded,
    held: intent.held,
    spent: intent.spent,
    settled: intent.settled,
    state: intent.state,
    funding_signature: intent.fundingSignature ?? null,
    refund_signature: intent.refundSignature ?? null,
    created_at: BigInt(intent.createdAt),
    expires_at: optionalBigint(intent.expiresAt),
    closed_at: optionalBigint(intent.closedAt),
  };
}

export function holdFromRow(row: HoldRow): HoldRecord {
  return {
    jobId: row.job_id,
    intentId: row.intent_id,
    amount: row.amount,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
  };
}

export function holdToRow(hold: HoldRecord): HoldRow {
  return {
    job_id: hold.jobId,
    intent_id: hold.intentId,
    amount: hold.amount,
    created_at: BigInt(hold.createdAt),
    expires_at: BigInt(hold.expiresAt),
  };
}

export function usageFromRow(row: UsageRow): UsageRecord {
  return {
    jobId: row.job_id,
    nodeId: row.node_id ?? undefined,
    intentId: row.intent_id ?? undefined,
    accountId: row.account_id,
    apiKeyId: row.api_key_id,
    modelType: row.model_type,
    tokenUsage: {
      promptTokens: Number(row.prompt_tokens),
      completionTokens: Number(row.completion_tokens),
      totalTokens: Number(row.total_tokens),
    },
    localUsage: {
      promptTokens: Number(row.local_prompt_tokens),
      completionTokens: Number(row.local_completion_tokens),
    },
    engineUsage:
      row.engine_reported === 0n
        ? undefined
        : {
            promptTokens: optionalNumber(row.engine_prompt_tokens),
            completionTokens: optionalNumber(row.engine_completion_tokens),
          },
    executionDuration: Number(row.execution_duration),
    executionHash: row.execution_hash ?? undefined,
    logsHash: row.logs_hash ?? undefined,
    timestamp: Number(row.timestamp),
    success: row.success !== 0n,
    errorMessage: row.error_message ?? undefined,
    receiptJson: row.receipt_json ?? undefined,
    inputPricePerMillion: row.input_price_per_million,
    outputPricePerMillion: row.output_price_per_million,
    charge: row.charge,
    chargeState: row.charge_state as ChargeState,
    epoch: optionalNumber(row.epoch),
  };
}

export function usageToRow(record: UsageRecord): UsageRow {
  return {
    job_id: record.jobId,
    node_id: record.nodeId ?? null,
    intent_id: record.intentId ?? null,
    account_id: record.accountId,
    api_key_id: record.apiKeyId,
    model_type: record.modelType,
    prompt_tokens: BigInt(record.tokenUsage.promptTokens),
    completion_tokens: BigInt(record.tokenUsage.completionTokens),
    total_tokens: BigInt(record.tokenUsage.totalTokens),
    local_prompt_tokens: BigInt(record.localUsage.promptTokens),
    local_completion_tokens: BigInt(record.localUsage.completionTokens),
    engine_reported: record.engineUsage === undefined ? 0n : 1n,
    engine_prompt_tokens: optionalBigint(record.engineUsage?.promptTokens),
    engine_completion_tokens: optionalBigint(record.engineUsage?.completionTokens),
    execution_duration: record.executionDuration,
    execution_hash: record.executionHash ?? null,
    logs_hash: record.logsHash ?? null,
    timestamp: BigInt(record.timestamp),
    day: utcDay(record.timestamp),
    success: record.success ? 1n : 0n,
    error_message: record.errorMessage ?? null,
    receipt_json: record.receiptJson ?? null,
    input_price_per_million: record.inputPricePerMillion,
    output_price_per_million: record.outputPricePerMillion,
    charge: record.charge,
    charge_state: record.chargeState,
    epoch: optionalBigint(record.epoch),
  };
}
