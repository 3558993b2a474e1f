/**
 * The per-record checks of DESIGN.md (2 to 6; check 1 is per batch, in the oracle). Each returns
 * the failures it found, with a detail a runner operator can act on; none throws on bad input.
 */
import type { ModelCatalog, ModelTemplate } from "../../models/catalog.ts";
import type { EpochBounds } from "../batches/epochs.ts";
import { chargeFor } from "../money.ts";
import { type Receipt, type SignedReceipt, verifyReceipt } from "../receipts/receipt.ts";
import type { UsageRecord } from "../store/types.ts";
import { withinTolerance } from "../usage-counts.ts";
import type { CheckFailure, IntentStatus, RunnerRegistry } from "./types.ts";

/**
 * The shortest plausible time per completion token, as tokens per ms: 20 tokens/ms is 0.05 ms a
 * token, far beyond any engine, so only fabricated durations fail.
 */
const MAX_COMPLETION_TOKENS_PER_MS = 20;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const RECEIPT_STRING_FIELDS = ["jobId", "runnerId", "wallet", "model", "outputSha256", "outcome"] as const;
const RECEIPT_NUMBER_FIELDS = ["version", "promptTokens", "completionTokens", "startedAt", "finishedAt"] as const;

/** The runner's SignedReceipt from a record's JSON; undefined when absent or malformed. */
export function parseSignedReceipt(json: string | undefined): SignedReceipt | undefined {
  if (json === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (!isRecord(parsed) || typeof parsed.signature !== "string" || !isRecord(parsed.receipt)) return undefined;
  const receipt = parsed.receipt;
  if (!RECEIPT_STRING_FIELDS.every((field) => typeof receipt[field] === "string")) return undefined;
  if (!RECEIPT_NUMBER_FIELDS.every((field) => typeof receipt[field] === "number")) return undefined;
  if (!["completed", "cancelled", "failed"].includes(receipt.outcome as string)) return undefined;
  return { receipt: receipt as unknown as Receipt, signature: parsed.signature };
}

export interface ReceiptCheck {
  failures: CheckFailure[];
  receipt: Receipt | undefined;
}

/** Check 2: signed by the registered wallet of the record's runner, and about this very job. */
export async function checkReceipt(
  record: UsageRecord,
  runners: RunnerRegistry,
  catalog: ModelCatalog,
): Promise<ReceiptCheck> {
  const signed = parseSignedReceipt(record.receiptJson);
  if (!signed)
    return { failures: [{ check: "receipt_signature", detail: "no well-formed runner receipt" }], receipt: undefined };
  const { receipt } = signed;
  if (!verifyReceipt(signed)) {
    return { failures: [{ check: "receipt_signature", detail: "receipt signature does not verify" }], receipt };
  }
  if (record.nodeId === undefined || !(await runners.isRegisteredRunnerWallet(record.nodeId, receipt.wallet))) {
    const detail = `wallet ${receipt.wallet} is not the registered wallet of runner ${record.nodeId ?? "(none)"}`;
    return { failures: [{ check: "receipt_signature", detail }], receipt };
  }
  const mismatches: string[] = [];
  if (receipt.jobId !== record.jobId) mismatches.push(`jobId ${receipt.jobId}`);
  if (receipt.runnerId !== record.nodeId) mismatches.push(`runnerId ${receipt.runnerId}`);
  const receiptModel = catalog.resolve(receipt.model)?.id ?? receipt.model;
  const recordModel = catalog.resolve(record.modelType)?.id ?? record.modelType;
  if (receiptModel !== recordModel) mismatches.push(`model ${receipt.model}`);
  if (receipt.promptTokens !== record.tokenUsage.promptTokens) mismatches.push(`promptTokens ${receipt.promptTokens}`);
  if (receipt.completionTokens !== record.tokenUsage.completionTokens) {
    mismatches.push(`completionTokens ${receipt.completionTokens}`);
  }
  const failures: CheckFailure[] =
    mismatches.length === 0
      ? []
      : [{ check: "receipt_mismatch", detail: `receipt disagrees with the record: ${mismatches.join(", ")}` }];
  return { failures, receipt };
}

function isCount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/** Check 3: counts are whole, add up, and fit the model's context (the record carries no max_tokens). */
export function checkTokenArithmetic(record: UsageRecord, model: ModelTemplate | undefined): CheckFailure[] {
  const { promptTokens, completionTokens, totalTokens } = record.tokenUsage;
  const fail = (detail: string): CheckFailure[] => [{ check: "token_arithmetic", detail }];
  if (!model) return fail(`unknown model ${record.modelType}`);
  if (![promptTokens, completionTokens, totalTokens].every(isCount)) return fail("token counts are not whole numbers");
  if (totalTokens !== promptTokens + completionTokens) {
    return fail(`totalTokens ${totalTokens} ≠ ${promptTokens} + ${completionTokens}`);
  }
  if (completionTokens > model.contextLength) return fail(`completion exceeds context ${model.contextLength}`);
  if (promptTokens + completionTokens > model.contextLength)
    return fail(`tokens exceed context ${model.contextLength}`);
  return [];
}

/** Check 4: what the runner signed agrees with the gateway's own tokenizer count. */
export function checkTolerance(
  record: UsageRecord,
  receipt: Receipt | undefined,
  model: ModelTemplate | undefined,
): CheckFailure[] {
  if (!model || !receipt) return [{ check: "token_tolerance", detail: "nothing to compare the local count with" }];
  const tolerance = model.tokenCountTolerance;
  const outside: string[] = [];
  if (!withinTolerance(receipt.promptTokens, record.localUsage.promptTokens, tolerance)) {
    outside.push(`prompt ${receipt.promptTokens} vs local ${record.localUsage.promptTokens}`);
  }
  if (!withinTolerance(receipt.completionTokens, record.localUsage.completionTokens, tolerance)) {
    outside.push(`completion ${receipt.completionTokens} vs local ${record.localUsage.completionTokens}`);
  }
  return outside.length === 0
    ? []
    : [{ check: "token_tolerance", detail: `beyond ${tolerance} tolerance: ${outside.join(", ")}` }];
}

/** Check 5: an intent that existed and could cover the charge, at catalog prices, charged exactly. */
export function checkIntentAndPrice(
  record: UsageRecord,
  intent: IntentStatus | undefined,
  model: ModelTemplate | undefined,
): CheckFailure[] {
  const failures: CheckFailure[] = [];
  if (record.intentId === undefined) {
    failures.push({ check: "no_intent", detail: "record names no intent" });
  } else if (!intent) {
    failures.push({ check: "intent_funding", detail: `intent ${record.intentId} is unknown` });
  } else if (intent.state === "pending") {
    failures.push({ check: "intent_funding", detail: `intent ${record.intentId} was never funded` });
  } else if (intent.state !== "active" && intent.closedAt !== undefined && intent.closedAt < record.timestamp) {
    // Closing after the job is normal (settlement lags); closing before it means no escrow backed it.
    failures.push({ check: "intent_funding", detail: `intent ${record.intentId} was ${intent.state} before the job` });
  } else if (intent.funded < record.charge) {
    failures.push({ check: "intent_funding", detail: `intent funded ${intent.funded} < charge ${record.charge}` });
  }
  if (!model) {
    failures.push({ check: "price", detail: `unknown model ${record.modelType}` });
    return failures;
  }
  const { inputPerMillion, outputPerMillion } = model.pricing;
  if (record.inputPricePerMillion !== inputPerMillion || record.outputPricePerMillion !== outputPerMillion) {
    failures.push({
      check: "price",
      detail: `prices ${record.inputPricePerMillion}/${record.outputPricePerMillion} ≠ catalog ${inputPerMillion}/${outputPerMillion}`,
    });
  }
  let expected: bigint | undefined;
  try {
    expected = chargeFor(record.tokenUsage, model.pricing);
  } catch {
    expected = undefined;
  }
  if (expected !== record.charge) {
    failures.push({
      check: "charge",
      detail: `charge ${record.charge} ≠ ${expected ?? "(uncomputable)"} at catalog prices`,
    });
  }
  return failures;
}

/** Check 6 without the replay part: inside the epoch, and not impossibly fast. */
export function checkTiming(record: UsageRecord, bounds: EpochBounds | undefined): CheckFailure[] {
  const failures: CheckFailure[] = [];
  if (!bounds) {
    failures.push({ check: "epoch_window", detail: "unknown epoch" });
  } else if (!(record.timestamp >= bounds.startMs && record.timestamp < bounds.endMs)) {
    failures.push({
      check: "epoch_window",
      detail: `timestamp ${record.timestamp} outside [${bounds.startMs}, ${bounds.endMs})`,
    });
  }
  const duration = record.executionDuration;
  if (!(Number.isFinite(duration) && duration > 0)) {
    failures.push({ check: "duration", detail: `execution duration ${duration} ms is not positive` });
  } else if (duration * MAX_COMPLETION_TOKENS_PER_MS < record.tokenUsage.completionTokens) {
    failures.push({
      check: "duration",
      detail: `${record.tokenUsage.completionTokens} tokens in ${duration} ms is implausibly fast`,
    });
  }
  return failures;
}
