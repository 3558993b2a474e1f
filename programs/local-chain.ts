import {
  createAssociatedTokenAccountIdempotentInstruction,
  createInitializeMint2Instruction,
  createMintToCheckedInstruction,
  getAssociatedTokenAddressSync,
  MINT_SIZE,
  TOKEN_PROGRAM_ID,
} from "@solana/spl-token";
import {
  AddressLookupTableAccount,
  Keypair,
  type LoadedAddresses,
  type PublicKey,
  SystemProgram,
  type Transaction,
  type VersionedTransaction,
} from "@solana/web3.js";
import { type ProgramTestContext, start } from "solana-bankrun";
import {
  type Chain,
  type ChainAccount,
  ChainError,
  type ChainTransaction,
  type LatestBlockhash,
  type SignatureState,
  transactionSignature,
} from "./chain.ts";
import { type LocalTransactionRecord, snapshotBalances } from "./local-ledger.ts";
import { sendInstructions } from "./submit.ts";
import { readMint, readTokenAccount } from "./token-state.ts";
import { decompileMessage, messageVersion, signatureProblem, toVersionedTransaction } from "./transaction-message.ts";

export interface SimulationResult {
  /** Runtime error text; undefined when it would succeed. */
  error: string | undefined;
  logs: string[];
  computeUnitsConsumed: bigint;
}

/**
 * An in-process Solana bank (solana-bankrun) with SPL Token, Associated Token Account and Memo
 * loaded. bankrun keeps no transaction history and skips signature checks, so this class verifies
 * signatures itself and records every transaction it processes.
 */
export class LocalChain implements Chain {
  private readonly records = new Map<string, LocalTransactionRecord>();
  private readonly mintAuthorities = new Map<string, Keypair>();
  private readonly decimalsByMint = new Map<string, number>();
  /** Transactions are processed one at a time so before/after balance snapshots never interleave. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(readonly context: ProgramTestContext) {}

  static async start(): Promise<LocalChain> {
    return new LocalChain(await start([], []));
  }

  /** bankrun's pre-funded keypair: fee payer for helpers and the source of `fundSol`. */
  get payer(): Keypair {
    return this.context.payer;
  }

  private get banks() {
    return this.context.banksClient;
  }

  async latestBlockhash(): Promise<LatestBlockhash> {
    const latest = await this.banks.getLatestBlockhash();
    if (latest === null) throw new ChainError("local chain has no blockhash");
    return { blockhash: latest[0], lastValidBlockHeight: Number(latest[1]) };
  }

  /**
   * Processes a transaction and records it. Resolves with the record even when it failed on
   * chain (it landed: fee paid); throws `ChainError` when it never lands (bad signature,
   * unknown blockhash…). Resubmitting a recorded transaction returns the existing record.
   */
  submit(transaction: Transaction | VersionedTransaction): Promise<LocalTransactionRecord> {
    return this.exclusive(() => this.process(toVersionedTransaction(transaction)));
  }

  async send(transaction: Transaction | VersionedTransaction): Promise<string> {
    const record = await this.submit(transaction);
    if (record.error !== undefined) {
      throw new ChainError(`transaction ${record.signature} failed: ${record.error}`, {
        signature: record.signature,
        logs: record.logs,
        landed: true,
      });
    }
    return record.signature;
  }

  /** Processing is synchronous here, so broadcasting is sending. */
  broadcast(transaction: Transaction | VersionedTransaction): Promise<string> {
    return this.send(transaction);
  }

  /** Runs a transaction against current state without committing it; signatures are not checked. */
  async simulate(transaction: Transaction | VersionedTransaction): Promise<SimulationResult> {
    const result = await this.banks.simulateTransaction(toVersionedTransaction(transaction));
    return {
      error: result.result ?? undefined,
      logs: result.meta?.logMessages ?? [],
      computeUnitsConsumed: result.meta?.computeUnitsConsumed ?? 0n,
    };
  }

  /** The full record (balances, logs, wire bytes) of a transaction this chain processed. */
  transactionRecord(signature: string): LocalTransactionRecord | undefined {
    return this.records.get(signature);
  }

  async signatureStatus(signature: string): Promise<SignatureState> {
    const record = this.records.get(signature);
    if (record === undefined) return "unknown";
    return record.error === undefined ? "confirmed" : "failed";
  }

  async getTransaction(signature: string): Promise<ChainTransaction | undefined> {
    const record = this.records.get(signature);
    if (record === undefined) return undefined;
    const decompiled = decompileMessage(record.transaction.message, record.loadedAddresses);
    return {
      signature,
      slot: record.slot,
      blockTime: record.blockTime,
      failed: record.error !== undefined,
      error: record.error,
      logs: record.logs,
      fee: record.fee,
      ...decompiled,
      transaction: record.transaction,
    };
  }

  async getAccount(address: PublicKey): Promise<ChainAccount | undefined> {
    const account = await this.banks.getAccount(address);
    if (account === null) return undefined;
    // bankrun hands lamports over as a JS number; exact below 2^53 lamports (9M SOL).
    return {
      owner: account.owner,
      lamports: BigInt(account.lamports),
      data: account.data,
      executable: account.executable,
    };
  }

  async accountExists(address: PublicKey): Promise<boolean> {
    return (await this.banks.getAccount(address)) !== null;
  }

  async tokenBalance(tokenAccount: PublicKey): Promise<bigint | undefined> {
    return readTokenAccount(tokenAccount, await this.getAccount(tokenAccount))?.amount;
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
    return Number(await this.banks.getBlockHeight());
  }

