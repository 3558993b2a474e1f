import { createMintToCheckedInstruction } from "@solana/spl-token";
import { Keypair, LAMPORTS_PER_SOL, PublicKey, Transaction } from "@solana/web3.js";
import { beforeAll, describe, expect, it } from "vitest";
import { SettlementExecutor, SimulatedCrash } from "../../billing/settlement/executor.ts";
import { MemoryPayoutJournal } from "../../billing/settlement/journal.ts";
import { planSettlement, type SettlementItem } from "../../billing/settlement/plan.ts";
import { createEscrowAccount } from "../../programs/escrow.ts";
import { LocalChain } from "../../programs/local-chain.ts";
import { payoutMemo, readMemo } from "../../programs/memo.ts";
import { maxPayoutsPerVersionedTransaction } from "../../programs/payouts.ts";
import { associatedTokenAddress } from "../../programs/token-accounts.ts";

process.env.RUST_LOG = "error";

const DECIMALS = 6;
const ROOT = "ef".repeat(32);

let chain: LocalChain;
let authority: Keypair;
let mint: PublicKey;
let escrow: PublicKey;

beforeAll(async () => {
  chain = await LocalChain.start();
  authority = Keypair.generate();
  await chain.fundSol(authority.publicKey, 100n * BigInt(LAMPORTS_PER_SOL));
  mint = await chain.createMint(DECIMALS);
  escrow = (await createEscrowAccount(chain, { authority, intentId: "in_wide", mint })).escrow;
  const { blockhash } = await chain.latestBlockhash();
  const deposit = new Transaction({ feePayer: chain.payer.publicKey, recentBlockhash: blockhash }).add(
    createMintToCheckedInstruction(mint, escrow, chain.payer.publicKey, 10n ** 15n, DECIMALS),
  );
  deposit.sign(chain.payer);
  await chain.send(deposit);
});

function wideEpoch(epoch: number, runnerCount: number) {
  const runners = Array.from({ length: runnerCount }, () => Keypair.generate().publicKey);
  const items: SettlementItem[] = runners.map((runner, index) => ({
    jobId: `wide-${epoch}-${index}`,
    intentId: "in_wide",
    escrow: escrow.toBase58(),
    nodeId: `node-${index}`,
    runnerWallet: runner.toBase58(),
    charge: 10_000n + BigInt(index),
  }));
  const plan = planSettlement({
    epoch,
    rootHex: ROOT,
    items,
    treasuryWallet: Keypair.generate().publicKey.toBase58(),
    oracleWallet: Keypair.generate().publicKey.toBase58(),
  });
  return { runners, plan };
}

describe("settlement with v0 transactions and lookup tables", () => {
  it("pays 40 runners, the treasury and the oracle from one escrow in ONE transaction", async () => {
    const { plan } = wideEpoch(90, 40);
    expect(plan.payouts).toHaveLength(42);
    const journal = new MemoryPayoutJournal();
    const paid: string[] = [];
    const executor = new SettlementExecutor({
      chain,
      authority,
      mint,
      journal,
      onPaid: (payout) => {
        paid.push(payout.payoutId);
      },
      lookupTables: { clock: chain, warp: chain.context },
      pollIntervalMs: 5,
      confirmTimeoutMs: 2_000,
    });
    const report = await executor.execute(plan);
    expect(report.confirmed).toEqual(["90:0"]);
    expect(paid).toHaveLength(42);

    const signature = (await journal.getBatch("90:0"))?.signature ?? "";
    const landed = await chain.getTransaction(signature);
    expect(landed?.version).toBe(0);
    expect(landed?.failed).toBe(false);
    expect(landed?.instructions.map(readMemo).filter(Boolean)).toEqual([payoutMemo(90, ROOT)]);
    for (const payout of plan.payouts) {
      const balance = await chain.tokenBalance(associatedTokenAddress(mint, new PublicKey(payout.recipient)));
      expect(balance).toBe(payout.amount);
    }
  });

  it("survives a crash after signing a v0 batch: the journaled bytes land once", async () => {
    const { plan } = wideEpoch(91, maxPayoutsPerVersionedTransaction() - 2);
    const journal = new MemoryPayoutJournal();
    const options = {
      chain,
      authority,
      mint,
      journal,
      onPaid: () => undefined,
      lookupTables: { clock: chain, warp: chain.context },
      pollIntervalMs: 5,
      confirmTimeoutMs: 2_000,
    };
    const escrowBefore = (await chain.tokenBalance(escrow)) ?? 0n;
    await expect(new SettlementExecutor({ ...options, crashAfter: "sign" }).execute(plan)).rejects.toThrow(
      SimulatedCrash,
    );
    const report = await new SettlementExecutor(options).resume();
    expect(report.confirmed).toEqual(["91:0"]);
    const total = plan.payouts.reduce((sum, payout) => sum + payout.amount, 0n);
    expect(await chain.tokenBalance(escrow)).toBe(escrowBefore - total);
  });
});
