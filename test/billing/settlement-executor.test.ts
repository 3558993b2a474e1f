import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMintToCheckedInstruction } from "@solana/spl-token";
import { Keypair, LAMPORTS_PER_SOL, type PublicKey, Transaction } from "@solana/web3.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CrashPoint,
  SettlementExecutor,
  type SettlementExecutorOptions,
  SimulatedCrash,
} from "../../billing/settlement/executor.ts";
import { MemoryPayoutJournal, type PayoutJournal } from "../../billing/settlement/journal.ts";
import {
  carryKey,
  planSettlement,
  type SettlementItem,
  type SettlementPayout,
  type SettlementPlan,
} from "../../billing/settlement/plan.ts";
import { SqlitePayoutJournal } from "../../billing/settlement/sqlite-journal.ts";
import type { Chain } from "../../programs/chain.ts";
import { createEscrowAccount } from "../../programs/escrow.ts";
import { LocalChain } from "../../programs/local-chain.ts";
import { readMemo } from "../../programs/memo.ts";
import { associatedTokenAddress } from "../../programs/token-accounts.ts";

process.env.RUST_LOG = "error";

const DECIMALS = 6;
const ESCROW_DEPOSIT = 10n ** 15n;
const ROOT = "12".repeat(32);

let chain: LocalChain;
let authority: Keypair;
let mint: PublicKey;
const treasury = Keypair.generate().publicKey;
const oracle = Keypair.generate().publicKey;
const escrows = new Map<string, PublicKey>();
const directory = mkdtempSync(join(tmpdir(), "hn-settlement-"));

async function fundEscrow(intentId: string): Promise<PublicKey> {
  const { escrow } = await createEscrowAccount(chain, { authority, intentId, mint });
  // Minting into the escrow stands in for the payer's deposit: payouts only see the balance.
  const { blockhash } = await chain.latestBlockhash();
  const deposit = new Transaction({ feePayer: chain.payer.publicKey, recentBlockhash: blockhash }).add(
    createMintToCheckedInstruction(mint, escrow, chain.payer.publicKey, ESCROW_DEPOSIT, DECIMALS),
  );
  deposit.sign(chain.payer);
  await chain.send(deposit);
  escrows.set(intentId, escrow);
  return escrow;
}

beforeAll(async () => {
  chain = await LocalChain.start();
  authority = Keypair.generate();
  await chain.fundSol(authority.publicKey, 100n * BigInt(LAMPORTS_PER_SOL));
  mint = await chain.createMint(DECIMALS);
  for (const intentId of ["in_alpha", "in_beta", "in_many"]) await fundEscrow(intentId);
});

afterAll(() => rmSync(directory, { recursive: true, force: true }));

function escrowOf(intentId: string): PublicKey {
  const escrow = escrows.get(intentId);
  if (escrow === undefined) throw new Error(`no escrow for ${intentId}`);
  return escrow;
}

async function balanceOf(wallet: PublicKey): Promise<bigint> {
  return (await chain.tokenBalance(associatedTokenAddress(mint, wallet))) ?? 0n;
}

async function escrowBalance(intentId: string): Promise<bigint> {
  return (await chain.tokenBalance(escrowOf(intentId))) ?? 0n;
}

let jobCounter = 0;
/** 3 runners × 2 intents, charges picked so most splits leave a remainder. */
function itemsFor(runners: PublicKey[], base: bigint): SettlementItem[] {
  const items: SettlementItem[] = [];
  for (const intentId of ["in_alpha", "in_beta"]) {
    runners.forEach((runner, index) => {
      for (const extra of [0n, 7n]) {
        items.push({
          jobId: `job-${jobCounter++}`,
          intentId,
          escrow: escrowOf(intentId).toBase58(),
          nodeId: `node-${index}`,
          runnerWallet: runner.toBase58(),
          charge: base + BigInt(index * 1_013) + extra + (intentId === "in_beta" ? 3n : 0n),
        });
      }
    });
  }
  return items;
}

function plan(epoch: number, items: SettlementItem[], previousCarried?: Map<string, bigint>): SettlementPlan {
  return planSettlement({
    epoch,
    rootHex: ROOT,
    items,
    treasuryWallet: treasury.toBase58(),
    oracleWallet: oracle.toBase58(),
    ...(previousCarried === undefined ? {} : { previousCarried }),
  });
}

function executor(journal: PayoutJournal, paid: string[], extra: Partial<SettlementExecutorOptions> = {}) {
  return new SettlementExecutor({
    chain,
    authority,
    mint,
    journal,
    onPaid: (payout: SettlementPayout, signature: string) => {
      expect(signature.length).toBeGreaterThan(40);
      paid.push(payout.payoutId);
    },
    pollIntervalMs: 5,
    confirmTimeoutMs: 2_000,
    ...extra,
  });
}

function sumWhere(payouts: SettlementPayout[], test: (payout: SettlementPayout) => boolean): bigint {
  return payouts.filter(test).reduce((sum, payout) => sum + payout.amount, 0n);
}

