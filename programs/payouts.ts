import { createTransferCheckedInstruction } from "@solana/spl-token";
import { ComputeBudgetProgram, PublicKey, Transaction, type TransactionInstruction } from "@solana/web3.js";
import { createMemoInstruction } from "./memo.ts";
import { associatedTokenAddress } from "./token-accounts.ts";
import { legacyTransactionSize, PACKET_DATA_SIZE } from "./transaction-message.ts";

export { type EnsuredTokenAccounts, ensureTokenAccounts } from "./token-accounts.ts";

export interface Payout {
  /** The recipient wallet; paid into its associated token account, which must already exist. */
  owner: PublicKey;
  amount: bigint;
}

export interface PayoutTransactionOptions {
  /** Settlement authority: owner of the escrow, fee payer and only signer. */
  authority: PublicKey;
  escrow: PublicKey;
  mint: PublicKey;
  decimals: number;
  payouts: Payout[];
  /** Usually `payoutMemo(epoch, rootHex)`: `hn:<epoch>:<root hex>`. */
  memo: string;
  recentBlockhash: string;
  lastValidBlockHeight?: number;
  /**
   * Priority fee in micro-lamports per compute unit. Adds a Compute Budget instruction, which
   * costs room: check `maxPayoutsPerLegacyTransaction({ computeUnitPrice: true })`.
   */
  computeUnitPrice?: bigint;
}

/** The longest memo settlement writes: `hn:` + a u64 epoch + `:` + a 32-byte root in hex. */
const LONGEST_PAYOUT_MEMO_LENGTH = 3 + 20 + 1 + 64;

type PayoutShape = Omit<PayoutTransactionOptions, "recentBlockhash">;

function payoutInstructions(
  options: PayoutShape,
  destinationOf: (owner: PublicKey) => PublicKey = (owner) => associatedTokenAddress(options.mint, owner),
): TransactionInstruction[] {
  const { authority, escrow, mint, decimals, payouts, memo } = options;
  const instructions: TransactionInstruction[] = [];
  if (options.computeUnitPrice !== undefined) {
    instructions.push(ComputeBudgetProgram.setComputeUnitPrice({ microLamports: options.computeUnitPrice }));
  }
  for (const payout of payouts) {
    const destination = destinationOf(payout.owner);
    instructions.push(createTransferCheckedInstruction(escrow, mint, destination, authority, payout.amount, decimals));
  }
  instructions.push(createMemoInstruction(memo, [authority]));
  return instructions;
}

function validate(options: PayoutShape): void {
  if (options.payouts.length === 0) throw new RangeError("a payout transaction needs at least one payout");
  for (const payout of options.payouts) {
    // A zero payout would be a transfer that records nothing; settlement should drop it instead.
    if (payout.amount <= 0n)
      throw new RangeError(`payout to ${payout.owner.toBase58()} must be positive, got ${payout.amount}`);
  }
}

/** Signed wire size of the payout transaction these options describe. */
export function payoutTransactionSize(options: PayoutShape): number {
  return legacyTransactionSize(payoutInstructions(options), options.authority);
}

/**
 * The unsigned payout batch: one `transferChecked` per payout from the escrow to the owner's
 * associated token account, then the memo, signed by the authority. Sign it with
 * `transaction.sign(authority)`; its first signature (`transactionSignature`) is known before
 * broadcast, so settlement can persist it first. Throws when it exceeds 1,232 bytes.
 */
export function buildPayoutTransaction(options: PayoutTransactionOptions): Transaction {
  validate(options);
  const instructions = payoutInstructions(options);
  const size = legacyTransactionSize(instructions, options.authority);
  if (size > PACKET_DATA_SIZE) {
    throw new RangeError(
      `${options.payouts.length} payouts need ${size} bytes, over the ${PACKET_DATA_SIZE}-byte limit; ` +
        "split them with maxPayoutsPerLegacyTransaction()",
    );
  }
  const transaction =
    options.lastValidBlockHeight === undefined
      ? new Transaction({ feePayer: options.authority, recentBlockhash: options.recentBlockhash })
      : new Transaction({
          feePayer: options.authority,
          blockhash: options.recentBlockhash,
          lastValidBlockHeight: options.lastValidBlockHeight,
        });
  return transaction.add(...instructions);
}

export interface PayoutCapacityOptions {
  /** Memo length in bytes; defaults to the longest `hn:<epoch>:<root hex>`. */
  memoLength?: number;
  /** Whether a priority-fee Compute Budget instruction is included. */
  computeUnitPrice?: boolean;
}

const capacityCache = new Map<string, number>();

/** A distinct, deterministic key per index: sizes depend only on how many keys there are. */
function placeholderKey(index: number): PublicKey {
  const bytes = new Uint8Array(32);
  new DataView(bytes.buffer).setUint32(0, index + 1);
  return new PublicKey(bytes);
}

/**
 * How many payouts to distinct recipients fit in one legacy transaction with the memo, measured
 * by serializing one (17 with the longest memo and no priority fee).
 */
export function maxPayoutsPerLegacyTransaction(options: PayoutCapacityOptions = {}): number {
  const memoLength = options.memoLength ?? LONGEST_PAYOUT_MEMO_LENGTH;
  const withPrice = options.computeUnitPrice === true;
  const cacheKey = `${memoLength}:${withPrice}`;
  const cached = capacityCache.get(cacheKey);
  if (cached !== undefined) return cached;
  const fixed = {
    authority: placeholderKey(1_000_000),
    escrow: placeholderKey(1_000_001),
    mint: placeholderKey(1_000_002),
    decimals: 6,
    memo: "x".repeat(memoLength),
    ...(withPrice ? { computeUnitPrice: 1n } : {}),
  };
  let count = 0;
  // u64::MAX-sized amounts are the same 8 bytes as any other amount.
  // Placeholder owners stand in for their token accounts: deriving real ones only costs time.
  const sizeOf = (payouts: Payout[]) =>
    legacyTransactionSize(
      payoutInstructions({ ...fixed, payouts }, (owner) => owner),
      fixed.authority,
    );
  while (sizeOf(payoutsOf(count + 1)) <= PACKET_DATA_SIZE) count += 1;
  capacityCache.set(cacheKey, count);
  return count;
}

function payoutsOf(count: number): Payout[] {
  return Array.from({ length: count }, (_, index) => ({ owner: placeholderKey(index), amount: 1n }));
}

/** Splits payouts into batches of at most `perTransaction`, keeping their order. */
export function chunkPayouts(payouts: Payout[], perTransaction: number = maxPayoutsPerLegacyTransaction()): Payout[][] {
  if (perTransaction < 1) throw new RangeError("perTransaction must be at least 1");
  const batches: Payout[][] = [];
  for (let start = 0; start < payouts.length; start += perTransaction) {
    batches.push(payouts.slice(start, start + perTransaction));
  }
  return batches;
}
