/**
 * Executes settlement plans on chain without ever paying twice or losing a payout.
 *
 * The rules that make that true, whatever point a crash hits:
 *   - every batch is journaled (planned) before anything is signed, and its signed bytes and
 *     signature are journaled before they are broadcast;
 *   - a journaled attempt is resolved from the chain before anything else happens to its batch:
 *     landed → confirmed; not landed while its blockhash lives → the SAME bytes are rebroadcast
 *     (the chain deduplicates by signature, so this can land at most once);
 *   - only when the chain shows the blockhash expired and the signature still unknown is the
 *     batch signed again, with a fresh blockhash. An expired transaction can never land, so the
 *     new attempt is the only live one.
 * `onPaid` runs after confirmation, once per payout: the journal records each notification, so a
 * restart only repeats one if it crashed inside that very call (consumers get a stable `payoutId`).
 */
import { type Keypair, PublicKey, VersionedTransaction } from "@solana/web3.js";
import { type Chain, ChainError, transactionSignature } from "../../programs/chain.ts";
import { type LookupTableActivation, PayoutLookupTables } from "../../programs/lookup-tables.ts";
import { payoutMemo } from "../../programs/memo.ts";
import {
  buildPayoutTransaction,
  buildVersionedPayoutTransaction,
  ensureTokenAccounts,
  maxPayoutsPerLegacyTransaction,
  maxPayoutsPerVersionedTransaction,
} from "../../programs/payouts.ts";
import { batchId, type PayoutBatch, type PayoutJournal } from "./journal.ts";
import type { SettlementPayout, SettlementPlan } from "./plan.ts";

/** Points at which tests make the executor stop as if the process died there. */
export type CrashPoint = "plan" | "sign" | "send" | "beforeConfirm";

export class SimulatedCrash extends Error {
  override readonly name = "SimulatedCrash";
  constructor(readonly point: CrashPoint) {
    super(`simulated crash after ${point}`);
  }
}

export type PaidCallback = (payout: SettlementPayout, signature: string) => Promise<void> | void;

export interface SettlementExecutorOptions {
  chain: Chain;
  /** Owner of every escrow, fee payer and only signer. */
  authority: Keypair;
  mint: PublicKey;
  /** Read from the mint when omitted. */
  decimals?: number;
  journal: PayoutJournal;
  /** Runs once per confirmed payout: `paymentSettled` events and `store.recordSettlement`. */
  onPaid: PaidCallback;
  crashAfter?: CrashPoint;
  /**
   * Defaults to `maxPayoutsPerLegacyTransaction()` (17), or with `lookupTables` to
   * `maxPayoutsPerVersionedTransaction()` (48).
   */
  maxPayoutsPerTransaction?: number;
  /**
   * Pays a batch larger than a legacy transaction holds with a v0 transaction and an address
   * lookup table created for it (paid by the authority) before signing. Needs a slot clock
   * (`LocalChain`, or an RPC adapter with `slot()`); a local chain also passes `warp: context`.
   */
  lookupTables?: LookupTableActivation;
  /** How long one run waits for a broadcast transaction before leaving it to a later `resume()`. */
  confirmTimeoutMs?: number;
  pollIntervalMs?: number;
  /** Fresh signatures per batch per run, so a chain that keeps expiring them cannot loop forever. */
  maxSigningsPerRun?: number;
}

export interface SettlementReport {
  /** Batch ids confirmed on chain (whose payouts were all reported to `onPaid`). */
  confirmed: string[];
  /** Batch ids that landed but failed on chain: nothing moved; an operator must look. */
  failed: string[];
  /** Batch ids still in flight or refused up front; a later `resume()` picks them up. */
  pending: string[];
  /** Why a batch is failed or pending, when known. */
  errors: Map<string, string>;
}

type Outcome = "confirmed" | "failed" | "pending";

const DEFAULT_CONFIRM_TIMEOUT_MS = 60_000;
const DEFAULT_POLL_INTERVAL_MS = 500;
const DEFAULT_MAX_SIGNINGS_PER_RUN = 3;

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

