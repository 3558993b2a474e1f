import { describe, expect, it } from "vitest";
import {
  allInclusionProofs,
  buildBatch,
  computeBatchRoot,
  inclusionProof,
  type SignedBatch,
  verifyBatchSignature,
  verifyInclusion,
} from "../../billing/batches/batch.ts";
import { benchmarkBatching } from "../../billing/batches/bench.ts";
import { canonicalUsageRecordBytes } from "../../billing/batches/canonical.ts";
import { leafHash, MerkleTree, nodeHash, verifyMerkleProof } from "../../billing/batches/merkle.ts";
import { generateKeypair } from "../../billing/receipts/ed25519.ts";
import type { UsageRecord } from "../../billing/store/types.ts";

const T0 = 1_700_000_000_000;
const gateway = generateKeypair();

function record(index: number, overrides: Partial<UsageRecord> = {}): UsageRecord {
  return {
    jobId: `job_${index}`,
    nodeId: "runner-a",
    intentId: "in_1",
    accountId: "acct_1",
    apiKeyId: "key_1",
    modelType: "qwen2.5-7b-instruct",
    tokenUsage: { promptTokens: 10, completionTokens: 20 + index, totalTokens: 30 + index },
    localUsage: { promptTokens: 10, completionTokens: 20 + index },
    engineUsage: undefined,
    executionDuration: 500,
    executionHash: "ab".repeat(32),
    logsHash: undefined,
    timestamp: T0 + index,
    success: true,
    errorMessage: undefined,
    receiptJson: "{}",
    inputPricePerMillion: 100_000n,
    outputPricePerMillion: 200_000n,
    charge: 5n,
    chargeState: "escrowed",
    epoch: undefined,
    ...overrides,
  };
}

function records(count: number): UsageRecord[] {
  return Array.from({ length: count }, (_, index) => record(index));
}

function batchOf(list: UsageRecord[], epoch = 3): SignedBatch {
  return buildBatch({ epoch, records: list, gatewayKeypair: gateway, createdAt: T0 });
}

describe("canonical usage record bytes", () => {
  it("are deterministic, domain-separated, and ignore settlement bookkeeping", () => {
    const bytes = canonicalUsageRecordBytes(record(1)).toString("utf8");
    expect(bytes.startsWith("hypernode-usage-record:v1:")).toBe(true);
    expect(bytes).toContain('"5"');
    expect(canonicalUsageRecordBytes(record(1, { chargeState: "settled", epoch: 9 })).toString("utf8")).toBe(bytes);
    expect(canonicalUsageRecordBytes(record(1, { charge: 6n })).toString("utf8")).not.toBe(bytes);
  });

  it("refuses non-finite numbers, which JSON would turn into null", () => {
    expect(() => canonicalUsageRecordBytes(record(1, { executionDuration: Number.NaN }))).toThrow(RangeError);
  });
});

describe("Merkle tree", () => {
  it.each([1, 2, 3, 5, 100])("every leaf's proof verifies with %i leaves", (count) => {
    const batch = batchOf(records(count));
    const proofs = allInclusionProofs(batch);
    batch.records.forEach((entry, index) => {
      expect(verifyInclusion(entry, proofs[index] as (typeof proofs)[number], batch.root)).toBe(true);
      expect(inclusionProof(batch, entry.jobId)).toEqual(proofs[index]);
    });
  });

  it("hashes leaves and nodes under different prefixes and promotes an odd node", () => {
    const leaves = ["a", "b", "c"].map((text) => leafHash(Buffer.from(text)));
    const [a, b, c] = leaves as [Buffer, Buffer, Buffer];
    expect(new MerkleTree([a]).root).toEqual(a);
    expect(new MerkleTree(leaves).root).toEqual(nodeHash(nodeHash(a, b), c));
    // Duplicating the last leaf would give [a, b, c, c] the same root; promotion does not.
    expect(new MerkleTree([a, b, c, c]).root).not.toEqual(new MerkleTree(leaves).root);
    expect(leafHash(Buffer.concat([a, b]))).not.toEqual(nodeHash(a, b));
  });

  it("gives the same root for the same records, and another one for another order", () => {
    expect(computeBatchRoot(records(10))).toBe(computeBatchRoot(records(10)));
    expect(computeBatchRoot(records(10).reverse())).not.toBe(computeBatchRoot(records(10)));
  });

  it("fails a tampered record or a tampered proof", () => {
    const batch = batchOf(records(7));
    const proof = inclusionProof(batch, "job_4");
    if (!proof) throw new Error("missing proof");
    const original = batch.records[4] as UsageRecord;
    expect(verifyInclusion(original, proof, batch.root)).toBe(true);
    expect(verifyInclusion({ ...original, charge: original.charge + 1n }, proof, batch.root)).toBe(false);
    const otherSiblings = proof.siblings.map((sibling, index) => (index === 0 ? "00".repeat(32) : sibling));
    expect(verifyInclusion(original, { ...proof, siblings: otherSiblings }, batch.root)).toBe(false);
    expect(verifyInclusion(original, { ...proof, leafIndex: 5 }, batch.root)).toBe(false);
    expect(
      verifyInclusion(original, { ...proof, siblings: [...proof.siblings, proof.siblings[0] ?? ""] }, batch.root),
    ).toBe(false);
    expect(verifyInclusion(original, { ...proof, jobId: "job_5" }, batch.root)).toBe(false);
    expect(verifyMerkleProof(Buffer.alloc(32), proof, batch.root)).toBe(false);
    expect(inclusionProof(batch, "job_missing")).toBeUndefined();
  });

  it("refuses an empty batch and a job twice", () => {
    expect(() => batchOf([])).toThrow();
    expect(() => batchOf([record(1), record(1)])).toThrow(/twice/);
  });
});

describe("batch signature", () => {
  it("verifies, and fails on any change to the signed header or a forged signer", () => {
    const batch = batchOf(records(4));
    expect(verifyBatchSignature(batch)).toBe(true);
    expect(verifyBatchSignature({ ...batch, epoch: 4 })).toBe(false);
    expect(verifyBatchSignature({ ...batch, root: computeBatchRoot(records(5)) })).toBe(false);
    expect(verifyBatchSignature({ ...batch, records: records(5) })).toBe(false);
    expect(verifyBatchSignature({ ...batch, createdAt: T0 + 1 })).toBe(false);
    const forger = generateKeypair();
    const forged = buildBatch({ epoch: 3, records: records(4), gatewayKeypair: forger, createdAt: T0 });
    expect(verifyBatchSignature({ ...forged, gatewayPublicKey: gateway.address })).toBe(false);
    expect(verifyBatchSignature({ ...batch, gatewaySignature: "not-base58!" })).toBe(false);
  });
});

describe("benchmarkBatching", () => {
  it("runs on 1,000 records", () => {
    expect(benchmarkBatching(1_000)).toBeGreaterThan(0);
  });
});
