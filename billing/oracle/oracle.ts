/**
 * The oracle: verifies a gateway's signed batch record by record and signs a usage proof for each
 * record it accepts. Only proofs are ever paid, so a rejected record, whatever the reason, costs
 * nobody anything. Verifications are kept in memory by id for `GET /api/oracle/verifications/{id}`.
 */
import { randomBytes } from "node:crypto";
import {
  batchRootMatches,
  isRootHex,
  type SignedBatch,
  usageRecordLeaf,
  verifyBatchSignature,
} from "../batches/batch.ts";
import type { WalletKeypair } from "../receipts/ed25519.ts";
import type { UsageRecord } from "../store/types.ts";
import { checkIntentAndPrice, checkReceipt, checkTiming, checkTokenArithmetic, checkTolerance } from "./checks.ts";
import {
  CHECK_GROUP,
  type CheckFailure,
  type OracleDependencies,
  OUTRIGHT_CHECKS,
  type RecordVerification,
  type VerificationResult,
} from "./types.ts";
import { signUsageProof, type UsageProof } from "./usage-proof.ts";

export const DEFAULT_ACCEPTANCE_THRESHOLD = 0.8;
const YIELD_EVERY_RECORDS = 64;

/** Checks 3, 4, 5 and the timing half of 6 make the score, equally weighted. */
const GRADED_GROUPS = [3, 4, 5, 6] as const;

export interface OracleOptions {
  keypair: WalletKeypair;
  /** Base58 addresses of gateways whose batches are accepted: a batch names its own signer. */
  trustedGateways: readonly string[];
  /** Minimum score (0–1) to accept a record; 0.8 by default, so any one graded failure rejects. */
  threshold?: number;
  now?: () => number;
}

export class Oracle {
  private readonly verifications = new Map<string, VerificationResult>();
  private readonly threshold: number;
  private readonly trustedGateways: ReadonlySet<string>;

  constructor(
    private readonly dependencies: OracleDependencies,
    private readonly options: OracleOptions,
  ) {
    const threshold = options.threshold ?? DEFAULT_ACCEPTANCE_THRESHOLD;
    if (!(threshold >= 0 && threshold <= 1)) throw new RangeError(`threshold must be within 0..1, got ${threshold}`);
    this.threshold = threshold;
    this.trustedGateways = new Set(options.trustedGateways);
  }

  get publicKey(): string {
    return this.options.keypair.address;
  }

  getVerification(verificationId: string): VerificationResult | undefined {
    return this.verifications.get(verificationId);
  }

  async verify(batch: SignedBatch): Promise<VerificationResult> {
    const verificationId = `ver_${randomBytes(12).toString("hex")}`;
    const verifiedAt = (this.options.now ?? Date.now)();
    const batchFailures = this.checkBatch(batch);
    const bounds = this.dependencies.epochs.epochBounds(batch.epoch, batch);
    const seenInBatch = new Set<string>();
    const results: RecordVerification[] = [];
    const proofs: UsageProof[] = [];

    for (const [index, record] of batch.records.entries()) {
      // Signature checks are CPU work: yield to I/O now and then, so a gateway that hosts the
      // oracle keeps serving requests while a large batch is verified.
      if (index > 0 && index % YIELD_EVERY_RECORDS === 0) await new Promise((resolve) => setImmediate(resolve));
      const checked = await this.checkRecord(record, bounds, seenInBatch);
      const failures: CheckFailure[] = [...batchFailures, ...checked.failures];
      seenInBatch.add(record.jobId);
      let verification = this.grade(record.jobId, failures);
      if (verification.accepted) {
        // Claimed only on acceptance, atomically: a rejected record can be corrected and resent,
        // and two verifications racing on one job cannot both produce a proof.
        if (await this.dependencies.nullifiers.claim(record.jobId)) {
          proofs.push(this.prove(record, checked.runnerWallet ?? "", batch, verificationId));
        } else {
          verification = this.grade(record.jobId, [...failures, { check: "replay", detail: "job already proven" }]);
        }
      }
      results.push(verification);
    }

    const accepted = results.filter((result) => result.accepted).length;
    const result: VerificationResult = {
      success: results.length > 0 && accepted === results.length,
      verificationId,
      verificationScore:
        results.length === 0 ? 0 : results.reduce((sum, entry) => sum + entry.score, 0) / results.length,
      message: summarize(batch, results, batchFailures),
      epoch: batch.epoch,
      batchRoot: batch.root,
      gatewayPublicKey: batch.gatewayPublicKey,
      verifiedAt,
      results,
      proofs,
    };
    this.verifications.set(verificationId, result);
    return result;
  }

