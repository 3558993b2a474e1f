import {
  createTransferCheckedInstruction,
  type DecodedTransferCheckedInstruction,
  decodeTransferCheckedInstruction,
  getAssociatedTokenAddressSync,
  TOKEN_PROGRAM_ID,
  TokenInstruction,
} from "@solana/spl-token";
import { type PublicKey, Transaction } from "@solana/web3.js";
import type { Chain } from "./chain.ts";
import { assertValidIntentId } from "./escrow.ts";
import { createMemoInstruction, INTENT_MEMO_PREFIX, intentMemo, readMemo } from "./memo.ts";

export interface FundingTransactionOptions {
  /** The wallet paying: fee payer, owner of the source token account, memo signer. */
  payer: PublicKey;
  mint: PublicKey;
  escrow: PublicKey;
  amount: bigint;
  decimals: number;
  intentId: string;
  recentBlockhash: string;
  /** When given, wallets and `Connection.confirmTransaction` can tell when the blockhash expires. */
  lastValidBlockHeight?: number;
}

/**
 * The unsigned deposit the payer's wallet signs: `transferChecked` from the payer's associated
 * token account into the escrow, plus the memo `hn:intent:<id>` signed by the payer.
 * The escrow must already exist (see `createEscrowAccount`).
 */
export function buildFundingTransaction(options: FundingTransactionOptions): Transaction {
  const { payer, mint, escrow, amount, decimals, intentId, recentBlockhash } = options;
  assertValidIntentId(intentId);
  if (amount <= 0n) throw new RangeError(`funding amount must be positive, got ${amount}`);
  const source = getAssociatedTokenAddressSync(mint, payer, true);
  const transaction =
    options.lastValidBlockHeight === undefined
      ? new Transaction({ feePayer: payer, recentBlockhash })
      : new Transaction({
          feePayer: payer,
          blockhash: recentBlockhash,
          lastValidBlockHeight: options.lastValidBlockHeight,
        });
  transaction.add(
    createTransferCheckedInstruction(source, mint, escrow, payer, amount, decimals),
    createMemoInstruction(intentMemo(intentId), [payer]),
  );
  return transaction;
}

/** Base64 wire form of a transaction still waiting for its signatures (what wallets accept). */
export function serializeUnsigned(transaction: Transaction): string {
  return transaction.serialize({ requireAllSignatures: false, verifySignatures: false }).toString("base64");
}

export interface ExpectedFunding {
  mint: PublicKey;
  escrow: PublicKey;
  /** Exact amount in base units: more or less is refused, so the books match the deposit. */
  amount: bigint;
  intentId: string;
  /** When given, the transfer's owner (the signing wallet) must be this payer. */
  payer?: PublicKey;
}

export type FundingRefusal =
  | "not_found"
  | "failed"
  | "no_transfer"
  | "wrong_mint"
  | "wrong_destination"
  | "wrong_amount"
  | "wrong_payer"
  | "missing_memo"
  | "memo_for_another_intent";

export type FundingVerification =
  | { ok: true; funded: bigint; payer: PublicKey }
  | { ok: false; code: FundingRefusal; reason: string };

function refuse(code: FundingRefusal, reason: string): FundingVerification {
  return { ok: false, code, reason };
}

function decodeTransfers(instructions: Transaction["instructions"]): DecodedTransferCheckedInstruction[] {
  const transfers: DecodedTransferCheckedInstruction[] = [];
  for (const instruction of instructions) {
    if (!instruction.programId.equals(TOKEN_PROGRAM_ID)) continue;
    if (instruction.data[0] !== TokenInstruction.TransferChecked) continue;
    try {
      transfers.push(decodeTransferCheckedInstruction(instruction, TOKEN_PROGRAM_ID));
    } catch {
      // Malformed data cannot have succeeded on chain; ignoring it only loses nothing.
    }
  }
  return transfers;
}

/**
 * Checks on chain that `signature` is a successful deposit for the intent: a top-level SPL Token
 * `transferChecked` of `mint` into `escrow` for exactly `amount`, and the memo `hn:intent:<id>`.
 * "not_found" may be transient (not confirmed yet); every other refusal is final.
 * Replay of one signature across intents must still be refused by the caller's store.
 */
export async function verifyFunding(
  chain: Chain,
  signature: string,
  expected: ExpectedFunding,
): Promise<FundingVerification> {
  let landed: Awaited<ReturnType<Chain["getTransaction"]>>;
  try {
    landed = await chain.getTransaction(signature);
  } catch (error) {
    // A malformed signature is simply not a transaction the chain knows.
    return refuse("not_found", `transaction ${signature} not found: ${(error as Error).message}`);
  }
  if (landed === undefined) return refuse("not_found", `transaction ${signature} not found (or not confirmed yet)`);
  if (landed.failed)
    return refuse("failed", `transaction ${signature} failed on chain: ${landed.error ?? "unknown error"}`);

  const transfers = decodeTransfers(landed.instructions);
  if (transfers.length === 0) return refuse("no_transfer", "transaction has no SPL Token transferChecked instruction");
  const ofMint = transfers.filter((transfer) => transfer.keys.mint.pubkey.equals(expected.mint));
  if (ofMint.length === 0) {
    const mints = transfers.map((transfer) => transfer.keys.mint.pubkey.toBase58()).join(", ");
    return refuse("wrong_mint", `transfer is of mint ${mints}, expected ${expected.mint.toBase58()}`);
  }
  const intoEscrow = ofMint.filter((transfer) => transfer.keys.destination.pubkey.equals(expected.escrow));
  if (intoEscrow.length === 0) {
    const destinations = ofMint.map((transfer) => transfer.keys.destination.pubkey.toBase58()).join(", ");
    return refuse(
      "wrong_destination",
      `transfer goes to ${destinations}, expected escrow ${expected.escrow.toBase58()}`,
    );
  }
  const funded = intoEscrow.reduce((sum, transfer) => sum + transfer.data.amount, 0n);
  if (funded !== expected.amount) {
    return refuse("wrong_amount", `transfer moves ${funded} base units, expected exactly ${expected.amount}`);
  }
  // The owner signed the transfer (it succeeded), so it is the wallet that paid.
  const payer = intoEscrow[0]?.keys.owner.pubkey;
  if (payer === undefined || intoEscrow.some((transfer) => !transfer.keys.owner.pubkey.equals(payer))) {
    return refuse("wrong_payer", "deposit into the escrow is split across several wallets");
  }
  if (expected.payer !== undefined && !expected.payer.equals(payer)) {
    return refuse("wrong_payer", `deposit is from ${payer.toBase58()}, expected ${expected.payer.toBase58()}`);
  }

  const wanted = intentMemo(expected.intentId);
  const memos = landed.instructions.map(readMemo).filter((memo): memo is string => memo !== undefined);
  if (!memos.includes(wanted)) {
    const other = memos.find((memo) => memo.startsWith(INTENT_MEMO_PREFIX));
    if (other !== undefined)
      return refuse("memo_for_another_intent", `memo "${other}" is for another intent, expected "${wanted}"`);
    return refuse("missing_memo", `transaction has no memo "${wanted}"`);
  }
  return { ok: true, funded, payer };
}
