import { createTransferCheckedInstruction, getAssociatedTokenAddressSync, TOKEN_PROGRAM_ID } from "@solana/spl-token";
import { Keypair, LAMPORTS_PER_SOL, type PublicKey, Transaction, type TransactionInstruction } from "@solana/web3.js";
import bs58 from "bs58";
import { beforeAll, describe, expect, it } from "vitest";
import { type Chain, ChainError } from "../../programs/chain.ts";
import { createEscrowAccount, deriveEscrowAddress } from "../../programs/escrow.ts";
import { buildFundingTransaction, serializeUnsigned, verifyFunding } from "../../programs/funding.ts";
import { LocalChain } from "../../programs/local-chain.ts";
import { createMemoInstruction, intentMemo } from "../../programs/memo.ts";
import { refundEscrow } from "../../programs/refund.ts";
import { readTokenAccount } from "../../programs/token-state.ts";

process.env.RUST_LOG = "error";

const DECIMALS = 6;
const STARTING_TOKENS = 1_000_000_000n;

let chain: LocalChain;
let authority: Keypair;
let payer: Keypair;
let mint: PublicKey;
let payerTokens: PublicKey;

beforeAll(async () => {
  chain = await LocalChain.start();
  authority = Keypair.generate();
  payer = Keypair.generate();
  await chain.fundSol(authority.publicKey, 10n * BigInt(LAMPORTS_PER_SOL));
  await chain.fundSol(payer.publicKey, BigInt(LAMPORTS_PER_SOL));
  mint = await chain.createMint(DECIMALS);
  payerTokens = await chain.mintTo(mint, payer.publicKey, STARTING_TOKENS);
});

async function escrowFor(intentId: string, escrowMint: PublicKey = mint): Promise<PublicKey> {
  return (await createEscrowAccount(chain, { authority, intentId, mint: escrowMint })).escrow;
}

/** Signs and sends the payer's transaction the way a wallet would, from the base64 the API returns. */
async function payerSends(instructions: TransactionInstruction[]): Promise<string> {
  const { blockhash } = await chain.latestBlockhash();
  const transaction = new Transaction({ feePayer: payer.publicKey, recentBlockhash: blockhash }).add(...instructions);
  transaction.sign(payer);
  return chain.send(transaction);
}

async function fund(
  intentId: string,
  escrow: PublicKey,
  amount: bigint,
  fundingMint: PublicKey = mint,
): Promise<string> {
  const { blockhash } = await chain.latestBlockhash();
  const unsigned = buildFundingTransaction({
    payer: payer.publicKey,
    mint: fundingMint,
    escrow,
    amount,
    decimals: DECIMALS,
    intentId,
    recentBlockhash: blockhash,
  });
  const walletCopy = Transaction.from(Buffer.from(serializeUnsigned(unsigned), "base64"));
  walletCopy.partialSign(payer);
  return chain.send(walletCopy);
}

