import { createTransferCheckedInstruction } from "@solana/spl-token";
import {
  AddressLookupTableAccount,
  ComputeBudgetProgram,
  MessageV0,
  PublicKey,
  Transaction,
  type TransactionInstruction,
  VersionedTransaction,
} from "@solana/web3.js";
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

export interface VersionedPayoutTransactionOptions extends Omit<PayoutTransactionOptions, "lastValidBlockHeight"> {
  /**
   * Must hold the escrow, the mint and every recipient's token account, and be active (read it
   * back after the slot moved past its last extension: `createPayoutLookupTable` does both).
   */
  lookupTable: AddressLookupTableAccount;
}

/** Most accounts one transaction may lock (static keys plus loaded ones). */
export const MAX_TRANSACTION_ACCOUNTS = 64;

/**
 * Compute units budgeted per payout and for the rest. Measured on the local SVM: 6,173 per
 * transferChecked and ~46,000 for the longest memo with its signer check (48 payouts used
 * 342,627 in all); the margins keep a runtime upgrade from failing settlement.
 */
export const COMPUTE_UNITS_PER_PAYOUT = 7_000;
export const COMPUTE_UNITS_BASE = 60_000;

/** The compute-unit limit a v0 payout transaction with `count` payouts asks for. */
export function payoutComputeUnitLimit(count: number): number {
  return COMPUTE_UNITS_BASE + COMPUTE_UNITS_PER_PAYOUT * count;
}

function versionedPayoutMessage(
  options: PayoutShape & { recentBlockhash: string; lookupTable: AddressLookupTableAccount },
  destinationOf?: (owner: PublicKey) => PublicKey,
): MessageV0 {
  const instructions = [
    ComputeBudgetProgram.setComputeUnitLimit({ units: payoutComputeUnitLimit(options.payouts.length) }),
    ...payoutInstructions(options, destinationOf),
  ];
  return MessageV0.compile({
    payerKey: options.authority,
    instructions,
    recentBlockhash: options.recentBlockhash,
    addressLookupTableAccounts: [options.lookupTable],
  });
}

/** Signed wire size and locked-account count of a v0 message with one signature. */
function versionedMessageCost(message: MessageV0): { size: number; accounts: number } {
  const loaded = message.addressTableLookups.reduce(
    (sum, lookup) => sum + lookup.writableIndexes.length + lookup.readonlyIndexes.length,
    0,
  );
  return { size: 1 + 64 + message.serialize().length, accounts: message.staticAccountKeys.length + loaded };
}

/**
 * The unsigned v0 payout batch: a compute-unit limit sized for the payouts, the optional
 * priority fee, one `transferChecked` per payout and the memo, with every non-program account
 * loaded from `lookupTable`. Sign it with `transaction.sign([authority])`. Throws when the table
 * lacks an address the batch needs, or when the transaction is too large or locks too many accounts.
 */
export function buildVersionedPayoutTransaction(options: VersionedPayoutTransactionOptions): VersionedTransaction {
  validate(options);
  const { lookupTable, mint } = options;
  const inTable = new Set(lookupTable.state.addresses.map((address) => address.toBase58()));
  const required = [
    { address: options.escrow, what: "the escrow" },
    { address: mint, what: "the mint" },
    ...options.payouts.map((payout) => ({
      address: associatedTokenAddress(mint, payout.owner),
      what: `the token account of ${payout.owner.toBase58()}`,
    })),
  ];
  const missing = required.filter((entry) => !inTable.has(entry.address.toBase58()));
  if (missing.length > 0) {
    const names = missing.map((entry) => `${entry.what} (${entry.address.toBase58()})`).join(", ");
    throw new RangeError(`lookup table ${lookupTable.key.toBase58()} is missing ${names}; extend it first`);
  }
  const message = versionedPayoutMessage(options);
  const { size, accounts } = versionedMessageCost(message);
  if (size > PACKET_DATA_SIZE || accounts > MAX_TRANSACTION_ACCOUNTS) {
    throw new RangeError(
      `${options.payouts.length} payouts need ${size} bytes and ${accounts} accounts, over the ` +
        `${PACKET_DATA_SIZE}-byte or ${MAX_TRANSACTION_ACCOUNTS}-account limit; split them with maxPayoutsPerVersionedTransaction()`,
    );
  }
  return new VersionedTransaction(message);
}

const versionedCapacityCache = new Map<string, number>();

/**
 * How many payouts to distinct recipients fit in one v0 transaction with a lookup table and the
 * memo, measured by serializing one (limited by 1,232 bytes, and by 64 locked accounts).
 */
export function maxPayoutsPerVersionedTransaction(options: PayoutCapacityOptions = {}): number {
  const memoLength = options.memoLength ?? LONGEST_PAYOUT_MEMO_LENGTH;
  const withPrice = options.computeUnitPrice === true;
  const cacheKey = `${memoLength}:${withPrice}`;
  const cached = versionedCapacityCache.get(cacheKey);
  if (cached !== undefined) return cached;
  const authority = placeholderKey(1_000_000);
  const escrow = placeholderKey(1_000_001);
  const mint = placeholderKey(1_000_002);
  const fits = (count: number): boolean => {
    const payouts = payoutsOf(count);
    const lookupTable = new AddressLookupTableAccount({
      key: placeholderKey(1_000_003),
      state: {
        deactivationSlot: 2n ** 64n - 1n,
        lastExtendedSlot: 0,
        lastExtendedSlotStartIndex: 0,
        addresses: [escrow, mint, ...payouts.map((payout) => payout.owner)],
      },
    });
    const message = versionedPayoutMessage(
      {
        authority,
        escrow,
        mint,
        decimals: 6,
        payouts,
        memo: "x".repeat(memoLength),
        recentBlockhash: authority.toBase58(),
        lookupTable,
        ...(withPrice ? { computeUnitPrice: 1n } : {}),
      },
      // Placeholder owners stand in for their token accounts, as for legacy capacity.
      (owner) => owner,
    );
    const { size, accounts } = versionedMessageCost(message);
    return size <= PACKET_DATA_SIZE && accounts <= MAX_TRANSACTION_ACCOUNTS;
  };
  let count = 0;
  while (fits(count + 1)) count += 1;
  versionedCapacityCache.set(cacheKey, count);
  return count;
}
