import { createAssociatedTokenAccountIdempotentInstruction, getAssociatedTokenAddressSync } from "@solana/spl-token";
import type { Keypair, PublicKey, TransactionInstruction } from "@solana/web3.js";
import type { Chain } from "./chain.ts";
import { sendInstructions } from "./submit.ts";
import { legacyTransactionSize, PACKET_DATA_SIZE } from "./transaction-message.ts";

/** Associated token account of `owner` for `mint`; owners may be off-curve (PDAs, treasuries). */
export function associatedTokenAddress(mint: PublicKey, owner: PublicKey): PublicKey {
  return getAssociatedTokenAddressSync(mint, owner, true);
}

export interface EnsuredTokenAccounts {
  /** Each owner's associated token account, in the order of `owners`. */
  tokenAccounts: PublicKey[];
  /** The ones that had to be created. */
  created: PublicKey[];
  signatures: string[];
}

/**
 * Creating an associated token account is 5 entries of the runtime's 64-entry instruction trace
 * (the instruction and its 4 CPIs into System and Token), so at most 12 fit in one transaction.
 */
export const MAX_TOKEN_ACCOUNT_CREATIONS_PER_TRANSACTION = 12;

/** Splits instructions into as few legacy transactions as fit (size and count), in order. */
export function packInstructions(
  instructions: TransactionInstruction[],
  feePayer: PublicKey,
  maxPerTransaction: number = Number.POSITIVE_INFINITY,
): TransactionInstruction[][] {
  const batches: TransactionInstruction[][] = [];
  let current: TransactionInstruction[] = [];
  for (const instruction of instructions) {
    const candidate = [...current, instruction];
    const full = candidate.length > maxPerTransaction || legacyTransactionSize(candidate, feePayer) > PACKET_DATA_SIZE;
    if (current.length > 0 && full) {
      batches.push(current);
      current = [instruction];
    } else {
      current = candidate;
    }
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * Makes sure every owner has an associated token account for `mint` (payouts need them to
 * exist), creating the missing ones in as few transactions as fit, rent and fees paid by the
 * authority. Creation is idempotent on chain, so a concurrent creator does not make this fail.
 */
export async function ensureTokenAccounts(
  chain: Chain,
  authority: Keypair,
  mint: PublicKey,
  owners: PublicKey[],
): Promise<EnsuredTokenAccounts> {
  const tokenAccounts = owners.map((owner) => associatedTokenAddress(mint, owner));
  const unique = new Map<string, { owner: PublicKey; tokenAccount: PublicKey }>();
  owners.forEach((owner, index) => {
    const tokenAccount = tokenAccounts[index];
    if (tokenAccount !== undefined) unique.set(tokenAccount.toBase58(), { owner, tokenAccount });
  });
  const entries = [...unique.values()];
  const exists = await Promise.all(entries.map((entry) => chain.accountExists(entry.tokenAccount)));
  const missing = entries.filter((_, index) => exists[index] !== true);
  const instructions = missing.map((entry) =>
    createAssociatedTokenAccountIdempotentInstruction(authority.publicKey, entry.tokenAccount, entry.owner, mint),
  );
  const signatures: string[] = [];
  for (const batch of packInstructions(
    instructions,
    authority.publicKey,
    MAX_TOKEN_ACCOUNT_CREATIONS_PER_TRANSACTION,
  )) {
    signatures.push(await sendInstructions(chain, batch, authority));
  }
  return { tokenAccounts, created: missing.map((entry) => entry.tokenAccount), signatures };
}
