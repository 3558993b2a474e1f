import { createMintToCheckedInstruction } from "@solana/spl-token";
import {
  type AddressLookupTableAccount,
  Keypair,
  LAMPORTS_PER_SOL,
  type PublicKey,
  Transaction,
  VersionedTransaction,
} from "@solana/web3.js";
import { beforeAll, describe, expect, it } from "vitest";
import { transactionSignature } from "../../programs/chain.ts";
import { createEscrowAccount } from "../../programs/escrow.ts";
import { LocalChain } from "../../programs/local-chain.ts";
import {
  ADDRESSES_PER_EXTENSION,
  createLookupTable,
  createPayoutLookupTable,
  extendLookupTable,
  extensionInstructions,
  type LookupTableActivation,
  payoutLookupTableAddresses,
  readLookupTable,
} from "../../programs/lookup-tables.ts";
import { payoutMemo, readMemo } from "../../programs/memo.ts";
import {
  buildPayoutTransaction,
  buildVersionedPayoutTransaction,
  ensureTokenAccounts,
  MAX_TRANSACTION_ACCOUNTS,
  maxPayoutsPerLegacyTransaction,
  maxPayoutsPerVersionedTransaction,
  type Payout,
  payoutComputeUnitLimit,
} from "../../programs/payouts.ts";
import { associatedTokenAddress } from "../../programs/token-accounts.ts";
import { legacyTransactionSize, PACKET_DATA_SIZE } from "../../programs/transaction-message.ts";

process.env.RUST_LOG = "error";

const DECIMALS = 6;
const ROOT = "cd".repeat(32);
/** The longest memo settlement writes (a u64::MAX epoch): capacity is measured with it. */
const LONGEST_EPOCH = 2n ** 64n - 1n;
const COUNT = maxPayoutsPerVersionedTransaction();

let chain: LocalChain;
let activation: LookupTableActivation;
let authority: Keypair;
let mint: PublicKey;
let escrow: PublicKey;
const recipients = Array.from({ length: COUNT }, () => Keypair.generate().publicKey);

beforeAll(async () => {
  chain = await LocalChain.start();
  // bankrun never advances slots on its own: tables activate by warping one slot ahead.
  activation = { clock: chain, warp: chain.context };
  authority = Keypair.generate();
  await chain.fundSol(authority.publicKey, 10n * BigInt(LAMPORTS_PER_SOL));
  mint = await chain.createMint(DECIMALS);
  escrow = (await createEscrowAccount(chain, { authority, intentId: "intent_payouts_v0", mint })).escrow;
  const { blockhash } = await chain.latestBlockhash();
  const deposit = new Transaction({ feePayer: chain.payer.publicKey, recentBlockhash: blockhash }).add(
    createMintToCheckedInstruction(mint, escrow, chain.payer.publicKey, 1_000_000_000n, DECIMALS),
  );
  deposit.sign(chain.payer);
  await chain.send(deposit);
  await ensureTokenAccounts(chain, authority, mint, recipients);
});

function payoutsTo(owners: PublicKey[]): Payout[] {
  return owners.map((owner, index) => ({ owner, amount: BigInt(100 * (index + 1)) }));
}

async function balances(owners: PublicKey[]): Promise<bigint[]> {
  return Promise.all(
    owners.map(async (owner) => (await chain.tokenBalance(associatedTokenAddress(mint, owner))) ?? 0n),
  );
}

describe("v0 payout capacity", () => {
  it("fits at least 40 payouts and the longest memo, bounded by size or account locks", () => {
    expect(COUNT).toBeGreaterThanOrEqual(40);
    expect(COUNT).toBeLessThanOrEqual(MAX_TRANSACTION_ACCOUNTS);
    expect(maxPayoutsPerVersionedTransaction({ computeUnitPrice: true })).toBeGreaterThanOrEqual(40);
    expect(maxPayoutsPerLegacyTransaction()).toBe(17);
  });

  it("keeps every table extension transaction under the packet limit", () => {
    const addresses = Array.from({ length: ADDRESSES_PER_EXTENSION }, () => Keypair.generate().publicKey);
    const [extension] = extensionInstructions(Keypair.generate().publicKey, authority.publicKey, addresses);
    expect(extension).toBeDefined();
    if (extension === undefined) return;
    expect(legacyTransactionSize([extension], authority.publicKey)).toBeLessThanOrEqual(PACKET_DATA_SIZE);
  });
});

