import type { PublicKey, Transaction, TransactionInstruction, VersionedTransaction } from "@solana/web3.js";
import bs58 from "bs58";

/** What billing needs to know about a signature: settled, definitely failed, or not (yet) visible. */
export type SignatureState = "confirmed" | "failed" | "unknown";

export interface LatestBlockhash {
  blockhash: string;
  lastValidBlockHeight: number;
}

/** An account as stored on chain; lamports are bigint so no balance is ever rounded. */
export interface ChainAccount {
  owner: PublicKey;
  lamports: bigint;
  data: Uint8Array;
  executable: boolean;
}

/**
 * A landed transaction, decompiled so verifiers read instructions without caring whether it
 * was legacy or v0: lookup-table addresses are resolved into `accountKeys`, and `instructions`
 * are web3.js `TransactionInstruction`s that spl-token's `decode…Instruction` accept directly.
 */
export interface ChainTransaction {
  signature: string;
  slot: number;
  /** Unix seconds, when the chain reports it. */
  blockTime: number | null;
  /** True when it landed but failed: the fee was paid and nothing else changed. */
  failed: boolean;
  /** The runtime's error text when `failed`. */
  error: string | undefined;
  logs: string[];
  /** Lamports charged for the transaction. */
  fee: bigint;
  version: "legacy" | 0;
  feePayer: PublicKey;
  /** Every account the message references, lookup-table addresses included, in message order. */
  accountKeys: PublicKey[];
  /** Accounts whose signatures the message carries. */
  signers: PublicKey[];
  /** Top-level instructions only; inner (CPI) instructions are not listed. */
  instructions: TransactionInstruction[];
  /** The transaction as it landed, for anything the decompiled view leaves out. */
  transaction: VersionedTransaction;
}

/**
 * The on-chain surface billing uses. Two implementations: `LocalChain` (in-process bankrun) and
 * `RpcChain` (a real cluster at commitment "confirmed").
 */
export interface Chain {
  latestBlockhash(): Promise<LatestBlockhash>;
  /**
   * Submits a signed transaction and resolves once it is confirmed, with its signature.
   * Throws `ChainError` (with logs) when it is rejected, fails on chain, or expires.
   * Sending a transaction that already landed successfully resolves with its signature.
   */
  send(transaction: Transaction | VersionedTransaction): Promise<string>;
  /**
   * Submits without waiting for confirmation (for callers that persist the signature and poll
   * `signatureStatus`). Throws `ChainError` only when the chain refuses it up front.
   */
  broadcast(transaction: Transaction | VersionedTransaction): Promise<string>;
  signatureStatus(signature: string): Promise<SignatureState>;
  /** The confirmed transaction, or undefined when the chain does not know it (yet). */
  getTransaction(signature: string): Promise<ChainTransaction | undefined>;
  /** The SPL token amount held by a token account; undefined when missing or not a token account. */
  tokenBalance(tokenAccount: PublicKey): Promise<bigint | undefined>;
  accountExists(address: PublicKey): Promise<boolean>;
  getAccount(address: PublicKey): Promise<ChainAccount | undefined>;
  /** Throws when the address is not an SPL Token mint. */
  mintDecimals(mint: PublicKey): Promise<number>;
  blockHeight(): Promise<number>;
  /** Lamports held by an account (0 when it does not exist). */
  solBalance(address: PublicKey): Promise<bigint>;
  minimumBalanceForRentExemption(dataLength: number): Promise<bigint>;
}

/** A transaction the chain refused or that failed on chain; `logs` are the program logs. */
export class ChainError extends Error {
  override readonly name = "ChainError";
  /** Set when the transaction landed (failed on chain) or was at least signed. */
  readonly signature: string | undefined;
  readonly logs: string[];
  /** True when it landed as failed (fee paid); false when it never made it on chain. */
  readonly landed: boolean;

  constructor(message: string, details: { signature?: string; logs?: string[]; landed?: boolean } = {}) {
    const logs = details.logs ?? [];
    super(logs.length > 0 ? `${message}\n${logs.join("\n")}` : message);
    this.signature = details.signature;
    this.logs = logs;
    this.landed = details.landed ?? false;
  }
}

/**
 * The first signature, base58: what the chain indexes the transaction by. Known as soon as it is
 * signed, so callers can persist it before broadcasting. Undefined while unsigned.
 */
export function transactionSignature(transaction: Transaction | VersionedTransaction): string | undefined {
  const first = "version" in transaction ? transaction.signatures[0] : transaction.signatures[0]?.signature;
  if (first === undefined || first === null || first.every((byte) => byte === 0)) return undefined;
  return bs58.encode(first);
}