/** Checks every wallet and escrow moved by exactly the plan (balances taken before it ran). */
async function expectPaidExactly(
  settled: SettlementPlan,
  runners: PublicKey[],
  before: Map<string, bigint>,
): Promise<void> {
  for (const runner of runners) {
    expect(await balanceOf(runner)).toBe(sumWhere(settled.payouts, (payout) => payout.recipient === runner.toBase58()));
  }
  for (const [name, wallet] of [
    ["treasury", treasury],
    ["oracle", oracle],
  ] as const) {
    const expected = (before.get(name) ?? 0n) + sumWhere(settled.payouts, (payout) => payout.role === name);
    expect(await balanceOf(wallet)).toBe(expected);
  }
  for (const intentId of ["in_alpha", "in_beta"]) {
    const expected = (before.get(intentId) ?? 0n) - sumWhere(settled.payouts, (payout) => payout.intentId === intentId);
    expect(await escrowBalance(intentId)).toBe(expected);
  }
}

async function snapshot(): Promise<Map<string, bigint>> {
  return new Map([
    ["treasury", await balanceOf(treasury)],
    ["oracle", await balanceOf(oracle)],
    ["in_alpha", await escrowBalance("in_alpha")],
    ["in_beta", await escrowBalance("in_beta")],
  ]);
}

describe("settling an epoch on chain", () => {
  it("pays 3 runners × 2 intents the exact split, then carries remainders into the next epoch", async () => {
    const runners = [0, 1, 2].map(() => Keypair.generate().publicKey);
    const journal = new MemoryPayoutJournal();
    const paid: string[] = [];
    const firstItems = itemsFor(runners, 1_000_001n);
    const first = plan(1, firstItems);
    expect(first.carried.size).toBeGreaterThan(0);
    const before = await snapshot();
    const report = await executor(journal, paid).execute(first);
    expect(report).toMatchObject({ confirmed: ["1:0", "1:1"], failed: [], pending: [] });
    await expectPaidExactly(first, runners, before);
    expect(paid.sort()).toEqual(first.payouts.map((payout) => payout.payoutId).sort());

    const landed = await chain.getTransaction((await journal.getBatch("1:0"))?.signature ?? "");
    expect(landed?.instructions.map(readMemo).filter(Boolean)).toEqual([`hn:1:${ROOT}`]);

    // Epoch 2 builds on the journaled remainders: across both epochs, paid + carried = charged.
    const carriedBefore = (await journal.latestEpoch())?.carried ?? new Map<string, bigint>();
    const secondItems = itemsFor(runners, 333n);
    const second = plan(2, secondItems, carriedBefore);
    const beforeSecond = await snapshot();
    await executor(journal, paid).execute(second);
    for (const intentId of ["in_alpha", "in_beta"]) {
      const paidOut = sumWhere([...first.payouts, ...second.payouts], (payout) => payout.intentId === intentId);
      let stillCarried = 0n;
      for (const runner of runners) stillCarried += second.carried.get(carryKey(intentId, runner.toBase58())) ?? 0n;
      const charged = [...firstItems, ...secondItems]
        .filter((entry) => entry.intentId === intentId)
        .reduce((sum, entry) => sum + entry.charge, 0n);
      expect(paidOut + stillCarried).toBe(charged);
      expect(await escrowBalance(intentId)).toBe(
        (beforeSecond.get(intentId) ?? 0n) - sumWhere(second.payouts, (payout) => payout.intentId === intentId),
      );
    }
  });

  it("lands 17 payouts and the memo in one legacy transaction", async () => {
    const runners = Array.from({ length: 15 }, () => Keypair.generate().publicKey);
    const items: SettlementItem[] = runners.map((runner, index) => ({
      jobId: `many-${index}`,
      intentId: "in_many",
      escrow: escrowOf("in_many").toBase58(),
      nodeId: `node-${index}`,
      runnerWallet: runner.toBase58(),
      charge: 10_000n + BigInt(index),
    }));
    // 15 runner payouts + treasury + oracle = 17 transfers from one escrow.
    const settled = plan(50, items);
    expect(settled.payouts).toHaveLength(17);
    const journal = new MemoryPayoutJournal();
    const report = await executor(journal, []).execute(settled);
    expect(report.confirmed).toEqual(["50:0"]);
    const signature = (await journal.getBatch("50:0"))?.signature ?? "";
    const record = chain.transactionRecord(signature);
    expect(record?.wire.length).toBeLessThanOrEqual(1232);
    expect(record?.error).toBeUndefined();
    for (const payout of settled.payouts.filter((entry) => entry.role === "runner")) {
      const runner = runners.find((wallet) => wallet.toBase58() === payout.recipient);
      expect(runner && (await balanceOf(runner))).toBe(payout.amount);
    }
  });
  it("marks a batch failed when its escrow cannot cover it, and reports nothing paid", async () => {
    const { escrow } = await createEscrowAccount(chain, { authority, intentId: "in_empty", mint });
    const runner = Keypair.generate().publicKey;
    const settled = plan(60, [
      {
        jobId: "empty-1",
        intentId: "in_empty",
        escrow: escrow.toBase58(),
        nodeId: "node-e",
        runnerWallet: runner.toBase58(),
        charge: 1_000n,
      },
    ]);
    const journal = new MemoryPayoutJournal();
    const paid: string[] = [];
    const report = await executor(journal, paid).execute(settled);
    expect(report.failed).toEqual(["60:0"]);
    expect(report.errors.get("60:0")).toMatch(/insufficient funds|0x1/i);
    expect(paid).toEqual([]);
    expect(await balanceOf(runner)).toBe(0n);
    // Failed is final for the executor: a restart does not retry it behind an operator's back.
    expect(await executor(journal, paid).resume()).toMatchObject({ confirmed: [], failed: [], pending: [] });
  });
});

