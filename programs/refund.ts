import {
  createAssociatedTokenAccountIdempotentInstruction,
  createCloseAccountInstruction,
  createTransferCheckedInstruction,
  getAssociatedTokenAddressSync,
} from "@solana/spl-token";
import type { Keypair, PublicKey, TransactionInstruction } from "@solana/web3.js";
import type { Chain } from "./chain.ts";
import { createMemoInstruction } from "./memo.ts";
import { sendInstructions } from "./submit.ts";

export interface RefundOptions {
  /** Settlement authority: owner of the escrow; pays the fee and any token account rent. */
  authority: Keypair;
  escrow: PublicKey;
  mint: PublicKey;
  decimals: number;
  /** The wallet refunded; tokens go to its associated token account, created if missing. */
  destinationOwner: PublicKey;
  amount: bigint;
  memo: string;
  /**
   * Also close the escrow, returning its rent to the authority. The close only succeeds when the
   * refund empties the escrow, and the transaction is atomic: if anything else is left in it,
   * nothing at all is moved.
   */
  closeEscrow?: boolean;
}

/**
 * Returns the unspent remainder of an intent from its escrow to the payer, with a memo.
 * Resolves with the signature, or undefined when `amount` is 0 and nothing needed sending
 * (unless `closeEscrow` asks for the empty escrow to be closed).
 */
export async function refundEscrow(chain: Chain, options: RefundOptions): Promise<string | undefined> {
  const { authority, escrow, mint, decimals, destinationOwner, amount, memo } = options;
  if (amount < 0n) throw new RangeError(`refund amount must not be negative, got ${amount}`);
  const instructions: TransactionInstruction[] = [];
  if (amount > 0n) {
    const destination = getAssociatedTokenAddressSync(mint, destinationOwner, true);
    instructions.push(
      createAssociatedTokenAccountIdempotentInstruction(authority.publicKey, destination, destinationOwner, mint),
      createTransferCheckedInstruction(escrow, mint, destination, authority.publicKey, amount, decimals),
    );
  }
  if (options.closeEscrow === true) {
    instructions.push(createCloseAccountInstruction(escrow, authority.publicKey, authority.publicKey));
  }
  if (instructions.length === 0) return undefined;
  instructions.push(createMemoInstruction(memo, [authority.publicKey]));
  return sendInstructions(chain, instructions, authority);
}
