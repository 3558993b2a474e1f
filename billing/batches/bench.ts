/**
 * Batching benchmark: synthetic records → one signed batch → every record's inclusion proof,
 * proofs checked on a sample. Issue 4 targets 100k records (with payout planning) in ≤ 5 s;
 * this measures the batching share of that budget.
 */
import { performance } from "node:perf_hooks";
import { generateKeypair } from "../receipts/ed25519.ts";
import type { UsageRecord } from "../store/types.ts";
import { allInclusionProofs, buildBatch, verifyInclusion } from "./batch.ts";

/** The synthetic records' first timestamp (record `i` is at `BENCH_START_MS + i`). */
export const BENCH_START_MS = 1_700_000_000_000;
/** Synthetic records spread over this many runners (`runner-<i % 16>`) and intents (`in_bench_<i % 32>`). */
export const BENCH_RUNNERS = 16;
export const BENCH_INTENTS = 32;
const VERIFIED_SAMPLE = 1_000;

/**
 * The `index`-th synthetic usage record of the benchmarks: an escrowed, successful job with a
 * receipt-sized `receiptJson`, on runner `index % 16` and intent `index % 32`. Shared by the
 * batching benchmark and the settlement benchmark (`billing/settlement/bench-main.ts`).
 */
export function syntheticUsageRecord(index: number): UsageRecord {
  const promptTokens = 100 + (index % 400);
  const completionTokens = 50 + (index % 700);
  return {
    jobId: `job_bench_${index}`,
    nodeId: `runner-${index % BENCH_RUNNERS}`,
    intentId: `in_bench_${index % BENCH_INTENTS}`,
    accountId: "acct_bench",
    apiKeyId: "key_bench",
    modelType: "qwen2.5-7b-instruct",
    tokenUsage: { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens },
    localUsage: { promptTokens, completionTokens },
    engineUsage: { promptTokens, completionTokens },
    executionDuration: completionTokens * 20,
    executionHash: "ab".repeat(32),
    logsHash: undefined,
    timestamp: BENCH_START_MS + index,
    success: true,
    errorMessage: undefined,
    // A receipt-sized payload, so leaf hashing sees realistic input lengths.
    receiptJson: JSON.stringify({ receipt: { jobId: `job_bench_${index}`, padding: "x".repeat(300) }, signature: "s" }),
    inputPricePerMillion: 100_000n,
    outputPricePerMillion: 200_000n,
    charge: BigInt(promptTokens + completionTokens),
    chargeState: "escrowed",
    epoch: undefined,
  };
}

/**
 * Elapsed ms of: canonical bytes + leaf hashes + tree + gateway signature for `recordCount`
 * records, then every record's inclusion proof, then verification of a sample of them. The
 * synthetic records are built before the clock starts: producing them is not the system's work.
 */
export function benchmarkBatching(recordCount: number): number {
  if (!Number.isSafeInteger(recordCount) || recordCount < 1) throw new RangeError("recordCount must be positive");
  const records = Array.from({ length: recordCount }, (_, index) => syntheticUsageRecord(index));
  const gatewayKeypair = generateKeypair();
  const started = performance.now();
  const batch = buildBatch({ epoch: 0, records, gatewayKeypair, createdAt: BENCH_START_MS });
  const proofs = allInclusionProofs(batch);
  const step = Math.max(1, Math.floor(recordCount / VERIFIED_SAMPLE));
  for (let index = 0; index < recordCount; index += step) {
    if (!verifyInclusion(records[index] as UsageRecord, proofs[index] as (typeof proofs)[number], batch.root)) {
      throw new Error(`proof of record ${index} does not verify`);
    }
  }
  return performance.now() - started;
}