describe("crash injection and resume", () => {
  const points: CrashPoint[] = ["plan", "sign", "send", "beforeConfirm"];

  it.each(points.map((point, index) => [point, index] as const))(
    "crash after %s, then a fresh executor resumes: every payout lands exactly once",
    async (point, index) => {
      const path = join(directory, `crash-${point}.sqlite`);
      const runners = [0, 1, 2].map(() => Keypair.generate().publicKey);
      const settled = plan(100 + index, itemsFor(runners, 2_000_003n));
      const before = await snapshot();
      const paid: string[] = [];

      const crashing = SqlitePayoutJournal.open(path);
      await expect(executor(crashing, paid, { crashAfter: point }).execute(settled)).rejects.toBeInstanceOf(
        SimulatedCrash,
      );
      crashing.close();

      const reopened = SqlitePayoutJournal.open(path);
      const report = await executor(reopened, paid).resume();
      expect(report.failed).toEqual([]);
      expect(report.pending).toEqual([]);
      await expectPaidExactly(settled, runners, before);
      expect(paid.sort()).toEqual(settled.payouts.map((payout) => payout.payoutId).sort());

      // A journaled attempt is rebroadcast as is or found landed: no batch ever needed a second signature.
      for (const batch of await reopened.batchesOfEpoch(settled.epoch)) {
        expect(batch.state).toBe("confirmed");
        expect(batch.signatures).toHaveLength(1);
      }

      // The leader re-running the same epoch after restart changes nothing.
      const again = await executor(reopened, paid).execute(settled);
      expect(again.confirmed).toEqual([]);
      await expectPaidExactly(settled, runners, before);
      expect(paid).toHaveLength(settled.payouts.length);
      reopened.close();
    },
  );

  it("re-signs only after the chain shows the blockhash expired, and pays once", async () => {
    const runners = [0, 1, 2].map(() => Keypair.generate().publicKey);
    const settled = plan(200, itemsFor(runners, 5_000_011n));
    const before = await snapshot();
    const journal = new MemoryPayoutJournal();
    const paid: string[] = [];
    await expect(executor(journal, paid, { crashAfter: "sign" }).execute(settled)).rejects.toBeInstanceOf(
      SimulatedCrash,
    );
    const stale = await journal.getBatch("200:0");
    expect(stale?.state).toBe("signed");

    // The node now reports a block height past the journaled attempt's last valid height.
    const expiredView = chainAtHeight(chain, (stale?.lastValidBlockHeight ?? 0) + 1);
    const report = await executor(journal, paid, { chain: expiredView }).resume();
    expect(report.confirmed).toEqual(["200:0", "200:1"]);
    await expectPaidExactly(settled, runners, before);
    expect(paid.sort()).toEqual(settled.payouts.map((payout) => payout.payoutId).sort());
    // The stale attempt was never broadcast: the batch was signed again and only that one landed.
    const landed = await journal.getBatch("200:0");
    expect(landed?.signatures).toEqual([stale?.signature, landed?.signature]);
    expect(landed?.signature).not.toBe(stale?.signature);
    expect(await chain.signatureStatus(stale?.signature ?? "")).toBe("unknown");
    expect((await journal.getBatch("200:1"))?.signatures).toHaveLength(1);
  });
});

/**
 * The local chain's blockhashes do not expire on their own within a test, so this view of it
 * reports a block height far ahead: what a real cluster shows once ~150 blocks have passed.
 */
function chainAtHeight(inner: LocalChain, height: number): Chain {
  return {
    latestBlockhash: () => inner.latestBlockhash(),
    send: (transaction) => inner.send(transaction),
    broadcast: (transaction) => inner.broadcast(transaction),
    signatureStatus: (signature) => inner.signatureStatus(signature),
    getTransaction: (signature) => inner.getTransaction(signature),
    tokenBalance: (account) => inner.tokenBalance(account),
    accountExists: (address) => inner.accountExists(address),
    getAccount: (address) => inner.getAccount(address),
    mintDecimals: (address) => inner.mintDecimals(address),
    blockHeight: async () => height,
    solBalance: (address) => inner.solBalance(address),
    minimumBalanceForRentExemption: (length) => inner.minimumBalanceForRentExemption(length),
  };
}
