import { beforeEach, describe, expect, it } from "vitest";
import { buildBatch, inclusionProof, type SignedBatch, verifyInclusion } from "../../billing/batches/batch.ts";
import { EpochSchedule } from "../../billing/batches/epochs.ts";
import { chargeFor } from "../../billing/money.ts";
import { InMemoryNullifierSet } from "../../billing/oracle/nullifiers.ts";
import { Oracle } from "../../billing/oracle/oracle.ts";
import type { IntentStatus } from "../../billing/oracle/types.ts";
import { verifyUsageProof } from "../../billing/oracle/usage-proof.ts";
import { generateKeypair, type WalletKeypair } from "../../billing/receipts/ed25519.ts";
import { RECEIPT_VERSION, sha256Hex, signReceipt } from "../../billing/receipts/receipt.ts";
import type { UsageRecord } from "../../billing/store/types.ts";
import { ModelCatalog } from "../../models/catalog.ts";

const T0 = 1_700_000_000_000;
const EPOCH_MS = 60_000;
const schedule = new EpochSchedule(T0, EPOCH_MS);
const catalog = ModelCatalog.builtIn();
const MODEL = "qwen2.5-7b-instruct";
const pricing = catalog.resolve(MODEL)?.pricing ?? { inputPerMillion: 0n, outputPerMillion: 0n };

const gateway = generateKeypair();
const runners = new Map<string, WalletKeypair>([
  ["runner-a", generateKeypair()],
  ["runner-b", generateKeypair()],
  ["runner-c", generateKeypair()],
]);
const intents = new Map<string, IntentStatus>([
  ["in_alpha", { state: "active", funded: 10_000_000n }],
  ["in_beta", { state: "closed", funded: 10_000_000n, closedAt: T0 + 10 * EPOCH_MS }],
]);

let sequence = 0;

interface JobOptions {
  nodeId?: string;
  intentId?: string;
  promptTokens?: number;
  completionTokens?: number;
  localCompletion?: number;
  signer?: WalletKeypair;
  offsetMs?: number;
}