  /** Check 1 for the whole batch: a trusted gateway signed it and the records hash to its root. */
  private checkBatch(batch: SignedBatch): CheckFailure[] {
    const failures: CheckFailure[] = [];
    if (!this.trustedGateways.has(batch.gatewayPublicKey)) {
      failures.push({ check: "batch_signature", detail: `gateway ${batch.gatewayPublicKey} is not trusted` });
    } else if (!verifyBatchSignature(batch)) {
      failures.push({ check: "batch_signature", detail: "gateway signature does not verify" });
    }
    // Without per-record proofs in the request the tree is rebuilt from the records: if it does
    // not reproduce the signed root, nothing in the batch can be shown to be what was signed.
    if (!isRootHex(batch.root) || !batchRootMatches(batch)) {
      failures.push({ check: "merkle_inclusion", detail: "records do not hash to the signed root" });
    }
    return failures;
  }

  private async checkRecord(
    record: UsageRecord,
    bounds: ReturnType<OracleDependencies["epochs"]["epochBounds"]>,
    seenInBatch: ReadonlySet<string>,
  ): Promise<{ failures: CheckFailure[]; runnerWallet: string | undefined }> {
    const { catalog, runners, intents, nullifiers } = this.dependencies;
    const model = catalog.resolve(record.modelType);
    const receiptCheck = await checkReceipt(record, runners, catalog);
    const intent = record.intentId === undefined ? undefined : await intents.intentStatus(record.intentId);
    const failures: CheckFailure[] = [
      ...receiptCheck.failures,
      ...checkTokenArithmetic(record, model),
      ...checkTolerance(record, receiptCheck.receipt, model),
      ...checkIntentAndPrice(record, intent, model),
    ];
    if (seenInBatch.has(record.jobId) || (await nullifiers.has(record.jobId))) {
      failures.push({ check: "replay", detail: `job ${record.jobId} was already submitted` });
    }
    failures.push(...checkTiming(record, bounds));
    return { failures, runnerWallet: receiptCheck.receipt?.wallet };
  }

  private grade(jobId: string, failures: readonly CheckFailure[]): RecordVerification {
    const failedChecks = failures.map((failure) => failure.check);
    const details = failures.map((failure) => failure.detail);
    const outright = failedChecks.some((check) => OUTRIGHT_CHECKS.has(check));
    const failedGroups = new Set(failedChecks.map((check) => CHECK_GROUP[check]));
    const passed = GRADED_GROUPS.filter((group) => !failedGroups.has(group)).length;
    const score = outright ? 0 : passed / GRADED_GROUPS.length;
    return { jobId, accepted: !outright && score >= this.threshold, failedChecks, details, score };
  }

  private prove(record: UsageRecord, runnerWallet: string, batch: SignedBatch, verificationId: string): UsageProof {
    // nodeId, the wallet and intentId are present here: their absence fails checks 2 and 5 outright.
    return signUsageProof(
      {
        jobId: record.jobId,
        recordLeaf: usageRecordLeaf(record).toString("hex"),
        batchRoot: batch.root,
        epoch: batch.epoch,
        charge: record.charge,
        nodeId: record.nodeId ?? "",
        runnerWallet,
        intentId: record.intentId ?? "",
        verificationId,
      },
      this.options.keypair,
    );
  }
}

function summarize(batch: SignedBatch, results: readonly RecordVerification[], batchFailures: CheckFailure[]): string {
  if (results.length === 0) return "batch has no records";
  const accepted = results.filter((result) => result.accepted).length;
  const head = `accepted ${accepted} of ${results.length} records of epoch ${batch.epoch}`;
  if (batchFailures.length > 0) return `${head}: ${batchFailures.map((failure) => failure.detail).join("; ")}`;
  const counts = new Map<string, number>();
  for (const result of results)
    for (const check of result.failedChecks) counts.set(check, (counts.get(check) ?? 0) + 1);
  if (counts.size === 0) return head;
  return `${head}; failed checks: ${[...counts].map(([check, count]) => `${check} ×${count}`).join(", ")}`;
}
