import { TOKEN_PROGRAM_ID } from "@solana/spl-token";
import {
  type AccountInfo,
  type Commitment,
  Connection,
  type PublicKey,
  SendTransactionError,
  type Transaction,
  VersionedTransaction,
} from "@solana/web3.js";
import bs58 from "bs58";
import {
  type Chain,
  type ChainAccount,
  ChainError,
  type ChainTransaction,
  type LatestBlockhash,
  type SignatureState,
  transactionSignature,
} from "./chain.ts";
import { readMint, readTokenAccount } from "./token-state.ts";
import { decompileMessage, messageVersion } from "./transaction-message.ts";

export interface RpcChainOptions {
  /** How long `send` waits for confirmation before giving up (ms). Default 60 s. */
  confirmTimeoutMs?: number;
  /** Pause between signature status polls (ms). Default 400, about one slot. */
  pollIntervalMs?: number;
}

const COMMITMENT = "confirmed" satisfies Commitment;

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

function toChainAccount(info: AccountInfo<Buffer>): ChainAccount {
  return { owner: info.owner, lamports: BigInt(info.lamports), data: info.data, executable: info.executable };
}

/**
 * `Chain` over a real cluster's JSON-RPC at commitment "confirmed". Confirmation is by polling
 * `getSignatureStatuses` (HTTP only), so it works against any RPC endpoint, websocket or not.
 */
export class RpcChain implements Chain {
  readonly connection: Connection;
  private readonly confirmTimeoutMs: number;
  private readonly pollIntervalMs: number;
  private readonly decimalsByMint = new Map<string, number>();

  constructor(endpoint: string | Connection, options: RpcChainOptions = {}) {
    this.connection = typeof endpoint === "string" ? new Connection(endpoint, { commitment: COMMITMENT }) : endpoint;
    this.confirmTimeoutMs = options.confirmTimeoutMs ?? 60_000;
    this.pollIntervalMs = options.pollIntervalMs ?? 400;
  }

  async latestBlockhash(): Promise<LatestBlockhash> {
    return this.connection.getLatestBlockhash(COMMITMENT);
  }

  async broadcast(transaction: Transaction | VersionedTransaction): Promise<string> {
    const expected = transactionSignature(transaction);
    if (expected === undefined) throw new ChainError("transaction is not signed");
    try {
      return await this.connection.sendRawTransaction(transaction.serialize(), {
        preflightCommitment: COMMITMENT,
      });
    } catch (error) {
      if (error instanceof SendTransactionError) {
        throw new ChainError(`transaction rejected: ${error.transactionError.message}`, {
          signature: expected,
          logs: error.logs ?? [],
        });
      }
      throw error;
    }
  }

  /**
   * Broadcasts, then polls until the signature is confirmed, fails, or its blockhash expires.
   * A transaction that already landed (a retried send) counts as confirmed.
   */
  async send(transaction: Transaction | VersionedTransaction): Promise<string> {
    const signature = transactionSignature(transaction);
    if (signature === undefined) throw new ChainError("transaction is not signed");
    if ((await this.signatureStatus(signature)) === "confirmed") return signature;
    await this.broadcast(transaction);
    const lastValidBlockHeight = "version" in transaction ? undefined : transaction.lastValidBlockHeight;
    await this.waitForConfirmation(signature, lastValidBlockHeight);
    return signature;
  }

  private async waitForConfirmation(signature: string, lastValidBlockHeight: number | undefined): Promise<void> {
    const deadline = Date.now() + this.confirmTimeoutMs;
    for (;;) {
      const state = await this.signatureStatus(signature);
      if (state === "confirmed") return;
      if (state === "failed") {
        const landed = await this.getTransaction(signature);
        throw new ChainError(`transaction ${signature} failed: ${landed?.error ?? "unknown error"}`, {
          signature,
          logs: landed?.logs ?? [],
          landed: true,
        });
      }
      if (lastValidBlockHeight !== undefined && (await this.blockHeight()) > lastValidBlockHeight) {
        // One last look: it may have landed in the final valid block.
        if ((await this.signatureStatus(signature)) === "confirmed") return;
        throw new ChainError(`transaction ${signature} expired: blockhash no longer valid`, { signature });
      }
      if (Date.now() > deadline) {
        throw new ChainError(`transaction ${signature} not confirmed after ${this.confirmTimeoutMs} ms`, { signature });
      }
      await sleep(this.pollIntervalMs);
    }
  }

  async signatureStatus(signature: string): Promise<SignatureState> {
    const { value } = await this.connection.getSignatureStatuses([signature], { searchTransactionHistory: true });
    const status = value[0];
    if (status === null || status === undefined) return "unknown";
    // "processed" can still be rolled back by a fork: not yet an answer either way.
    if (status.confirmationStatus !== "confirmed" && status.confirmationStatus !== "finalized") return "unknown";
    return status.err === null ? "confirmed" : "failed";
  }

  async getTransaction(signature: string): Promise<ChainTransaction | undefined> {
    const response = await this.connection.getTransaction(signature, {
      commitment: COMMITMENT,
      maxSupportedTransactionVersion: 0,
    });
    if (response === null) return undefined;
    const { message, signatures } = response.transaction;
    messageVersion(message);
    const meta = response.meta;
    const decompiled = decompileMessage(message, meta?.loadedAddresses);
    const error = meta?.err === null || meta?.err === undefined ? undefined : JSON.stringify(meta.err);
    return {
      signature,
      slot: response.slot,
      blockTime: response.blockTime ?? null,
      failed: error !== undefined,
      error,
      logs: meta?.logMessages ?? [],
      fee: BigInt(meta?.fee ?? 0),
      ...decompiled,
      transaction: new VersionedTransaction(
        message,
        signatures.map((text) => bs58.decode(text)),
      ),
    };
  }

  async getAccount(address: PublicKey): Promise<ChainAccount | undefined> {
    const info = await this.connection.getAccountInfo(address, COMMITMENT);
    return info === null ? undefined : toChainAccount(info);
  }

  async accountExists(address: PublicKey): Promise<boolean> {
    return (await this.getAccount(address)) !== undefined;
  }

  async tokenBalance(tokenAccount: PublicKey): Promise<bigint | undefined> {
    const account = await this.getAccount(tokenAccount);
    if (account === undefined || !account.owner.equals(TOKEN_PROGRAM_ID)) return undefined;
    return readTokenAccount(tokenAccount, account)?.amount;
  }

  async mintDecimals(mint: PublicKey): Promise<number> {
    const cached = this.decimalsByMint.get(mint.toBase58());
    if (cached !== undefined) return cached;
    const decoded = readMint(mint, await this.getAccount(mint));
    if (decoded === undefined) throw new ChainError(`${mint.toBase58()} is not an SPL Token mint`);
    this.decimalsByMint.set(mint.toBase58(), decoded.decimals);
    return decoded.decimals;
  }

  async blockHeight(): Promise<number> {
    return this.connection.getBlockHeight(COMMITMENT);
  }

  async solBalance(address: PublicKey): Promise<bigint> {
    return BigInt(await this.connection.getBalance(address, COMMITMENT));
  }

  async minimumBalanceForRentExemption(dataLength: number): Promise<bigint> {
    return BigInt(await this.connection.getMinimumBalanceForRentExemption(dataLength, COMMITMENT));
  }
}
