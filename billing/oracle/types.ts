/**
 * The oracle's vocabulary: what it depends on (injected, so a store, a registry or a chain can
 * back each later) and what a verification answers.
 */
import type { ModelCatalog } from "../../models/catalog.ts";
import type { SignedBatch } from "../batches/batch.ts";
import type { EpochBounds } from "../batches/epochs.ts";
import type { IntentState } from "../store/types.ts";
import type { NullifierSet } from "./nullifiers.ts";
import type { UsageProof } from "./usage-proof.ts";

export interface RunnerRegistry {
  /** Whether `wallet` is the registered wallet of runner `nodeId`. */
  isRegisteredRunnerWallet(nodeId: string, wallet: string): boolean | Promise<boolean>;
}

export interface IntentStatus {
  state: IntentState;
  /** Base units verified in the escrow. */
  funded: bigint;
  /** When it closed or expired (ms); undefined while active or when unknown. */
  closedAt?: number | undefined;
}

export interface IntentLookup {
  intentStatus(intentId: string): IntentStatus | undefined | Promise<IntentStatus | undefined>;
}

export interface EpochWindows {
  /**
   * The window a batch's epoch covers; undefined for an epoch the oracle does not know. The
   * batch is given too: a standalone oracle that does not share the gateway's schedule can
   * bound the window by the batch's signed creation time.
   */
  epochBounds(epoch: number, batch: SignedBatch): EpochBounds | undefined;
}

export interface OracleDependencies {
  runners: RunnerRegistry;
  /** Prices are checked against the current catalog: prices do not change within an epoch. */
  catalog: ModelCatalog;
  intents: IntentLookup;
  nullifiers: NullifierSet;
  epochs: EpochWindows;
}

/**
 * Failing checks, grouped into DESIGN.md's six: 1 batch_signature, merkle_inclusion;
 * 2 receipt_signature, receipt_mismatch; 3 token_arithmetic; 4 token_tolerance;
 * 5 no_intent, intent_funding, price, charge; 6 replay, epoch_window, duration.
 */
export type CheckId =
  | "batch_signature"
  | "merkle_inclusion"
  | "receipt_signature"
  | "receipt_mismatch"
  | "token_arithmetic"
  | "token_tolerance"
  | "no_intent"
  | "intent_funding"
  | "price"
  | "charge"
  | "replay"
  | "epoch_window"
  | "duration";

export const CHECK_GROUP: Readonly<Record<CheckId, 1 | 2 | 3 | 4 | 5 | 6>> = {
  batch_signature: 1,
  merkle_inclusion: 1,
  receipt_signature: 2,
  receipt_mismatch: 2,
  token_arithmetic: 3,
  token_tolerance: 4,
  no_intent: 5,
  intent_funding: 5,
  price: 5,
  charge: 5,
  replay: 6,
  epoch_window: 6,
  duration: 6,
};

/**
 * Failures that reject a record whatever its score: forged or mismatched signatures and replays
 * (DESIGN.md), and a record naming no intent, which no escrow could ever pay.
 */
export const OUTRIGHT_CHECKS: ReadonlySet<CheckId> = new Set<CheckId>([
  "batch_signature",
  "merkle_inclusion",
  "receipt_signature",
  "receipt_mismatch",
  "replay",
  "no_intent",
]);

export interface CheckFailure {
  check: CheckId;
  detail: string;
}

export interface RecordVerification {
  jobId: string;
  accepted: boolean;
  failedChecks: CheckId[];
  /** Human-readable reason per failed check, same order. */
  details: string[];
  /** 0 on an outright rejection, else the share of the graded checks (3, 4, 5, 6) that passed. */
  score: number;
}

export interface VerificationResult {
  /** True when every record of the batch was accepted. */
  success: boolean;
  verificationId: string;
  /** Mean of the records' scores. */
  verificationScore: number;
  message: string;
  epoch: number;
  batchRoot: string;
  gatewayPublicKey: string;
  verifiedAt: number;
  results: RecordVerification[];
  /** One per accepted record. */
  proofs: UsageProof[];
}