describe("escrow accounts", () => {
  it("derives the same address every time, from authority and intent id", async () => {
    const first = await deriveEscrowAddress(authority.publicKey, "intent_derive");
    expect((await deriveEscrowAddress(authority.publicKey, "intent_derive")).equals(first)).toBe(true);
    expect((await deriveEscrowAddress(authority.publicKey, "intent_other")).equals(first)).toBe(false);
    expect((await deriveEscrowAddress(Keypair.generate().publicKey, "intent_derive")).equals(first)).toBe(false);
  });

  it("refuses intent ids that cannot seed an address", async () => {
    await expect(deriveEscrowAddress(authority.publicKey, "")).rejects.toThrow(RangeError);
    await expect(deriveEscrowAddress(authority.publicKey, "x".repeat(33))).rejects.toThrow(/longer than 32/);
    await expect(deriveEscrowAddress(authority.publicKey, "é".repeat(17))).rejects.toThrow(/longer than 32/);
    await expect(deriveEscrowAddress(authority.publicKey, "has space")).rejects.toThrow(/whitespace/);
    await expect(deriveEscrowAddress(authority.publicKey, "x".repeat(32))).resolves.toBeDefined();
  });

  it("creates the derived token account once; a second call returns it untouched", async () => {
    const intentId = "intent_create";
    const created = await createEscrowAccount(chain, { authority, intentId, mint });
    expect(created.created).toBe(true);
    expect(created.signature).toBeTypeOf("string");
    expect(created.escrow.equals(await deriveEscrowAddress(authority.publicKey, intentId))).toBe(true);

    const account = await chain.getAccount(created.escrow);
    expect(account?.owner.equals(TOKEN_PROGRAM_ID)).toBe(true);
    expect(account?.lamports).toBe(await chain.minimumBalanceForRentExemption(165));
    const token = readTokenAccount(created.escrow, account);
    expect(token?.mint.equals(mint)).toBe(true);
    expect(token?.owner.equals(authority.publicKey)).toBe(true);
    expect(await chain.tokenBalance(created.escrow)).toBe(0n);

    const again = await createEscrowAccount(chain, { authority, intentId, mint });
    expect(again).toEqual({ escrow: created.escrow, signature: undefined, created: false });
    const otherMint = await chain.createMint(DECIMALS);
    await expect(createEscrowAccount(chain, { authority, intentId, mint: otherMint })).rejects.toThrow(
      /exists for mint/,
    );
  });

  it("treats losing a creation race as success", async () => {
    const intentId = "intent_raced";
    await createEscrowAccount(chain, { authority, intentId, mint });
    // A replica that read the address just before the other one created it.
    let reads = 0;
    const staleChain: Chain = Object.create(chain, {
      getAccount: {
        value: async (address: PublicKey) => (reads++ === 0 ? undefined : chain.getAccount(address)),
      },
    });
    const raced = await createEscrowAccount(staleChain, { authority, intentId, mint });
    expect(raced).toMatchObject({ created: false, signature: undefined });
  });

  it("still creates the escrow when someone pre-funded its address with lamports", async () => {
    const intentId = "intent_griefed";
    const address = await deriveEscrowAddress(authority.publicKey, intentId);
    await chain.fundSol(address, 1_000_000n);
    const created = await createEscrowAccount(chain, { authority, intentId, mint });
    expect(created.created).toBe(true);
    expect(readTokenAccount(address, await chain.getAccount(address))?.mint.equals(mint)).toBe(true);
  });
});

describe("funding an intent", () => {
  it("lands the payer-signed deposit and verifies it", async () => {
    const intentId = "intent_funded";
    const escrow = await escrowFor(intentId);
    const before = await chain.tokenBalance(payerTokens);
    const signature = await fund(intentId, escrow, 25_000_000n);

    expect(await chain.signatureStatus(signature)).toBe("confirmed");
    const verified = await verifyFunding(chain, signature, { mint, escrow, amount: 25_000_000n, intentId });
    expect(verified).toEqual({ ok: true, funded: 25_000_000n, payer: payer.publicKey });
    const withPayer = await verifyFunding(chain, signature, {
      mint,
      escrow,
      amount: 25_000_000n,
      intentId,
      payer: payer.publicKey,
    });
    expect(withPayer.ok).toBe(true);
    expect(await chain.tokenBalance(escrow)).toBe(25_000_000n);
    expect(await chain.tokenBalance(payerTokens)).toBe((before ?? 0n) - 25_000_000n);

    const landed = await chain.getTransaction(signature);
    expect(landed?.feePayer.equals(payer.publicKey)).toBe(true);
    expect(landed?.fee).toBe(5000n);
    expect(landed?.signers.map((key) => key.toBase58())).toEqual([payer.publicKey.toBase58()]);
    const record = chain.transactionRecord(signature);
    const escrowIndex = landed?.accountKeys.findIndex((key) => key.equals(escrow));
    expect(record?.postTokenBalances.find((balance) => balance.accountIndex === escrowIndex)?.amount).toBe(25_000_000n);
  });

  it("builds an unsigned transaction a wallet can sign (fee payer = payer, memo signed by payer)", async () => {
    const escrow = await deriveEscrowAddress(authority.publicKey, "intent_shape");
    const transaction = buildFundingTransaction({
      payer: payer.publicKey,
      mint,
      escrow,
      amount: 1n,
      decimals: DECIMALS,
      intentId: "intent_shape",
      recentBlockhash: (await chain.latestBlockhash()).blockhash,
    });
    expect(transaction.feePayer?.equals(payer.publicKey)).toBe(true);
    expect(transaction.instructions).toHaveLength(2);
    expect(transaction.instructions[1]?.data.toString()).toBe("hn:intent:intent_shape");
    expect(transaction.instructions[1]?.keys).toEqual([{ pubkey: payer.publicKey, isSigner: true, isWritable: false }]);
    expect(Transaction.from(Buffer.from(serializeUnsigned(transaction), "base64")).signature).toBeNull();
    expect(() => buildFundingTransaction({ ...shapeOptions(escrow), amount: 0n })).toThrow(RangeError);
  });
});