/** A finished job as the gateway records it: the runner's real signed receipt, a real charge. */
function job(options: JobOptions = {}): UsageRecord {
  sequence += 1;
  const jobId = `job_${sequence}`;
  const nodeId = options.nodeId ?? "runner-a";
  const wallet = options.signer ?? (runners.get(nodeId) as WalletKeypair);
  const promptTokens = options.promptTokens ?? 120;
  const completionTokens = options.completionTokens ?? 300;
  const finishedAt = T0 + (options.offsetMs ?? 1_000 + sequence);
  const startedAt = finishedAt - 4_000;
  const output = `output of ${jobId}`;
  const signed = signReceipt(
    {
      version: RECEIPT_VERSION,
      jobId,
      runnerId: nodeId,
      wallet: wallet.address,
      model: MODEL,
      promptTokens,
      completionTokens,
      outputSha256: sha256Hex(output),
      startedAt,
      finishedAt,
      outcome: "completed",
    },
    wallet,
  );
  const tokenUsage = { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
  return {
    jobId,
    nodeId,
    intentId: options.intentId ?? "in_alpha",
    accountId: "acct_1",
    apiKeyId: "key_1",
    modelType: MODEL,
    tokenUsage,
    localUsage: { promptTokens, completionTokens: options.localCompletion ?? completionTokens - 3 },
    engineUsage: { promptTokens, completionTokens },
    executionDuration: finishedAt - startedAt,
    executionHash: sha256Hex(output),
    logsHash: undefined,
    timestamp: finishedAt,
    success: true,
    errorMessage: undefined,
    receiptJson: JSON.stringify(signed),
    inputPricePerMillion: pricing.inputPerMillion,
    outputPricePerMillion: pricing.outputPerMillion,
    charge: chargeFor(tokenUsage, pricing),
    chargeState: "escrowed",
    epoch: undefined,
  };
}

function batchOf(records: UsageRecord[], signer: WalletKeypair = gateway): SignedBatch {
  return buildBatch({ epoch: 0, records, gatewayKeypair: signer, createdAt: T0 + EPOCH_MS });
}

const oracleKeypair = generateKeypair();
let nullifiers: InMemoryNullifierSet;
let oracle: Oracle;

beforeEach(() => {
  nullifiers = new InMemoryNullifierSet();
  oracle = new Oracle(
    {
      runners: { isRegisteredRunnerWallet: (nodeId, wallet) => runners.get(nodeId)?.address === wallet },
      catalog,
      intents: { intentStatus: async (intentId) => intents.get(intentId) },
      nullifiers,
      epochs: { epochBounds: (epoch) => schedule.bounds(epoch) },
    },
    { keypair: oracleKeypair, trustedGateways: [gateway.address], now: () => T0 + 2 * EPOCH_MS },
  );
});

/** Verifies a batch with one tampered record among clean ones; returns the tampered result. */
async function verifyWithTampered(tampered: UsageRecord) {
  const records = [job(), tampered, job({ nodeId: "runner-b" })];
  const result = await oracle.verify(batchOf(records));
  const verdict = result.results.find((entry) => entry.jobId === tampered.jobId);
  if (!verdict) throw new Error("no verdict for the tampered record");
  expect(result.proofs.map((proof) => proof.jobId)).not.toContain(tampered.jobId);
  expect(verdict.accepted).toBe(false);
  return { result, verdict };
}

describe("Oracle", () => {
  it("accepts a clean batch from three runners and two intents with proofs that verify", async () => {
    const records = [
      job(),
      job({ nodeId: "runner-b" }),
      job({ nodeId: "runner-c", intentId: "in_beta" }),
      job({ nodeId: "runner-b", intentId: "in_beta", completionTokens: 0, promptTokens: 5000 }),
    ];
    const batch = batchOf(records);
    const result = await oracle.verify(batch);
    expect(result.message).toBe("accepted 4 of 4 records of epoch 0");
    expect(result.success).toBe(true);
    expect(result.verificationScore).toBe(1);
    expect(result.results.every((entry) => entry.accepted && entry.failedChecks.length === 0)).toBe(true);
    expect(result.proofs).toHaveLength(4);
    for (const [index, proof] of result.proofs.entries()) {
      const original = records[index] as UsageRecord;
      expect(verifyUsageProof(proof, oracleKeypair.address)).toBe(true);
      expect(proof).toMatchObject({
        jobId: original.jobId,
        batchRoot: batch.root,
        epoch: 0,
        charge: original.charge,
        nodeId: original.nodeId,
        runnerWallet: runners.get(original.nodeId ?? "")?.address,
        intentId: original.intentId,
        oraclePublicKey: oracleKeypair.address,
      });
      expect(
        verifyInclusion(
          original,
          inclusionProof(batch, original.jobId) ?? { jobId: "", leafIndex: 0, leafCount: 0, siblings: [] },
          proof.batchRoot,
        ),
      ).toBe(true);
      expect(verifyUsageProof({ ...proof, charge: proof.charge + 1n }, oracleKeypair.address)).toBe(false);
      expect(verifyUsageProof({ ...proof, runnerWallet: oracleKeypair.address }, oracleKeypair.address)).toBe(false);
    }
    expect(verifyUsageProof(result.proofs[0] as (typeof result.proofs)[number], generateKeypair().address)).toBe(false);
    expect(oracle.getVerification(result.verificationId)).toBe(result);
    expect(oracle.getVerification("ver_unknown")).toBeUndefined();
  });

  it("rejects a completion count inflated beyond tolerance (check 4), though runner-signed and charged", async () => {
    const { verdict } = await verifyWithTampered(job({ completionTokens: 900, localCompletion: 300 }));
    expect(verdict.failedChecks).toEqual(["token_tolerance"]);
    expect(verdict.score).toBe(0.75);
  });

  it("rejects a receipt signed by a key other than the runner's registered wallet (check 2), outright", async () => {
    const { verdict } = await verifyWithTampered(job({ signer: generateKeypair() }));
    expect(verdict.failedChecks).toContain("receipt_signature");
    expect(verdict.score).toBe(0);
  });

  it("rejects a receipt whose signature does not cover the record's counts (check 2)", async () => {
    const honest = job();
    const { verdict } = await verifyWithTampered({
      ...honest,
      receiptJson: (honest.receiptJson ?? "").replace('"completionTokens":300', '"completionTokens":301'),
    });
    expect(verdict.failedChecks).toContain("receipt_signature");
  });

  it("rejects a replayed job id in a second batch (check 6), outright", async () => {
    const replayed = job();
    const first = await oracle.verify(batchOf([replayed, job()]));
    expect(first.success).toBe(true);
    const second = await oracle.verify(batchOf([job(), replayed]));
    const verdict = second.results.find((entry) => entry.jobId === replayed.jobId);
    expect(verdict).toMatchObject({ accepted: false, score: 0, failedChecks: ["replay"] });
    expect(second.proofs.map((proof) => proof.jobId)).not.toContain(replayed.jobId);
    expect(second.proofs).toHaveLength(1);
  });

  it("rejects a wrong price (check 5)", async () => {
    const honest = job();
    const { verdict } = await verifyWithTampered({ ...honest, outputPricePerMillion: pricing.outputPerMillion * 2n });
    expect(verdict.failedChecks).toContain("price");
    expect(verdict.failedChecks.every((check) => check === "price" || check === "charge")).toBe(true);
  });

  it("rejects a wrong charge (check 5)", async () => {
    const honest = job();
    const { verdict } = await verifyWithTampered({ ...honest, charge: honest.charge + 1n });
    expect(verdict.failedChecks).toEqual(["charge"]);
  });

  it("rejects a record that is not in the signed root (check 1), and with it the whole batch", async () => {
    const records = [job(), job(), job()];
    const batch = batchOf(records);
    const outsider = job();
    const swapped: SignedBatch = {
      ...batch,
      records: [records[0] as UsageRecord, outsider, records[2] as UsageRecord],
    };
    const result = await oracle.verify(swapped);
    expect(result.success).toBe(false);
    expect(result.proofs).toEqual([]);
    const verdict = result.results.find((entry) => entry.jobId === outsider.jobId);
    expect(verdict).toMatchObject({ accepted: false, score: 0 });
    expect(verdict?.failedChecks).toContain("merkle_inclusion");
    // Nothing was proven, so the honest records can still be submitted in a correct batch.
    expect((await oracle.verify(batch)).success).toBe(true);
  });

  it("rejects a forged batch signature and an untrusted gateway (check 1)", async () => {
    const records = [job(), job()];
    const forger = generateKeypair();
    const forged = { ...batchOf(records, forger), gatewayPublicKey: gateway.address };
    const result = await oracle.verify(forged);
    expect(result.proofs).toEqual([]);
    expect(result.results.every((entry) => entry.failedChecks.includes("batch_signature") && entry.score === 0)).toBe(
      true,
    );
    const untrusted = await oracle.verify(batchOf(records, forger));
    expect(untrusted.proofs).toEqual([]);
    expect(untrusted.message).toContain("not trusted");
  });

  it("grades timing, arithmetic and intents, and honours a configured threshold", async () => {
    const tooFast = { ...job(), executionDuration: 1 };
    const outsideEpoch = job({ offsetMs: EPOCH_MS + 5 });
    const badTotal = (() => {
      const honest = job();
      return { ...honest, tokenUsage: { ...honest.tokenUsage, totalTokens: honest.tokenUsage.totalTokens + 1 } };
    })();
    const unknownIntent = job({ intentId: "in_missing" });
    const result = await oracle.verify(batchOf([tooFast, outsideEpoch, badTotal, unknownIntent]));
    expect(result.results.map((entry) => entry.failedChecks)).toEqual([
      ["duration"],
      ["epoch_window"],
      ["token_arithmetic"],
      ["intent_funding"],
    ]);
    expect(result.proofs).toEqual([]);
    expect(result.verificationScore).toBe(0.75);

    const lenient = new Oracle(
      {
        runners: { isRegisteredRunnerWallet: (nodeId, wallet) => runners.get(nodeId)?.address === wallet },
        catalog,
        intents: { intentStatus: (intentId) => intents.get(intentId) },
        nullifiers,
        epochs: { epochBounds: (epoch) => schedule.bounds(epoch) },
      },
      { keypair: oracleKeypair, trustedGateways: [gateway.address], threshold: 0.75 },
    );
    const second = await lenient.verify(batchOf([tooFast]));
    expect(second.results[0]).toMatchObject({ accepted: true, failedChecks: ["duration"] });
  });

  it("flags a job id repeated inside one batch as a replay", async () => {
    const once = job();
    const other = job();
    const batch = batchOf([once, other]);
    // buildBatch refuses duplicates, so forge the duplicate after signing: it breaks the root too.
    const result = await oracle.verify({ ...batch, records: [once, once] });
    expect(result.results[1]?.failedChecks).toContain("replay");
    expect(result.proofs).toEqual([]);
  });
});
