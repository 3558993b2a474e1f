/**
 * The payout journal: where settlement writes down what it is about to do on chain before doing
 * it, so a crash at any point can be resolved from the journal plus the chain instead of guessed.
 *
 * A batch (one transaction's worth of payouts) moves
 *   planned → signed → sent → confirmed
 * with `failed` (it landed but the runtime rejected it: nothing moved) and `expired` (its
 * blockhash died before it landed: it can never land, so it may be signed again). The signed
 * bytes and their signature are stored before broadcast; a batch may only be signed from
 * `planned` or `expired`, which is what keeps two live transactions of one batch from existing.
 */
import type { SettlementPayout } from "./plan.ts";

export type BatchState = "planned" | "signed" | "sent" | "confirmed" | "failed" | "expired";

export interface PayoutBatch {
  /** `<epoch>:<index>`: the same plan always yields the same ids. */
  batchId: string;
  epoch: number;
  index: number;
  rootHex: string;
  escrow: string;
  payouts: SettlementPayout[];
  state: BatchState;
  /** The live attempt's signature (the landed one once confirmed). */
  signature: string | undefined;
  /** The live attempt's signed wire bytes, rebroadcast as is while its blockhash is valid. */
  signedTransaction: Uint8Array | undefined;
  lastValidBlockHeight: number | undefined;
  /** Every signature ever signed for this batch, oldest first: any of them may be the one that landed. */
  signatures: string[];
  /** Payout ids `onPaid` has completed for, so a restart reports each payout once. */
  notified: string[];
  error: string | undefined;
  updatedAt: number;
}

export interface EpochRecord {
  epoch: number;
  rootHex: string;
  /** Remainders this epoch carries into the next one. */
  carried: Map<string, bigint>;
}

export interface SignedAttempt {
  signature: string;
  signedTransaction: Uint8Array;
  lastValidBlockHeight: number;
}

export interface PayoutJournal {
  /**
   * Stores an epoch's plan (carried remainders and planned batches) atomically. Returns false and
   * changes nothing when the epoch is already journaled: re-running a settled epoch is a no-op.
   */
  recordEpoch(epoch: EpochRecord, batches: PayoutBatch[]): Promise<boolean>;
  getEpoch(epoch: number): Promise<EpochRecord | undefined>;
  /** The most recent journaled epoch (whose `carried` feeds the next plan). */
  latestEpoch(): Promise<EpochRecord | undefined>;
  getBatch(batchId: string): Promise<PayoutBatch | undefined>;
  batchesOfEpoch(epoch: number): Promise<PayoutBatch[]>;
  /** Batches with work left: not confirmed or failed, or confirmed with payouts not yet notified. */
  unfinishedBatches(): Promise<PayoutBatch[]>;
  /** planned|expired → signed. Throws on any other state. */
  markSigned(batchId: string, attempt: SignedAttempt): Promise<void>;
  /** signed → sent (a repeat while sent is harmless). */
  markSent(batchId: string): Promise<void>;
  /** Any non-final state → confirmed with the signature that landed. */
  markConfirmed(batchId: string, signature: string): Promise<void>;
  markFailed(batchId: string, signature: string, error: string): Promise<void>;
  /** signed|sent → expired: only after the chain showed its blockhash is dead and it did not land. */
  markExpired(batchId: string): Promise<void>;
  markNotified(batchId: string, payoutId: string): Promise<void>;
  /**
   * The job ids of an epoch's signed usage batch, in leaf order, so any record's inclusion
   * proof can be rebuilt later. Recorded once; a repeat is ignored.
   */
  recordBatchMembers(epoch: number, jobIds: readonly string[]): Promise<void>;
  batchMembers(epoch: number): Promise<string[] | undefined>;
}

export class JournalTransitionError extends Error {
  override readonly name = "JournalTransitionError";
}

const ALLOWED_FROM: Record<Exclude<BatchState, "planned">, readonly BatchState[]> = {
  signed: ["planned", "expired"],
  sent: ["signed", "sent"],
  confirmed: ["signed", "sent", "expired", "confirmed"],
  failed: ["signed", "sent", "expired"],
  expired: ["signed", "sent"],
};

/** Throws unless `to` may follow `from`; shared so both journals enforce the same machine. */
export function assertTransition(batchId: string, from: BatchState, to: Exclude<BatchState, "planned">): void {
  if (!ALLOWED_FROM[to].includes(from)) {
    throw new JournalTransitionError(`batch ${batchId} cannot go from ${from} to ${to}`);
  }
}

export function batchId(epoch: number, index: number): string {
  return `${epoch}:${index}`;
}

