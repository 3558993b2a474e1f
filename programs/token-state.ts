import { type Account, type Mint, TOKEN_PROGRAM_ID, unpackAccount, unpackMint } from "@solana/spl-token";
import type { AccountInfo, PublicKey } from "@solana/web3.js";
import type { ChainAccount } from "./chain.ts";

function asAccountInfo(account: ChainAccount): AccountInfo<Buffer> {
  return {
    owner: account.owner,
    // spl-token only reads lamports for display; the exact value stays in ChainAccount.
    lamports: Number(account.lamports),
    data: Buffer.from(account.data),
    executable: account.executable,
  };
}

/** The SPL token account at `address`, or undefined when absent or not a (classic) token account. */
export function readTokenAccount(address: PublicKey, account: ChainAccount | undefined): Account | undefined {
  if (account === undefined || !account.owner.equals(TOKEN_PROGRAM_ID)) return undefined;
  try {
    return unpackAccount(address, asAccountInfo(account), TOKEN_PROGRAM_ID);
  } catch {
    return undefined;
  }
}

/** The SPL mint at `address`, or undefined when absent or not a (classic) mint. */
export function readMint(address: PublicKey, account: ChainAccount | undefined): Mint | undefined {
  if (account === undefined || !account.owner.equals(TOKEN_PROGRAM_ID)) return undefined;
  try {
    return unpackMint(address, asAccountInfo(account), TOKEN_PROGRAM_ID);
  } catch {
    return undefined;
  }
}

/**
 * Base units as a decimal string ("1234567", 6 → "1.234567"), exact: no floating point.
 * Used for RPC `uiAmountString` and human-readable logs.
 */
export function formatTokenAmount(amount: bigint, decimals: number): string {
  const negative = amount < 0n;
  const digits = (negative ? -amount : amount).toString().padStart(decimals + 1, "0");
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${fraction.length > 0 ? `.${fraction}` : ""}`;
}