/** Journaled addresses are base58 text; a bad one is named instead of failing deep in web3.js. */
function decodeAddress(text: string, what: string): PublicKey {
  try {
    return new PublicKey(text);
  } catch {
    throw new RangeError(`${what} "${text}" is not a base58 address`);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Splits a plan into transactions: payouts of one escrow stay together (the plan is sorted by
 * escrow), at most `perTransaction` each, numbered in order so batch ids are deterministic.
 */
export function batchPlan(plan: SettlementPlan, perTransaction: number, now: number): PayoutBatch[] {
  if (perTransaction < 1) throw new RangeError("perTransaction must be at least 1");
  const byEscrow = new Map<string, SettlementPayout[]>();
  for (const payout of plan.payouts) {
    const group = byEscrow.get(payout.escrow) ?? [];
    group.push(payout);
    byEscrow.set(payout.escrow, group);
  }
  const batches: PayoutBatch[] = [];
  for (const [escrow, payouts] of byEscrow) {
    for (let start = 0; start < payouts.length; start += perTransaction) {
      const index = batches.length;
      batches.push({
        batchId: batchId(plan.epoch, index),
        epoch: plan.epoch,
        index,
        rootHex: plan.rootHex,
        escrow,
        payouts: payouts.slice(start, start + perTransaction),
        state: "planned",
        signature: undefined,
        signedTransaction: undefined,
        lastValidBlockHeight: undefined,
        signatures: [],
        notified: [],
        error: undefined,
        updatedAt: now,
      });
    }
  }
  return batches;
}

export class SettlementExecutor {
  private crashPoint: CrashPoint | undefined;
  private decimals: number | undefined;
  private readonly tables: PayoutLookupTables | undefined;

  constructor(private readonly options: SettlementExecutorOptions) {
    this.crashPoint = options.crashAfter;
    this.decimals = options.decimals;
    const activation = options.lookupTables;
    this.tables =
      activation === undefined ? undefined : new PayoutLookupTables(options.chain, options.authority, activation);
  }

  /**
   * Journals the plan's batches and remainders, then settles every unfinished batch. Executing an
   * epoch that is already journaled does not plan it again: it only resumes what is in flight.
   */
  async execute(plan: SettlementPlan): Promise<SettlementReport> {
    const { journal } = this.options;
    const perTransaction =
      this.options.maxPayoutsPerTransaction ??
      (this.options.lookupTables === undefined
        ? maxPayoutsPerLegacyTransaction()
        : maxPayoutsPerVersionedTransaction());
    const batches = batchPlan(plan, perTransaction, Date.now());
    const recorded = await journal.recordEpoch(
      { epoch: plan.epoch, rootHex: plan.rootHex, carried: plan.carried },
      batches,
    );
    if (!recorded) {
      const existing = await journal.getEpoch(plan.epoch);
      if (existing !== undefined && existing.rootHex !== plan.rootHex) {
        throw new Error(`epoch ${plan.epoch} was journaled with root ${existing.rootHex}, not ${plan.rootHex}`);
      }
    }
    this.crash("plan");
    return this.resume();
  }

  /** Resolves and finishes every batch the journal holds as unfinished, oldest first. */
  async resume(): Promise<SettlementReport> {
    const report: SettlementReport = { confirmed: [], failed: [], pending: [], errors: new Map() };
    const batches = await this.options.journal.unfinishedBatches();
    await this.ensureRecipientAccounts(batches);
    for (const batch of batches) {
      const outcome = await this.settleBatch(batch, report.errors);
      report[outcome].push(batch.batchId);
    }
    return report;
  }

  private async settleBatch(initial: PayoutBatch, errors: Map<string, string>): Promise<Outcome> {
    let batch = initial;
    let signings = 0;
    const maxSignings = this.options.maxSigningsPerRun ?? DEFAULT_MAX_SIGNINGS_PER_RUN;
    // An attempt journaled by an earlier run is checked on chain before its bytes go out again.
    let rebroadcast = batch.state === "signed" || batch.state === "sent";
    for (;;) {
      switch (batch.state) {
        case "confirmed":
          await this.notify(batch);
          return "confirmed";
        case "failed":
          if (batch.error !== undefined) errors.set(batch.batchId, batch.error);
          return "failed";
        case "planned":
        case "expired": {
          if (signings >= maxSignings) return "pending";
          signings += 1;
          batch = await this.sign(batch);
          const sent = await this.broadcast(batch, errors);
          if (sent === "refused") return "pending";
          rebroadcast = sent === "uncertain";
          break;
        }
        case "signed":
        case "sent": {
          const outcome = await this.resolveInFlight(batch, rebroadcast, errors);
          if (outcome === "pending") return "pending";
          rebroadcast = false;
          break;
        }
      }
      batch = await this.reload(batch.batchId);
    }
  }

  /** Builds and signs the batch on a fresh blockhash and journals it before anyone sees it. */
  private async sign(batch: PayoutBatch): Promise<PayoutBatch> {
    const { chain, authority, mint, journal } = this.options;
    const shape = {
      authority: authority.publicKey,
      escrow: decodeAddress(batch.escrow, "escrow"),
      mint,
      decimals: await this.mintDecimals(),
      payouts: batch.payouts.map((payout) => ({
        owner: decodeAddress(payout.recipient, "recipient"),
        amount: payout.amount,
      })),
      memo: payoutMemo(batch.epoch, batch.rootHex),
    };
    // Made before the blockhash is fetched: waiting for the table must not shorten its life.
    const owners = shape.payouts.map((payout) => payout.owner);
    const lookupTable =
      this.tables !== undefined && owners.length > maxPayoutsPerLegacyTransaction()
        ? await this.tables.forBatch(batch.batchId, { mint, escrow: shape.escrow, owners })
        : undefined;
    const { blockhash, lastValidBlockHeight } = await chain.latestBlockhash();
    const transaction =
      lookupTable === undefined
        ? buildPayoutTransaction({ ...shape, recentBlockhash: blockhash, lastValidBlockHeight })
        : buildVersionedPayoutTransaction({ ...shape, recentBlockhash: blockhash, lookupTable });
    if (transaction instanceof VersionedTransaction) transaction.sign([authority]);
    else transaction.sign(authority);
    const signature = transactionSignature(transaction);
    if (signature === undefined) throw new Error(`batch ${batch.batchId} did not sign`);
    await journal.markSigned(batch.batchId, {
      signature,
      signedTransaction: transaction.serialize(),
      lastValidBlockHeight,
    });
    this.crash("sign");
    return this.reload(batch.batchId);
  }

  /**
   * Broadcasts the journaled bytes. "uncertain" means it may or may not have reached the chain
   * (a network error): only the chain can tell, so the caller resolves before doing anything else.
   */
  private async broadcast(batch: PayoutBatch, errors: Map<string, string>): Promise<"sent" | "refused" | "uncertain"> {
    try {
      await this.options.chain.broadcast(this.signedTransaction(batch));
    } catch (error) {
      if (error instanceof SimulatedCrash) throw error;
      errors.set(batch.batchId, describe(error));
      // Landed but failed: the status check finds it and marks the batch failed.
      if (error instanceof ChainError && error.landed) return "uncertain";
      if (error instanceof ChainError) return "refused";
      return "uncertain";
    }
    this.crash("send");
    await this.options.journal.markSent(batch.batchId);
    this.crash("beforeConfirm");
    return "sent";
  }

  /**
   * Decides an in-flight batch from the chain. The block height is read BEFORE the signature
   * statuses: if the blockhash had already expired at that height and the signature is still
   * unknown afterwards, the transaction can never land, so signing again cannot pay twice.
   */
  private async resolveInFlight(
    batch: PayoutBatch,
    rebroadcast: boolean,
    errors: Map<string, string>,
  ): Promise<Outcome | "expired"> {
    const { chain, journal } = this.options;
    const deadline = Date.now() + (this.options.confirmTimeoutMs ?? DEFAULT_CONFIRM_TIMEOUT_MS);
    let sendAgain = rebroadcast;
    for (;;) {
      const height = await chain.blockHeight();
      // Earlier attempts are checked too: an RPC node may only now show one that landed.
      for (const signature of [...batch.signatures].reverse()) {
        const status = await chain.signatureStatus(signature);
        if (status === "confirmed") {
          await journal.markConfirmed(batch.batchId, signature);
          return "confirmed";
        }
        if (status === "failed" && signature === batch.signature) {
          const landed = await chain.getTransaction(signature);
          await journal.markFailed(
            batch.batchId,
            signature,
            landed?.error ?? errors.get(batch.batchId) ?? "failed on chain",
          );
          return "failed";
        }
      }
      if (batch.lastValidBlockHeight === undefined || height > batch.lastValidBlockHeight) {
        await journal.markExpired(batch.batchId);
        return "expired";
      }
      if (sendAgain) {
        sendAgain = false;
        const sent = await this.broadcast(batch, errors);
        if (sent === "refused") return "pending";
        continue;
      }
      if (Date.now() >= deadline) return "pending";
      await sleep(this.options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS);
    }
  }

  /** Reports each payout of a confirmed batch once, recording each report as it completes. */
  private async notify(batch: PayoutBatch): Promise<void> {
    const signature = batch.signature;
    if (signature === undefined) throw new Error(`confirmed batch ${batch.batchId} has no signature`);
    for (const payout of batch.payouts) {
      if (batch.notified.includes(payout.payoutId)) continue;
      await this.options.onPaid(payout, signature);
      await this.options.journal.markNotified(batch.batchId, payout.payoutId);
    }
  }

  /** Payouts need the recipients' token accounts; creating them is idempotent and paid by the authority. */
  private async ensureRecipientAccounts(batches: PayoutBatch[]): Promise<void> {
    const recipients = new Map<string, PublicKey>();
    for (const batch of batches) {
      // Already-signed bytes were built after their accounts existed; only new signings need them.
      if (batch.state !== "planned" && batch.state !== "expired") continue;
      for (const payout of batch.payouts)
        recipients.set(payout.recipient, decodeAddress(payout.recipient, "recipient"));
    }
    if (recipients.size === 0) return;
    const { chain, authority, mint } = this.options;
    await ensureTokenAccounts(chain, authority, mint, [...recipients.values()]);
  }

  private signedTransaction(batch: PayoutBatch): VersionedTransaction {
    if (batch.signedTransaction === undefined) throw new Error(`batch ${batch.batchId} has no signed transaction`);
    // Deserializing reads legacy and v0 alike, and keeps the exact signed bytes.
    return VersionedTransaction.deserialize(batch.signedTransaction);
  }

  private async reload(id: string): Promise<PayoutBatch> {
    const batch = await this.options.journal.getBatch(id);
    if (batch === undefined) throw new Error(`batch ${id} vanished from the journal`);
    return batch;
  }

  private async mintDecimals(): Promise<number> {
    this.decimals ??= await this.options.chain.mintDecimals(this.options.mint);
    return this.decimals;
  }

  /** Throws once at the configured point, as if the process died there. */
  private crash(point: CrashPoint): void {
    if (this.crashPoint !== point) return;
    this.crashPoint = undefined;
    throw new SimulatedCrash(point);
  }
}