  async slot(): Promise<number> {
    return Number(await this.banks.getSlot());
  }

  async solBalance(address: PublicKey): Promise<bigint> {
    return this.banks.getBalance(address);
  }

  async minimumBalanceForRentExemption(dataLength: number): Promise<bigint> {
    return (await this.banks.getRent()).minimumBalance(BigInt(dataLength));
  }

  /** Creates an SPL mint (rent and fee paid by `payer`); `authority` may later `mintTo`. */
  async createMint(decimals: number, authority: Keypair = this.payer): Promise<PublicKey> {
    const mint = Keypair.generate();
    await sendInstructions(
      this,
      [
        SystemProgram.createAccount({
          fromPubkey: this.payer.publicKey,
          newAccountPubkey: mint.publicKey,
          lamports: Number(await this.minimumBalanceForRentExemption(MINT_SIZE)),
          space: MINT_SIZE,
          programId: TOKEN_PROGRAM_ID,
        }),
        createInitializeMint2Instruction(mint.publicKey, decimals, authority.publicKey, null),
      ],
      this.payer,
      [mint],
    );
    this.mintAuthorities.set(mint.publicKey.toBase58(), authority);
    return mint.publicKey;
  }

  /** Mints `amount` base units to `ownerWallet`'s associated token account, creating it if missing. */
  async mintTo(mint: PublicKey, ownerWallet: PublicKey, amount: bigint): Promise<PublicKey> {
    const authority = this.mintAuthorities.get(mint.toBase58());
    if (authority === undefined) throw new Error(`mint ${mint.toBase58()} was not created by this LocalChain`);
    const tokenAccount = getAssociatedTokenAddressSync(mint, ownerWallet, true);
    const decimals = await this.mintDecimals(mint);
    await sendInstructions(
      this,
      [
        createAssociatedTokenAccountIdempotentInstruction(this.payer.publicKey, tokenAccount, ownerWallet, mint),
        createMintToCheckedInstruction(mint, tokenAccount, authority.publicKey, amount, decimals),
      ],
      this.payer,
      [authority],
    );
    return tokenAccount;
  }

  /** Transfers lamports from the bankrun payer (a real transaction, so it is recorded like any other). */
  async fundSol(to: PublicKey, lamports: bigint): Promise<string> {
    return sendInstructions(
      this,
      [SystemProgram.transfer({ fromPubkey: this.payer.publicKey, toPubkey: to, lamports })],
      this.payer,
    );
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async process(transaction: VersionedTransaction): Promise<LocalTransactionRecord> {
    const signature = transactionSignature(transaction);
    if (signature === undefined) throw new ChainError("transaction is not signed");
    const existing = this.records.get(signature);
    if (existing !== undefined) return existing;
    messageVersion(transaction.message);
    const problem = signatureProblem(transaction);
    if (problem !== undefined) throw new ChainError(`signature verification failed: ${problem}`, { signature });

    const loadedAddresses = await this.loadLookupTables(transaction);
    const { accountKeys } = decompileMessage(transaction.message, loadedAddresses);
    const read = (address: PublicKey) => this.getAccount(address);
    const decimalsOf = (mint: PublicKey) => this.mintDecimals(mint);
    const before = await snapshotBalances(accountKeys, read, decimalsOf);
    const fee = await this.feeFor(transaction);

    const result = await this.banks.tryProcessTransaction(transaction);
    const logs = result.meta?.logMessages ?? [];
    const status = await this.banks.getTransactionStatus(signature);
    if (status === null) {
      // Refused before execution (unknown blockhash, fee payer cannot pay…): it never landed.
      throw new ChainError(`transaction rejected: ${result.result ?? "not processed"}`, { signature, logs });
    }
    const after = await snapshotBalances(accountKeys, read, decimalsOf);
    const clock = await this.banks.getClock();
    const record: LocalTransactionRecord = {
      signature,
      wire: transaction.serialize(),
      transaction,
      loadedAddresses,
      slot: Number(status.slot),
      blockTime: Number(clock.unixTimestamp),
      error: result.result ?? undefined,
      logs,
      fee,
      computeUnitsConsumed: result.meta?.computeUnitsConsumed ?? 0n,
      preBalances: before.lamports,
      postBalances: after.lamports,
      preTokenBalances: before.tokens,
      postTokenBalances: after.tokens,
    };
    this.records.set(signature, record);
    return record;
  }

  private async feeFor(transaction: VersionedTransaction): Promise<bigint> {
    const message = transaction.message;
    if (message.version === "legacy") {
      const fee = await this.banks.getFeeForMessage(message);
      if (fee !== null) return fee;
    }
    // bankrun prices only legacy messages; v0 pays the base fee per signature (no priority fee here).
    const perSignature = BigInt(this.context.genesisConfig.feeRateGovernor.lamportsPerSignature);
    return perSignature * BigInt(message.header.numRequiredSignatures);
  }

  private async loadLookupTables(transaction: VersionedTransaction): Promise<LoadedAddresses> {
    const message = transaction.message;
    if (message.version !== 0 || message.addressTableLookups.length === 0) return { writable: [], readonly: [] };
    const tables = await Promise.all(
      message.addressTableLookups.map(async (lookup) => {
        const account = await this.banks.getAccount(lookup.accountKey);
        if (account === null) throw new ChainError(`address lookup table ${lookup.accountKey.toBase58()} not found`);
        return new AddressLookupTableAccount({
          key: lookup.accountKey,
          state: AddressLookupTableAccount.deserialize(account.data),
        });
      }),
    );
    return message.resolveAddressTableLookups(tables);
  }
}
