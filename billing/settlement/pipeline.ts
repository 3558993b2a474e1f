/**
 * One settlement round, run by the leader: captured usage records → a signed Merkle batch →
 * the oracle's verification → accepted records marked verified → a plan that splits each
 * (intent, runner) sum in basis points → payouts from the intents' escrows on chain, each
 * journaled before broadcast → records settled, intents' `settled` raised, events published.
 *
 * Rounds are numbered 1, 2, 3… (the journal's epochs). Each covers the records captured since
 * the previous one, up to a short lag behind now so a record still being written is not missed.
 */

import { buildBatch, type InclusionProof, type SignedBatch, usageRecordLeaf } from "../batches/batch.ts";
import type { EpochBounds } from "../batches/epochs.ts";
import { MerkleTree } from "../batches/merkle.ts";
import type { VerificationResult } from "../oracle/types.ts";
import type { WalletKeypair } from "../receipts/ed25519.ts";
import type { BillingStore, UsageRecord } from "../store/types.ts";
import type { SettlementExecutor, SettlementReport } from "./executor.ts";
import type { PayoutJournal } from "./journal.ts";
import { planSettlement, type SettlementItem, type SettlementPayout, type SettlementSplit } from "./plan.ts";

/** Anything that verifies a batch: the in-process oracle, or a client of a remote one. */
export interface BatchVerifier {
  verify(batch: SignedBatch): Promise<VerificationResult>;
}

export interface RoundSummary {
  epoch: number;
  root: string | undefined;
  /** Records submitted to the oracle. */
  records: number;
  accepted: number;
  rejected: number;
  verificationId: string | undefined;
  payouts: SettlementPayout[];
  report: SettlementReport | undefined;
  /** Sum of the payouts confirmed in this round. */
  paid: bigint;
}

export interface SettlementPipelineOptions {
  store: BillingStore;
  journal: PayoutJournal;
  executor: SettlementExecutor;
  verifier: BatchVerifier;
  gatewayKeypair: WalletKeypair;
  treasuryWallet: string;
  oracleWallet: string;
  split?: SettlementSplit;
  /** Records younger than this wait for the next round. */
  lagMs?: number;
  now?: () => number;
  /** Largest batch; more records wait for the next round. */
  maxRecords?: number;
}

const DEFAULT_LAG_MS = 1_000;
/** Per round: building a batch is synchronous CPU work on the serving thread, so keep it short; the rest waits a round. */
const DEFAULT_MAX_RECORDS = 5_000;

export class SettlementPipeline {
  /** Windows of the rounds this process ran, for the in-process oracle's epoch check. */
  private readonly windows = new Map<number, EpochBounds>();
  /** Records the oracle rejected: never paid, never resubmitted by this process. */
  private readonly rejected = new Set<string>();
  private running: Promise<RoundSummary> | undefined;

  constructor(private readonly options: SettlementPipelineOptions) {}

  /** The time window of a round, as the oracle's `EpochWindows` needs it. */
  epochBounds(epoch: number): EpochBounds | undefined {
    return this.windows.get(epoch);
  }

  /** Runs one round; concurrent calls share the round in progress. */
  settleRound(): Promise<RoundSummary> {
    this.running ??= this.runRound().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /**
   * A verified record's inclusion proof in its epoch's signed root, rebuilt from the batch's
   * journaled members (leaf bytes leave out the fields settlement changes later).
   */
  async inclusionProofOf(jobId: string): Promise<{ epoch: number; root: string; proof: InclusionProof } | undefined> {
    const record = await this.options.store.getUsage(jobId);
    if (record?.epoch === undefined) return undefined;
    const members = await this.options.journal.batchMembers(record.epoch);
    if (!members) return undefined;
    const records: UsageRecord[] = [];
    for (const memberId of members) {
      const member = await this.options.store.getUsage(memberId);
      if (!member) return undefined;
      records.push(member);
    }
    const leaves = records.map((member) => usageRecordLeaf(member));
    const tree = new MerkleTree(leaves);
    const index = members.indexOf(jobId);
    return { epoch: record.epoch, root: tree.root.toString("hex"), proof: { jobId, ...tree.proof(index) } };
  }

  /** After a restart: finish payouts a crash left in flight before starting anything new. */
  resume(): Promise<SettlementReport> {
    return this.options.executor.resume();
  }

  private async runRound(): Promise<RoundSummary> {
    const { store, journal } = this.options;
    const now = (this.options.now ?? Date.now)();
    await this.options.executor.resume();
    const previous = await journal.latestEpoch();
    const epoch = (previous?.epoch ?? 0) + 1;
    const until = now - (this.options.lagMs ?? DEFAULT_LAG_MS);
    const due = (await store.listUsage({ to: until }, this.options.maxRecords ?? DEFAULT_MAX_RECORDS)).filter(
      (record) =>
        record.chargeState === "escrowed" &&
        record.charge > 0n &&
        record.intentId !== undefined &&
        !this.rejected.has(record.jobId),
    );
    const empty: RoundSummary = {
      epoch,
      root: undefined,
      records: 0,
      accepted: 0,
      rejected: 0,
      verificationId: undefined,
      payouts: [],
      report: undefined,
      paid: 0n,
    };
    if (due.length === 0) return empty;

    const startMs = Math.min(...due.map((record) => record.timestamp));
    this.windows.set(epoch, { startMs, endMs: until + 1 });
    const batch = buildBatch({ epoch, records: due, gatewayKeypair: this.options.gatewayKeypair, createdAt: now });
    await journal.recordBatchMembers(
      epoch,
      due.map((record) => record.jobId),
    );
    const verification = await this.options.verifier.verify(batch);
    const acceptedIds = new Set(verification.proofs.map((proof) => proof.jobId));
    for (const record of due) if (!acceptedIds.has(record.jobId)) this.rejected.add(record.jobId);
    await store.markVerified([...acceptedIds], epoch);

    const items: SettlementItem[] = [];
    for (const proof of verification.proofs) {
      const intent = proof.intentId ? await store.getIntent(proof.intentId) : undefined;
      if (!intent) continue;
      items.push({
        jobId: proof.jobId,
        intentId: intent.id,
        escrow: intent.escrow,
        nodeId: proof.nodeId ?? "",
        runnerWallet: proof.runnerWallet,
        charge: proof.charge,
      });
    }
    const plan = planSettlement({
      epoch,
      rootHex: batch.root,
      items,
      treasuryWallet: this.options.treasuryWallet,
      oracleWallet: this.options.oracleWallet,
      split: this.options.split,
      previousCarried: previous?.carried,
    });
    const report = await this.options.executor.execute(plan);
    if (report.pending.length === 0 && report.failed.length === 0) await store.markSettled([...acceptedIds]);
    const confirmed = new Set(report.confirmed);
    const batches = await journal.batchesOfEpoch(epoch);
    let paid = 0n;
    for (const journaled of batches) {
      if (!confirmed.has(journaled.batchId)) continue;
      for (const payout of journaled.payouts) paid += payout.amount;
    }
    return {
      epoch,
      root: batch.root,
      records: due.length,
      accepted: acceptedIds.size,
      rejected: due.length - acceptedIds.size,
      verificationId: verification.verificationId,
      payouts: plan.payouts,
      report,
      paid,
    };
  }
}
