/**
 * Payment intents end to end on the in-process chain: create over HTTP, the payer's wallet
 * signs and sends through the gateway's JSON-RPC with `@solana/web3.js`, confirm, spend on real
 * requests, close — and the refund lands on chain to the base unit. Bad funding is refused.
 */
import { getAssociatedTokenAddressSync } from "@solana/spl-token";
import { Connection, Keypair, LAMPORTS_PER_SOL, PublicKey, Transaction } from "@solana/web3.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deriveEscrowAddress } from "../../programs/escrow.ts";
import { buildFundingTransaction } from "../../programs/funding.ts";
import type { LocalChain } from "../../programs/local-chain.ts";
import { startTestStack, TEST_ACCOUNT_ID, type TestStack } from "../support/test-stack.ts";

let stack: TestStack;
let chain: LocalChain;
let connection: Connection;

interface IntentView {
  id: string;
  state: string;
  escrow: string;
  mint: string;
  funded: string;
  held: string;
  spent: string;
  remaining: string;
  funding_transaction?: string;
  refunded?: string;
  refund_signature: string | null;
  error?: { code: string; message: string; param: string | null };
}

async function api(
  method: "GET" | "POST",
  path: string,
  body?: unknown,
): Promise<{ status: number; body: IntentView }> {
  const response = await fetch(`${stack.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${stack.apiKey}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as IntentView };
}

async function newPayer(tokens: bigint): Promise<Keypair> {
  const payer = Keypair.generate();
  await chain.fundSol(payer.publicKey, BigInt(LAMPORTS_PER_SOL));
  if (!stack.payments) throw new Error("payments off");
  await chain.mintTo(stack.payments.mint, payer.publicKey, tokens);
  return payer;
}

/** What a wallet does with the unsigned transaction: sign it and send it over JSON-RPC. */
async function signAndSend(base64: string, payer: Keypair): Promise<string> {
  const transaction = Transaction.from(Buffer.from(base64, "base64"));
  transaction.partialSign(payer);
  const signature = await connection.sendRawTransaction(transaction.serialize());
  // Polled over HTTP: the local chain's RPC has no websocket subscriptions.
  for (let attempt = 0; attempt < 100; attempt++) {
    const [status] = (await connection.getSignatureStatuses([signature])).value;
    if (status?.confirmationStatus === "confirmed" || status?.confirmationStatus === "finalized") return signature;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`${signature} was not confirmed`);
}

function settlementAuthority(): PublicKey {
  if (!stack.payments) throw new Error("payments off");
  return stack.payments.settlementAuthority.publicKey;
}

async function tokenBalance(owner: Keypair): Promise<bigint> {
  if (!stack.payments) throw new Error("payments off");
  return (await chain.tokenBalance(getAssociatedTokenAddressSync(stack.payments.mint, owner.publicKey))) ?? 0n;
}

beforeAll(async () => {
  stack = await startTestStack({ payments: true, billing: { fundedAmount: 1n } });
  if (!stack.payments?.localChain) throw new Error("no local chain");
  chain = stack.payments.localChain;
  connection = new Connection(`${stack.url}/solana`, "confirmed");
}, 60_000);
afterAll(async () => {
  await stack?.close();
});

describe("payment intents on the local chain", () => {
  it("create → sign → confirm → spend → close refunds exactly the remainder to the payer", async () => {
    const payer = await newPayer(50_000_000n);
    const created = await api("POST", "/v1/intents", { amount: "20000000", payer: payer.publicKey.toBase58() });
    expect(created.status).toBe(201);
    expect(created.body.state).toBe("pending");
    expect(created.body.escrow).toBe((await deriveEscrowAddress(settlementAuthority(), created.body.id)).toBase58());
    const signature = await signAndSend(created.body.funding_transaction ?? "", payer);
    expect(await tokenBalance(payer)).toBe(30_000_000n);

    const confirmed = await api("POST", `/v1/intents/${created.body.id}/confirm`, { signature });
    expect(confirmed.status).toBe(200);
    expect(confirmed.body).toMatchObject({ state: "active", funded: "20000000", spent: "0", remaining: "20000000" });

    // Spend: confirming made it the account's active intent.
    for (let request = 0; request < 3; request++) {
      const response = await fetch(`${stack.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${stack.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({
          model: "qwen2.5-7b-instruct",
          max_tokens: 20,
          messages: [{ role: "user", content: "Spend a little." }],
        }),
      });
      expect(response.status).toBe(200);
      await response.text();
    }
    const spentView = await api("GET", `/v1/intents/${created.body.id}`);
    const spent = BigInt(spentView.body.spent);
    expect(spent).toBeGreaterThan(0n);
    expect(spentView.body.held).toBe("0");
    const records = await stack.store.listUsage({ intentId: created.body.id });
    expect(records.reduce((sum, record) => sum + record.charge, 0n)).toBe(spent);

    const closed = await api("POST", `/v1/intents/${created.body.id}/close`);
    expect(closed.status).toBe(200);
    expect(closed.body.state).toBe("closed");
    expect(BigInt(closed.body.refunded ?? "-1")).toBe(20_000_000n - spent);
    expect(await tokenBalance(payer)).toBe(30_000_000n + 20_000_000n - spent);
    // What was spent stays in escrow for settlement to pay out.
    expect(await chain.tokenBalance(new PublicKey(closed.body.escrow))).toBe(spent);
    expect((await stack.store.getAccount(TEST_ACCOUNT_ID))?.activeIntentId).toBeUndefined();
  });

  it("refuses forged, wrong-amount, wrong-mint and replayed funding signatures", async () => {
    const payer = await newPayer(100_000_000n);
    const first = await api("POST", "/v1/intents", { amount: "1000000", payer: payer.publicKey.toBase58() });
    const second = await api("POST", "/v1/intents", { amount: "1000000", payer: payer.publicKey.toBase58() });

    const forged = await api("POST", `/v1/intents/${first.body.id}/confirm`, { signature: "5".repeat(88) });
    expect(forged.status).toBe(409);
    expect(forged.body.error?.code).toBe("funding_not_confirmed");

    if (!stack.payments) throw new Error("payments off");
    const { blockhash } = await chain.latestBlockhash();
    const wrongAmount = buildFundingTransaction({
      payer: payer.publicKey,
      mint: stack.payments.mint,
      escrow: new PublicKey(first.body.escrow),
      amount: 999_999n,
      decimals: stack.payments.decimals,
      intentId: first.body.id,
      recentBlockhash: blockhash,
    });
    wrongAmount.sign(payer);
    const wrongAmountSignature = await chain.send(wrongAmount);
    const refusedAmount = await api("POST", `/v1/intents/${first.body.id}/confirm`, {
      signature: wrongAmountSignature,
    });
    expect(refusedAmount.status).toBe(400);
    expect(refusedAmount.body.error?.code).toBe("funding_refused");
    expect(refusedAmount.body.error?.message).toMatch(/999999 base units, expected exactly 1000000/);

    const otherMint = await chain.createMint(6);
    await chain.mintTo(otherMint, payer.publicKey, 5_000_000n);
    const wrongMint = buildFundingTransaction({
      payer: payer.publicKey,
      mint: otherMint,
      escrow: new PublicKey(first.body.escrow),
      amount: 1_000_000n,
      decimals: 6,
      intentId: first.body.id,
      recentBlockhash: (await chain.latestBlockhash()).blockhash,
    });
    wrongMint.sign(payer);
    // The token program itself refuses another mint into this escrow: the transaction lands as
    // failed, and a failed funding is refused.
    const wrongMintLanded = await chain.submit(wrongMint);
    const refusedMint = await api("POST", `/v1/intents/${first.body.id}/confirm`, {
      signature: wrongMintLanded.signature,
    });
    expect(refusedMint.status).toBe(400);
    expect(refusedMint.body.error?.code).toBe("funding_refused");
    expect(refusedMint.body.error?.message).toMatch(/failed on chain/);

    const good = await signAndSend(first.body.funding_transaction ?? "", payer);
    expect((await api("POST", `/v1/intents/${first.body.id}/confirm`, { signature: good })).body.state).toBe("active");
    const replayed = await api("POST", `/v1/intents/${second.body.id}/confirm`, { signature: good });
    expect(replayed.status).toBe(400);
    expect(replayed.body.error?.message).toMatch(/expected escrow/);
    expect((await api("GET", `/v1/intents/${second.body.id}`)).body.state).toBe("pending");
  });

  it("hides other accounts' intents and validates input", async () => {
    expect((await api("GET", "/v1/intents/in_doesnotexist")).status).toBe(404);
    expect(
      (await api("POST", "/v1/intents", { amount: "-5", payer: Keypair.generate().publicKey.toBase58() })).status,
    ).toBe(400);
    expect(
      (await api("POST", "/v1/intents", { amount: "5", payer: "not-a-wallet-address-at-all-0000000000" })).body.error
        ?.param,
    ).toBe("payer");
    const other = await stack.store.apiKeys.create("acct_other", "other");
    await stack.store.createAccount({
      id: "acct_other",
      name: "other",
      activeIntentId: undefined,
      createdAt: Date.now(),
    });
    const mine = await api("POST", "/v1/intents", { amount: "1000", payer: Keypair.generate().publicKey.toBase58() });
    const theirs = await fetch(`${stack.url}/v1/intents/${mine.body.id}`, {
      headers: { authorization: `Bearer ${other.key}` },
    });
    expect(theirs.status).toBe(404);
  });
});
