import type { LoadedAddresses, PublicKey, VersionedTransaction } from "@solana/web3.js";
import type { ChainAccount } from "./chain.ts";
import { readTokenAccount } from "./token-state.ts";

/** A token account's balance at one instant, as RPC `preTokenBalances` / `postTokenBalances` report it. */
export interface TokenBalanceSnapshot {
  /** Index of the account in the message's account keys. */
  accountIndex: number;
  mint: PublicKey;
  owner: PublicKey;
  amount: bigint;
  decimals: number;
}

/**
 * Everything the local chain remembers about a processed transaction: bankrun keeps no history,
 * so this is what `getTransaction` and the JSON-RPC facade answer from.
 */
export interface LocalTransactionRecord {
  signature: string;
  /** Wire bytes exactly as submitted (base64 `getTransaction` returns them). */
  wire: Uint8Array;
  transaction: VersionedTransaction;
  loadedAddresses: LoadedAddresses;
  slot: number;
  blockTime: number;
  /** Runtime error text; undefined when it succeeded. */
  error: string | undefined;
  logs: string[];
  fee: bigint;
  computeUnitsConsumed: bigint;
  preBalances: bigint[];
  postBalances: bigint[];
  preTokenBalances: TokenBalanceSnapshot[];
  postTokenBalances: TokenBalanceSnapshot[];
}

export interface BalanceSnapshot {
  lamports: bigint[];
  tokens: TokenBalanceSnapshot[];
}

/** Lamport and token balances of `keys`, in key order, read through `readAccount`. */
export async function snapshotBalances(
  keys: PublicKey[],
  readAccount: (address: PublicKey) => Promise<ChainAccount | undefined>,
  decimalsOf: (mint: PublicKey) => Promise<number>,
): Promise<BalanceSnapshot> {
  const accounts = await Promise.all(keys.map((key) => readAccount(key)));
  const tokens: TokenBalanceSnapshot[] = [];
  for (const [accountIndex, account] of accounts.entries()) {
    const key = keys[accountIndex];
    if (key === undefined) continue;
    const token = readTokenAccount(key, account);
    if (token === undefined) continue;
    tokens.push({
      accountIndex,
      mint: token.mint,
      owner: token.owner,
      amount: token.amount,
      decimals: await decimalsOf(token.mint),
    });
  }
  return { lamports: accounts.map((account) => account?.lamports ?? 0n), tokens };
}
