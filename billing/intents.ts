/**
 * Payment intents: a payer commits an amount, funds the intent's escrow on chain, and jobs
 * spend against it. The escrow address is derived from the settlement authority and the intent
 * id, so anyone can audit it; closing refunds what was never spent.
 *
 *   create  → pending (escrow account created, unsigned funding transaction for the payer)
 *   confirm → active  (the transfer verified on chain: amount, mint, destination, memo)
 *   close   → closed  (refund of funded − spent to the payer; spent stays for settlement)
 *   expiry  → expired, then closed by the sweep the same way
 */
import { randomBytes } from "node:crypto";
import { type Keypair, PublicKey } from "@solana/web3.js";
import type { Chain } from "../programs/chain.ts";
import { createEscrowAccount } from "../programs/escrow.ts";
import { buildFundingTransaction, serializeUnsigned, verifyFunding } from "../programs/funding.ts";
import { refundEscrow } from "../programs/refund.ts";
import type { BillingStore, IntentRecord } from "./store/types.ts";

export type IntentErrorCode =
  | "BILL_ERR_INTENT_NOT_FOUND"
  | "BILL_ERR_INVALID_INTENT"
  | "BILL_ERR_FUNDING_REFUSED"
  | "BILL_ERR_FUNDING_PENDING"
  | "BILL_ERR_SIGNATURE_REUSED"
  | "BILL_ERR_INTENT_STATE"
  | "BILL_ERR_INTENT_BUSY";

export class IntentError extends Error {
  constructor(
    readonly code: IntentErrorCode,
    message: string,
    readonly param?: string,
  ) {
    super(message);
    this.name = "IntentError";
  }
}

export interface IntentServiceOptions {
  store: BillingStore;
  chain: Chain;
  /** Owns every escrow and signs refunds and payouts. */
  settlementAuthority: Keypair;
  mint: PublicKey;
  decimals: number;
}

export interface CreatedIntent {
  intent: IntentRecord;
  /** Base64 unsigned transaction for the payer's wallet to sign and send. */
  fundingTransaction: string;
}

/** `in_` + 24 characters: 27 bytes, under the 32-byte seed limit of `createWithSeed`. */
function newIntentId(): string {
  return `in_${randomBytes(18).toString("base64url")}`;
}

function parsePublicKey(text: string, param: string): PublicKey {
  try {
    const key = new PublicKey(text);
    if (key.toBase58() !== text) throw new Error("not canonical");
    return key;
  } catch {
    throw new IntentError("BILL_ERR_INVALID_INTENT", `'${param}' is not a base58 Solana address.`, param);
  }
}

export class IntentService {
  constructor(private readonly options: IntentServiceOptions) {}

  get mint(): PublicKey {
    return this.options.mint;
  }

  get decimals(): number {
    return this.options.decimals;
  }

  async create(
    request: { accountId: string; payer: string; amount: bigint; expiresAt?: number },
    now = Date.now(),
  ): Promise<CreatedIntent> {
    const payer = parsePublicKey(request.payer, "payer");
    if (request.amount <= 0n)
      throw new IntentError("BILL_ERR_INVALID_INTENT", "'amount' must be a positive number of base units.", "amount");
    if (request.expiresAt !== undefined && request.expiresAt <= now) {
      throw new IntentError("BILL_ERR_INVALID_INTENT", "The expiry must be in the future.", "expires_in_seconds");
    }
    const { chain, settlementAuthority, mint, decimals, store } = this.options;
    const id = newIntentId();
    const { escrow } = await createEscrowAccount(chain, { authority: settlementAuthority, intentId: id, mint });
    const intent: IntentRecord = {
      id,
      accountId: request.accountId,
      payer: payer.toBase58(),
      mint: mint.toBase58(),
      escrow: escrow.toBase58(),
      amount: request.amount,
      funded: 0n,
      held: 0n,
      spent: 0n,
      settled: 0n,
      state: "pending",
      fundingSignature: undefined,
      refundSignature: undefined,
      createdAt: now,
      expiresAt: request.expiresAt,
      closedAt: undefined,
    };
    await store.createIntent(intent);
    const { blockhash, lastValidBlockHeight } = await chain.latestBlockhash();
    const transaction = buildFundingTransaction({
      payer,
      mint,
      escrow,
      amount: request.amount,
      decimals,
      intentId: id,
      recentBlockhash: blockhash,
      lastValidBlockHeight,
    });
    return { intent, fundingTransaction: serializeUnsigned(transaction) };
  }