describe("paying many runners in one v0 transaction", () => {
  let table: AddressLookupTableAccount;

  it("creates and extends a lookup table with every account a batch needs", async () => {
    const slotBefore = await chain.slot();
    const created = await createPayoutLookupTable(chain, authority, { mint, escrow, owners: recipients }, activation);
    table = created.table;
    // COUNT token accounts + escrow + mint + token program, in ceil(n / 28) instructions.
    const expected = payoutLookupTableAddresses(mint, escrow, recipients);
    expect(table.state.addresses.map(String)).toEqual(expected.map(String));
    expect(created.signatures).toHaveLength(Math.ceil(expected.length / ADDRESSES_PER_EXTENSION));
    expect(table.state.authority?.equals(authority.publicKey)).toBe(true);
    expect(await chain.slot()).toBeGreaterThan(table.state.lastExtendedSlot);
    expect(await chain.slot()).toBeGreaterThan(slotBefore);
  });

  it(`lands ${COUNT} payouts and the memo in ONE transaction`, async () => {
    const payouts = payoutsTo(recipients);
    const before = await balances(recipients);
    const escrowBefore = (await chain.tokenBalance(escrow)) ?? 0n;
    const memo = payoutMemo(LONGEST_EPOCH, ROOT);
    const transaction = buildVersionedPayoutTransaction({
      authority: authority.publicKey,
      escrow,
      mint,
      decimals: DECIMALS,
      payouts,
      memo,
      recentBlockhash: (await chain.latestBlockhash()).blockhash,
      lookupTable: await readLookupTable(chain, table.key),
    });
    transaction.sign([authority]);
    const wire = transaction.serialize();
    expect(wire.length).toBeLessThanOrEqual(PACKET_DATA_SIZE);
    expect(transaction.message.version).toBe(0);

    const signature = await chain.send(VersionedTransaction.deserialize(wire));
    expect(signature).toBe(transactionSignature(transaction));

    const after = await balances(recipients);
    for (const [index, payout] of payouts.entries()) expect(after[index]).toBe((before[index] ?? 0n) + payout.amount);
    const total = payouts.reduce((sum, payout) => sum + payout.amount, 0n);
    expect(await chain.tokenBalance(escrow)).toBe(escrowBefore - total);

    const landed = await chain.getTransaction(signature);
    expect(landed?.version).toBe(0);
    // Compute-unit limit, COUNT transfers, memo.
    expect(landed?.instructions).toHaveLength(COUNT + 2);
    expect(landed?.instructions.map(readMemo).filter(Boolean)).toEqual([memo]);
    const consumed = chain.transactionRecord(signature)?.computeUnitsConsumed ?? 0n;
    expect(consumed).toBeGreaterThan(0n);
    expect(consumed).toBeLessThanOrEqual(BigInt(payoutComputeUnitLimit(COUNT)));
  });

  it("still lands 17 payouts in a legacy transaction", async () => {
    const owners = recipients.slice(0, 17);
    const payouts = payoutsTo(owners);
    const before = await balances(owners);
    const { blockhash, lastValidBlockHeight } = await chain.latestBlockhash();
    const transaction = buildPayoutTransaction({
      authority: authority.publicKey,
      escrow,
      mint,
      decimals: DECIMALS,
      payouts,
      memo: payoutMemo(78n, ROOT),
      recentBlockhash: blockhash,
      lastValidBlockHeight,
    });
    transaction.sign(authority);
    expect(transaction.serialize().length).toBeLessThanOrEqual(PACKET_DATA_SIZE);
    await chain.send(transaction);
    const after = await balances(owners);
    for (const [index, payout] of payouts.entries()) expect(after[index]).toBe((before[index] ?? 0n) + payout.amount);
  });

  it("refuses a table that lacks an address the batch needs, naming it", async () => {
    const stranger = Keypair.generate().publicKey;
    await ensureTokenAccounts(chain, authority, mint, [stranger]);
    const options = {
      authority: authority.publicKey,
      escrow,
      mint,
      decimals: DECIMALS,
      payouts: payoutsTo([...recipients.slice(0, 3), stranger]),
      memo: payoutMemo(79n, ROOT),
      recentBlockhash: (await chain.latestBlockhash()).blockhash,
      lookupTable: table,
    };
    const missing = associatedTokenAddress(mint, stranger).toBase58();
    expect(() => buildVersionedPayoutTransaction(options)).toThrow(
      new RegExp(`missing the token account of ${stranger.toBase58()} \\(${missing}\\)`),
    );

    // Extending the table fixes it: the same batch then lands.
    const extended = await extendLookupTable(
      chain,
      authority,
      table.key,
      [associatedTokenAddress(mint, stranger)],
      activation,
    );
    expect(extended.signatures).toHaveLength(1);
    const transaction = buildVersionedPayoutTransaction({ ...options, lookupTable: extended.table });
    transaction.sign([authority]);
    await chain.send(transaction);
    expect(await chain.tokenBalance(associatedTokenAddress(mint, stranger))).toBe(400n);
  });

  it("refuses too many payouts for one transaction, and a table address that is not a table", async () => {
    const many = Array.from({ length: COUNT + 1 }, () => Keypair.generate().publicKey);
    const created = await createLookupTable(
      chain,
      authority,
      payoutLookupTableAddresses(mint, escrow, many),
      activation,
    );
    const { blockhash } = await chain.latestBlockhash();
    expect(() =>
      buildVersionedPayoutTransaction({
        authority: authority.publicKey,
        escrow,
        mint,
        decimals: DECIMALS,
        payouts: payoutsTo(many),
        memo: payoutMemo(LONGEST_EPOCH, ROOT),
        recentBlockhash: blockhash,
        lookupTable: created.table,
      }),
    ).toThrow(/maxPayoutsPerVersionedTransaction/);
    await expect(readLookupTable(chain, escrow)).rejects.toThrow(/not an address lookup table/);
    await expect(readLookupTable(chain, Keypair.generate().publicKey)).rejects.toThrow(/does not exist/);
  });
});