function shapeOptions(escrow: PublicKey) {
  return {
    payer: payer.publicKey,
    mint,
    escrow,
    amount: 1n,
    decimals: DECIMALS,
    intentId: "intent_shape",
    recentBlockhash: Keypair.generate().publicKey.toBase58(),
  };
}

describe("refused funding", () => {
  const intentId = "intent_refusals";
  let escrow: PublicKey;
  beforeAll(async () => {
    escrow = await escrowFor(intentId);
  });
  const expected = (amount: bigint) => ({ mint, escrow, amount, intentId });

  it("refuses unknown and malformed signatures", async () => {
    const unknown = bs58.encode(Keypair.generate().secretKey);
    expect(await verifyFunding(chain, unknown, expected(1n))).toMatchObject({ ok: false, code: "not_found" });
    expect(await verifyFunding(chain, "not-a-signature", expected(1n))).toMatchObject({ ok: false, code: "not_found" });
    expect(await chain.signatureStatus(unknown)).toBe("unknown");
  });

  it("never lands a transaction with a forged signature", async () => {
    const { blockhash } = await chain.latestBlockhash();
    const forged = buildFundingTransaction({
      ...shapeOptions(escrow),
      intentId,
      amount: 5n,
      recentBlockhash: blockhash,
    });
    forged.addSignature(payer.publicKey, Buffer.from(Keypair.generate().secretKey.slice(0, 64)));
    const error = await chain.send(forged).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ChainError);
    expect((error as ChainError).landed).toBe(false);
    expect((error as ChainError).message).toMatch(/signature verification failed/);
    expect(await chain.tokenBalance(escrow)).toBe(0n);
  });

  it("refuses a deposit of another amount", async () => {
    const signature = await fund(intentId, escrow, 500n);
    expect(await verifyFunding(chain, signature, expected(600n))).toMatchObject({ ok: false, code: "wrong_amount" });
    expect(await verifyFunding(chain, signature, expected(400n))).toMatchObject({ ok: false, code: "wrong_amount" });
  });

  it("refuses a deposit of another mint", async () => {
    const otherMint = await chain.createMint(DECIMALS);
    await chain.mintTo(otherMint, payer.publicKey, 1_000n);
    const otherEscrow = await escrowFor("intent_other_mint", otherMint);
    const signature = await fund(intentId, otherEscrow, 1_000n, otherMint);
    expect(await verifyFunding(chain, signature, expected(1_000n))).toMatchObject({ ok: false, code: "wrong_mint" });
  });

  it("refuses a deposit into another escrow", async () => {
    const otherEscrow = await escrowFor("intent_other_escrow");
    const signature = await fund(intentId, otherEscrow, 700n);
    expect(await verifyFunding(chain, signature, expected(700n))).toMatchObject({
      ok: false,
      code: "wrong_destination",
    });
  });

  it("refuses a deposit without the intent memo, or with another intent's memo", async () => {
    const transfer = createTransferCheckedInstruction(payerTokens, mint, escrow, payer.publicKey, 800n, DECIMALS);
    const bare = await payerSends([transfer]);
    expect(await verifyFunding(chain, bare, expected(800n))).toMatchObject({ ok: false, code: "missing_memo" });
    const unrelated = await payerSends([transfer, createMemoInstruction("thanks!", [payer.publicKey])]);
    expect(await verifyFunding(chain, unrelated, expected(800n))).toMatchObject({ ok: false, code: "missing_memo" });
    const other = await payerSends([transfer, createMemoInstruction(intentMemo("intent_someone_else"))]);
    const refused = await verifyFunding(chain, other, expected(800n));
    expect(refused).toMatchObject({ ok: false, code: "memo_for_another_intent" });
    expect(refused.ok ? "" : refused.reason).toContain("hn:intent:intent_someone_else");
  });

  it("refuses a deposit from another wallet when the payer is pinned", async () => {
    const signature = await fund(intentId, escrow, 900n);
    const pinned = { ...expected(900n), payer: Keypair.generate().publicKey };
    expect(await verifyFunding(chain, signature, pinned)).toMatchObject({ ok: false, code: "wrong_payer" });
  });

  it("refuses a transaction that failed on chain (it landed, fee paid, nothing moved)", async () => {
    const escrowBefore = await chain.tokenBalance(escrow);
    const error = await fund(intentId, escrow, STARTING_TOKENS * 10n).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ChainError);
    const failure = error as ChainError;
    expect(failure.landed).toBe(true);
    expect(failure.logs.join("\n")).toMatch(/insufficient funds/i);
    const signature = failure.signature ?? "";
    expect(await chain.signatureStatus(signature)).toBe("failed");
    const refused = await verifyFunding(chain, signature, expected(STARTING_TOKENS * 10n));
    expect(refused).toMatchObject({ ok: false, code: "failed" });
    expect(await chain.tokenBalance(escrow)).toBe(escrowBefore);
  });
});

