/**
 * IntentService on the local chain: expiry closes an intent by itself with its refund, and a
 * busy intent cannot be closed.
 */
import { getAssociatedTokenAddressSync } from "@solana/spl-token";
import { Keypair, LAMPORTS_PER_SOL, Transaction } from "@solana/web3.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IntentError } from "../../billing/intents.ts";
import { SqliteBillingStore } from "../../billing/store/sqlite-store.ts";
import { type Payments, startLocalPayments } from "../../gateway/stack/payments.ts";
import type { LocalChain } from "../../programs/local-chain.ts";

let store: SqliteBillingStore;
let payments: Payments;
let chain: LocalChain;

beforeAll(async () => {
  store = SqliteBillingStore.open(":memory:");
  await store.createAccount({ id: "acct_a", name: "a", activeIntentId: undefined, createdAt: Date.now() });
  payments = await startLocalPayments(store);
  if (!payments.localChain) throw new Error("no local chain");
  chain = payments.localChain;
}, 60_000);
afterAll(async () => {
  await store?.close();
});

async function fundedIntent(amount: bigint, expiresAt?: number) {
  const payer = Keypair.generate();
  await chain.fundSol(payer.publicKey, BigInt(LAMPORTS_PER_SOL));
  await chain.mintTo(payments.mint, payer.publicKey, amount);
  const created = await payments.intents.create({
    accountId: "acct_a",
    payer: payer.publicKey.toBase58(),
    amount,
    expiresAt,
  });
  const transaction = Transaction.from(Buffer.from(created.fundingTransaction, "base64"));
  transaction.partialSign(payer);
  await payments.intents.confirm("acct_a", created.intent.id, await chain.send(transaction));
  return { intentId: created.intent.id, payer };
}

describe("IntentService", () => {
  it("closes an expired intent by itself and refunds what was not spent", async () => {
    const { intentId, payer } = await fundedIntent(1_000_000n, Date.now() + 200);
    const reserved = await store.reserve(intentId, "job-1", 300_000n, Date.now(), 60_000);
    expect(reserved.ok).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 250));
    // Expired, but a running job still holds funds: it waits.
    expect(await payments.intents.closeExpired()).toEqual([]);
    expect((await store.getIntent(intentId))?.state).toBe("expired");
    await store.release("job-1");
    expect(await payments.intents.closeExpired()).toEqual([intentId]);
    expect((await store.getIntent(intentId))?.state).toBe("closed");
    expect(await chain.tokenBalance(getAssociatedTokenAddressSync(payments.mint, payer.publicKey))).toBe(1_000_000n);
    // A new job cannot reserve on it.
    expect((await store.reserve(intentId, "job-2", 1n, Date.now(), 60_000)).ok).toBe(false);
  });

  it("refuses to close while a job holds funds", async () => {
    const { intentId } = await fundedIntent(500_000n);
    await store.reserve(intentId, "job-3", 100_000n, Date.now(), 60_000);
    await expect(payments.intents.close("acct_a", intentId)).rejects.toMatchObject({ code: "BILL_ERR_INTENT_BUSY" });
    await expect(payments.intents.close("acct_other", intentId)).rejects.toBeInstanceOf(IntentError);
  });
});
