/**
 * Settlement benchmark (issue 4): `node --import tsx billing/settlement/bench-main.ts --records 100000`.
 *
 * Builds `--records` synthetic usage records (the batching benchmark's), then times
 * `buildBatch` (canonical bytes, leaf hashes, tree, gateway signature), `allInclusionProofs`
 * (every record's proof) and `planSettlement` (one item per record over 32 intents, each with
 * its own escrow, and 16 runner wallets) with `performance.now()`. Producing the synthetic
 * records, items and keypairs is not the system's work and happens before the clock starts;
 * checking the output (a sample of proofs, the plan's conservation of value) happens after.
 *
 * Prints one JSON line on stdout:
 * `{"records":N,"batchMs":…,"proofsMs":…,"planMs":…,"totalMs":…,"payouts":…}`; exits 1 with a
 * message on stderr when the output does not check out, 2 on bad usage.
 */
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { allInclusionProofs, buildBatch, verifyInclusion } from "../batches/batch.ts";
import { BENCH_INTENTS, BENCH_RUNNERS, BENCH_START_MS, syntheticUsageRecord } from "../batches/bench.ts";
import { generateKeypair } from "../receipts/ed25519.ts";
import type { UsageRecord } from "../store/types.ts";
import { planSettlement, type SettlementItem } from "./plan.ts";

const VERIFIED_SAMPLE = 1_000;

export interface SettlementBenchmark {
  records: number;
  batchMs: number;
  proofsMs: number;
  planMs: number;
  totalMs: number;
  payouts: number;
}

function addresses(count: number): string[] {
  return Array.from({ length: count }, () => generateKeypair().address);
}

export function benchmarkSettlement(recordCount: number): SettlementBenchmark {
  if (!Number.isSafeInteger(recordCount) || recordCount < 1) throw new RangeError("recordCount must be positive");
  const records: UsageRecord[] = Array.from({ length: recordCount }, (_, index) => syntheticUsageRecord(index));
  const escrows = addresses(BENCH_INTENTS);
  const runnerWallets = addresses(BENCH_RUNNERS);
  const [treasuryWallet, oracleWallet] = addresses(2) as [string, string];
  // Record i is on intent i % 32 and runner i % 16 (see syntheticUsageRecord).
  const items: SettlementItem[] = records.map((record, index) => {
    if (record.intentId === undefined || record.nodeId === undefined)
      throw new Error(`record ${index} has no intent or runner`);
    return {
      jobId: record.jobId,
      intentId: record.intentId,
      escrow: escrows[index % BENCH_INTENTS] as string,
      nodeId: record.nodeId,
      runnerWallet: runnerWallets[index % BENCH_RUNNERS] as string,
      charge: record.charge,
    };
  });
  const gatewayKeypair = generateKeypair();

  const started = performance.now();
  const batch = buildBatch({ epoch: 1, records, gatewayKeypair, createdAt: BENCH_START_MS });
  const batched = performance.now();
  const proofs = allInclusionProofs(batch);
  const proved = performance.now();
  const plan = planSettlement({ epoch: 1, rootHex: batch.root, items, treasuryWallet, oracleWallet });
  const planned = performance.now();

  if (proofs.length !== recordCount) throw new Error(`${proofs.length} proofs for ${recordCount} records`);
  const step = Math.max(1, Math.floor(recordCount / VERIFIED_SAMPLE));
  for (let index = 0; index < recordCount; index += step) {
    if (!verifyInclusion(records[index] as UsageRecord, proofs[index] as (typeof proofs)[number], batch.root)) {
      throw new Error(`proof of record ${index} does not verify`);
    }
  }
  const charged = items.reduce((sum, item) => sum + item.charge, 0n);
  const paid = plan.payouts.reduce((sum, payout) => sum + payout.amount, 0n);
  const carried = [...plan.carried.values()].reduce((sum, amount) => sum + amount, 0n);
  if (paid + carried !== charged) throw new Error(`plan pays ${paid} + carries ${carried} of ${charged} charged`);
  if (plan.payouts.length === 0) throw new Error("the plan has no payouts");

  return {
    records: recordCount,
    batchMs: batched - started,
    proofsMs: proved - batched,
    planMs: planned - proved,
    totalMs: planned - started,
    payouts: plan.payouts.length,
  };
}

function main(argv: readonly string[]): number {
  let records: number;
  try {
    const { values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: { records: { type: "string", default: "100000" } },
    });
    records = Number(values.records);
    if (!Number.isSafeInteger(records) || records < 1) throw new Error(`--records: expected a positive integer`);
  } catch (error) {
    process.stderr.write(`settlement bench: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  try {
    process.stdout.write(`${JSON.stringify(benchmarkSettlement(records))}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`settlement bench: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = main(process.argv.slice(2));
}