describe("refunds", () => {
  it("moves exactly the remainder back to the payer, then closes the empty escrow", async () => {
    const intentId = "intent_refund";
    const escrow = await escrowFor(intentId);
    await fund(intentId, escrow, 10_000_000n);
    const payerBefore = (await chain.tokenBalance(payerTokens)) ?? 0n;

    const signature = await refundEscrow(chain, {
      authority,
      escrow,
      mint,
      decimals: DECIMALS,
      destinationOwner: payer.publicKey,
      amount: 3_250_000n,
      memo: `hn:refund:${intentId}`,
    });
    expect(signature).toBeTypeOf("string");
    expect(await chain.tokenBalance(escrow)).toBe(6_750_000n);
    expect(await chain.tokenBalance(payerTokens)).toBe(payerBefore + 3_250_000n);

    const nothing = await refundEscrow(chain, {
      authority,
      escrow,
      mint,
      decimals: DECIMALS,
      destinationOwner: payer.publicKey,
      amount: 0n,
      memo: "unused",
    });
    expect(nothing).toBeUndefined();

    const authorityLamports = await chain.solBalance(authority.publicKey);
    const rent = await chain.minimumBalanceForRentExemption(165);
    await refundEscrow(chain, {
      authority,
      escrow,
      mint,
      decimals: DECIMALS,
      destinationOwner: payer.publicKey,
      amount: 6_750_000n,
      memo: `hn:refund:${intentId}`,
      closeEscrow: true,
    });
    expect(await chain.tokenBalance(payerTokens)).toBe(payerBefore + 10_000_000n);
    expect(await chain.accountExists(escrow)).toBe(false);
    expect(await chain.solBalance(authority.publicKey)).toBe(authorityLamports + rent - 5000n);
  });

  it("creates the destination's token account when it has none", async () => {
    const intentId = "intent_refund_new";
    const escrow = await escrowFor(intentId);
    await fund(intentId, escrow, 2_000n);
    const stranger = Keypair.generate().publicKey;
    await refundEscrow(chain, {
      authority,
      escrow,
      mint,
      decimals: DECIMALS,
      destinationOwner: stranger,
      amount: 2_000n,
      memo: `hn:refund:${intentId}`,
    });
    expect(await chain.tokenBalance(getAssociatedTokenAddressSync(mint, stranger))).toBe(2_000n);
    expect(await chain.tokenBalance(escrow)).toBe(0n);
  });
});