  /** Verifies the funding transaction on chain and activates the intent (and makes it the account's active one). */
  async confirm(accountId: string, intentId: string, signature: string): Promise<IntentRecord> {
    const intent = await this.owned(accountId, intentId);
    if (intent.state !== "pending") {
      if (intent.fundingSignature === signature) return intent;
      throw new IntentError("BILL_ERR_INTENT_STATE", `Intent ${intentId} is ${intent.state}, not pending.`);
    }
    const verification = await verifyFunding(this.options.chain, signature, {
      mint: new PublicKey(intent.mint),
      escrow: new PublicKey(intent.escrow),
      amount: intent.amount,
      intentId,
      payer: new PublicKey(intent.payer),
    });
    if (!verification.ok) {
      const code = verification.code === "not_found" ? "BILL_ERR_FUNDING_PENDING" : "BILL_ERR_FUNDING_REFUSED";
      throw new IntentError(code, `The funding transaction was refused: ${verification.reason}.`, "signature");
    }
    if (!(await this.options.store.activateIntent(intentId, verification.funded, signature))) {
      throw new IntentError("BILL_ERR_SIGNATURE_REUSED", "That funding signature was already used.", "signature");
    }
    await this.options.store.setActiveIntent(accountId, intentId);
    return this.owned(accountId, intentId);
  }

  async get(accountId: string | undefined, intentId: string): Promise<IntentRecord> {
    return this.owned(accountId, intentId);
  }

  /**
   * Refunds the unspent remainder (funded − spent) to the payer and closes the intent. Spent
   * money stays in escrow until settlement pays it out. Refused while any job holds funds.
   */
  async close(
    accountId: string | undefined,
    intentId: string,
    now = Date.now(),
  ): Promise<{ intent: IntentRecord; refunded: bigint }> {
    const intent = await this.owned(accountId, intentId);
    if (intent.state === "closed") return { intent, refunded: intent.funded - intent.spent };
    if (intent.held > 0n)
      throw new IntentError(
        "BILL_ERR_INTENT_BUSY",
        `Intent ${intentId} still has ${intent.held} base units held by running jobs.`,
      );
    const refund = intent.funded - intent.spent;
    let refundSignature: string | undefined;
    if (refund > 0n) {
      refundSignature = await refundEscrow(this.options.chain, {
        authority: this.options.settlementAuthority,
        escrow: new PublicKey(intent.escrow),
        mint: new PublicKey(intent.mint),
        decimals: this.options.decimals,
        destinationOwner: new PublicKey(intent.payer),
        amount: refund,
        memo: `hn:refund:${intentId}`,
      });
    }
    if (!(await this.options.store.closeIntent(intentId, refundSignature, now))) {
      throw new IntentError(
        "BILL_ERR_INTENT_BUSY",
        `Intent ${intentId} could not be closed: a job took a hold meanwhile.`,
      );
    }
    const account = await this.options.store.getAccount(intent.accountId);
    if (account?.activeIntentId === intentId) await this.options.store.setActiveIntent(intent.accountId, undefined);
    return { intent: await this.owned(accountId, intentId), refunded: refund };
  }

  /** Closes (with refund) every expired intent nothing holds; returns their ids. */
  async closeExpired(now = Date.now()): Promise<string[]> {
    await this.options.store.expireIntents(now);
    const closed: string[] = [];
    for (const intent of await this.options.store.listIntents()) {
      if (intent.state === "expired" && intent.held === 0n) {
        await this.close(undefined, intent.id, now);
        closed.push(intent.id);
      }
    }
    return closed;
  }

  private async owned(accountId: string | undefined, intentId: string): Promise<IntentRecord> {
    const intent = await this.options.store.getIntent(intentId);
    // Another account's intent is reported as missing: ids are not secrets, balances are.
    if (!intent || (accountId !== undefined && intent.accountId !== accountId)) {
      throw new IntentError("BILL_ERR_INTENT_NOT_FOUND", `No payment intent ${intentId}.`);
    }
    return intent;
  }
}