/** Whether the batch still needs the executor (see `unfinishedBatches`). */
export function isUnfinished(batch: PayoutBatch): boolean {
  if (batch.state === "failed") return false;
  if (batch.state !== "confirmed") return true;
  return batch.payouts.some((payout) => !batch.notified.includes(payout.payoutId));
}

/** The next state after applying a transition; the single definition both journals use. */
export function applyTransition(
  batch: PayoutBatch,
  to: Exclude<BatchState, "planned">,
  change: Partial<Pick<PayoutBatch, "signature" | "signedTransaction" | "lastValidBlockHeight" | "error">>,
  now: number,
): PayoutBatch {
  assertTransition(batch.batchId, batch.state, to);
  const next: PayoutBatch = { ...batch, ...change, state: to, updatedAt: now };
  if (to === "signed" && change.signature !== undefined && !batch.signatures.includes(change.signature)) {
    next.signatures = [...batch.signatures, change.signature];
  }
  return next;
}

function cloneBatch(batch: PayoutBatch): PayoutBatch {
  return {
    ...batch,
    payouts: batch.payouts.map((payout) => ({ ...payout, nodeIds: [...payout.nodeIds] })),
    signatures: [...batch.signatures],
    notified: [...batch.notified],
    signedTransaction: batch.signedTransaction === undefined ? undefined : Uint8Array.from(batch.signedTransaction),
  };
}

/** For unit tests and single-process tools: state lives as long as the object. */
export class MemoryPayoutJournal implements PayoutJournal {
  private readonly epochs = new Map<number, EpochRecord>();
  private readonly members = new Map<number, string[]>();

  async recordBatchMembers(epoch: number, jobIds: readonly string[]): Promise<void> {
    if (!this.members.has(epoch)) this.members.set(epoch, [...jobIds]);
  }

  async batchMembers(epoch: number): Promise<string[] | undefined> {
    const jobIds = this.members.get(epoch);
    return jobIds === undefined ? undefined : [...jobIds];
  }
  private readonly batches = new Map<string, PayoutBatch>();

  constructor(private readonly now: () => number = Date.now) {}

  async recordEpoch(epoch: EpochRecord, batches: PayoutBatch[]): Promise<boolean> {
    if (this.epochs.has(epoch.epoch)) return false;
    this.epochs.set(epoch.epoch, { ...epoch, carried: new Map(epoch.carried) });
    for (const batch of batches) this.batches.set(batch.batchId, cloneBatch(batch));
    return true;
  }

  async getEpoch(epoch: number): Promise<EpochRecord | undefined> {
    const record = this.epochs.get(epoch);
    return record === undefined ? undefined : { ...record, carried: new Map(record.carried) };
  }

  async latestEpoch(): Promise<EpochRecord | undefined> {
    const epochs = [...this.epochs.keys()];
    return epochs.length === 0 ? undefined : this.getEpoch(Math.max(...epochs));
  }

  async getBatch(batchId: string): Promise<PayoutBatch | undefined> {
    const batch = this.batches.get(batchId);
    return batch === undefined ? undefined : cloneBatch(batch);
  }

  async batchesOfEpoch(epoch: number): Promise<PayoutBatch[]> {
    return [...this.batches.values()]
      .filter((batch) => batch.epoch === epoch)
      .sort((left, right) => left.index - right.index)
      .map(cloneBatch);
  }

  async unfinishedBatches(): Promise<PayoutBatch[]> {
    return [...this.batches.values()]
      .filter(isUnfinished)
      .sort((left, right) => left.epoch - right.epoch || left.index - right.index)
      .map(cloneBatch);
  }

  async markSigned(batchId: string, attempt: SignedAttempt): Promise<void> {
    this.update(batchId, "signed", { ...attempt, error: undefined });
  }

  async markSent(batchId: string): Promise<void> {
    this.update(batchId, "sent", {});
  }

  async markConfirmed(batchId: string, signature: string): Promise<void> {
    this.update(batchId, "confirmed", { signature, error: undefined });
  }

  async markFailed(batchId: string, signature: string, error: string): Promise<void> {
    this.update(batchId, "failed", { signature, error });
  }

  async markExpired(batchId: string): Promise<void> {
    this.update(batchId, "expired", {});
  }

  async markNotified(batchId: string, payoutId: string): Promise<void> {
    const batch = this.require(batchId);
    if (!batch.notified.includes(payoutId)) batch.notified.push(payoutId);
  }

  private update(
    batchId: string,
    to: Exclude<BatchState, "planned">,
    change: Parameters<typeof applyTransition>[2],
  ): void {
    this.batches.set(batchId, applyTransition(this.require(batchId), to, change, this.now()));
  }

  private require(batchId: string): PayoutBatch {
    const batch = this.batches.get(batchId);
    if (batch === undefined) throw new JournalTransitionError(`unknown batch ${batchId}`);
    return batch;
  }
}
