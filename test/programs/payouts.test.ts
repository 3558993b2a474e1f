import { createMintToCheckedInstruction } from "@solana/spl-token";
import { Keypair, LAMPORTS_PER_SOL, type PublicKey, Transaction } from "@solana/web3.js";
import { beforeAll, describe, expect, it } from "vitest";
import { transactionSignature } from "../../programs/chain.ts";
import { createEscrowAccount } from "../../programs/escrow.ts";
import { LocalChain } from "../../programs/local-chain.ts";
import { payoutMemo, readMemo } from "../../programs/memo.ts";
import {
  buildPayoutTransaction,
  chunkPayouts,
  ensureTokenAccounts,
  maxPayoutsPerLegacyTransaction,
  type Payout,
  payoutTransactionSize,
} from "../../programs/payouts.ts";
import { associatedTokenAddress } from "../../programs/token-accounts.ts";
import { PACKET_DATA_SIZE } from "../../programs/transaction-message.ts";

process.env.RUST_LOG = "error";

const DECIMALS = 6;
const ROOT = "ab".repeat(32);

let chain: LocalChain;
let authority: Keypair;
let mint: PublicKey;
let escrow: PublicKey;
const recipients = Array.from({ length: 18 }, () => Keypair.generate().publicKey);

beforeAll(async () => {
  chain = await LocalChain.start();
  authority = Keypair.generate();
  await chain.fundSol(authority.publicKey, 10n * BigInt(LAMPORTS_PER_SOL));
  mint = await chain.createMint(DECIMALS);
  escrow = (await createEscrowAccount(chain, { authority, intentId: "intent_payouts", mint })).escrow;
  // Minting straight into the escrow stands in for a deposit: payouts only see the balance.
  const { blockhash } = await chain.latestBlockhash();
  const deposit = new Transaction({ feePayer: chain.payer.publicKey, recentBlockhash: blockhash }).add(
    createMintToCheckedInstruction(mint, escrow, chain.payer.publicKey, 1_000_000_000n, DECIMALS),
  );
  deposit.sign(chain.payer);
  await chain.send(deposit);
});

function payoutsTo(owners: PublicKey[]): Payout[] {
  return owners.map((owner, index) => ({ owner, amount: BigInt(1_000 * (index + 1)) }));
}

describe("payout capacity", () => {
  it("fits 17 transfers and the longest memo in one legacy transaction", () => {
    expect(maxPayoutsPerLegacyTransaction()).toBe(17);
    expect(maxPayoutsPerLegacyTransaction({ computeUnitPrice: true })).toBeGreaterThanOrEqual(17);
    expect(maxPayoutsPerLegacyTransaction({ memoLength: 4 })).toBeGreaterThan(17);
  });

  it("chunks payouts in order", () => {
    const payouts = payoutsTo(recipients).concat(payoutsTo(recipients));
    const chunks = chunkPayouts(payouts);
    expect(chunks.map((chunk) => chunk.length)).toEqual([17, 17, 2]);
    expect(chunks.flat()).toEqual(payouts);
  });
});

describe("paying runners from an escrow", () => {
  it("creates missing recipient token accounts in batches, once", async () => {
    const owners = recipients.slice(0, 17);
    const first = await ensureTokenAccounts(chain, authority, mint, [...owners, owners[0] as PublicKey]);
    expect(first.created).toHaveLength(17);
    expect(first.signatures.length).toBeGreaterThan(1);
    expect(first.tokenAccounts).toHaveLength(18);
    expect(first.tokenAccounts[17]?.equals(associatedTokenAddress(mint, owners[0] as PublicKey))).toBe(true);
    for (const tokenAccount of first.tokenAccounts) expect(await chain.tokenBalance(tokenAccount)).toBe(0n);

    const second = await ensureTokenAccounts(chain, authority, mint, owners);
    expect(second.created).toEqual([]);
    expect(second.signatures).toEqual([]);
  });

  it("lands 17 transfers plus the batch memo in one legacy transaction under 1,232 bytes", async () => {
    const payouts = payoutsTo(recipients.slice(0, 17));
    const escrowBefore = (await chain.tokenBalance(escrow)) ?? 0n;
    const { blockhash, lastValidBlockHeight } = await chain.latestBlockhash();
    const memo = payoutMemo(12_345n, ROOT);
    const transaction = buildPayoutTransaction({
      authority: authority.publicKey,
      escrow,
      mint,
      decimals: DECIMALS,
      payouts,
      memo,
      recentBlockhash: blockhash,
      lastValidBlockHeight,
    });
    transaction.sign(authority);
    const wire = transaction.serialize();
    expect(wire.length).toBeLessThanOrEqual(PACKET_DATA_SIZE);
    expect(wire.length).toBe(
      payoutTransactionSize({ authority: authority.publicKey, escrow, mint, decimals: 6, payouts, memo }),
    );

    const planned = transactionSignature(transaction);
    const signature = await chain.send(transaction);
    expect(signature).toBe(planned);

    for (const payout of payouts) {
      expect(await chain.tokenBalance(associatedTokenAddress(mint, payout.owner))).toBe(payout.amount);
    }
    const total = payouts.reduce((sum, payout) => sum + payout.amount, 0n);
    expect(await chain.tokenBalance(escrow)).toBe(escrowBefore - total);

    const landed = await chain.getTransaction(signature);
    expect(landed?.instructions).toHaveLength(18);
    expect(landed?.instructions.map(readMemo).filter(Boolean)).toEqual([`hn:12345:${ROOT}`]);
    expect(chain.transactionRecord(signature)?.computeUnitsConsumed).toBeLessThan(200_000n);
  });

  it("pays with a priority fee too", async () => {
    const payouts = payoutsTo(recipients.slice(0, 17));
    const before = await chain.tokenBalance(associatedTokenAddress(mint, recipients[0] as PublicKey));
    const transaction = buildPayoutTransaction({
      authority: authority.publicKey,
      escrow,
      mint,
      decimals: DECIMALS,
      payouts,
      memo: payoutMemo(12_346, ROOT),
      recentBlockhash: (await chain.latestBlockhash()).blockhash,
      computeUnitPrice: 1n,
    });
    transaction.sign(authority);
    await chain.send(transaction);
    expect(await chain.tokenBalance(associatedTokenAddress(mint, recipients[0] as PublicKey))).toBe(
      (before ?? 0n) + 1_000n,
    );
  });

  it("refuses batches that do not fit, and non-positive payouts", () => {
    const base = {
      authority: authority.publicKey,
      escrow,
      mint,
      decimals: DECIMALS,
      memo: payoutMemo(1, ROOT),
      recentBlockhash: Keypair.generate().publicKey.toBase58(),
    };
    const tooMany = payoutsTo(Array.from({ length: 25 }, () => Keypair.generate().publicKey));
    expect(() => buildPayoutTransaction({ ...base, payouts: tooMany })).toThrow(/1232-byte limit/);
    expect(() => buildPayoutTransaction({ ...base, payouts: [] })).toThrow(RangeError);
    expect(() =>
      buildPayoutTransaction({ ...base, payouts: [{ owner: recipients[0] as PublicKey, amount: 0n }] }),
    ).toThrow(/must be positive/);
    expect(() => payoutMemo(1, "not hex")).toThrow(RangeError);
  });
});
