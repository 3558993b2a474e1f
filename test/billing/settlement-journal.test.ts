import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { batchPlan } from "../../billing/settlement/executor.ts";
import { JournalTransitionError, MemoryPayoutJournal, type PayoutJournal } from "../../billing/settlement/journal.ts";
import { carryKey, planSettlement } from "../../billing/settlement/plan.ts";
import { SqlitePayoutJournal } from "../../billing/settlement/sqlite-journal.ts";

const directory = mkdtempSync(join(tmpdir(), "hn-journal-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const ROOT = "ef".repeat(32);

function samplePlan(epoch: number) {
  return planSettlement({
    epoch,
    rootHex: ROOT,
    treasuryWallet: "Treasury",
    oracleWallet: "Oracle",
    // 2^60 base units: beyond what a JSON number could hold exactly.
    items: [
      { jobId: "a", intentId: "in_1", escrow: "E1", nodeId: "n1", runnerWallet: "R1", charge: 2n ** 60n + 3n },
      { jobId: "b", intentId: "in_2", escrow: "E2", nodeId: "n2", runnerWallet: "R2", charge: 7n },
    ],
  });
}

const journals: [string, () => PayoutJournal][] = [
  ["memory", () => new MemoryPayoutJournal()],
  ["sqlite", () => SqlitePayoutJournal.open(":memory:")],
];

describe.each(journals)("%s payout journal", (_name, open) => {
  it("records an epoch once, with exact amounts and carried remainders", async () => {
    const journal = open();
    const plan = samplePlan(3);
    const batches = batchPlan(plan, 2, 1);
    expect(batches.map((batch) => [batch.batchId, batch.escrow, batch.payouts.length])).toEqual([
      ["3:0", "E1", 2],
      ["3:1", "E1", 1],
      ["3:2", "E2", 1],
    ]);
    expect(await journal.recordEpoch({ epoch: 3, rootHex: ROOT, carried: plan.carried }, batches)).toBe(true);
    expect(await journal.recordEpoch({ epoch: 3, rootHex: ROOT, carried: new Map() }, [])).toBe(false);
    expect((await journal.latestEpoch())?.carried).toEqual(plan.carried);
    // 7 → 5 / 0 / 0: the two zero shares are dropped and 2 units wait for the next epoch.
    expect(plan.carried.get(carryKey("in_2", "R2"))).toBe(2n);
    const stored = await journal.batchesOfEpoch(3);
    expect(stored.flatMap((batch) => batch.payouts)).toEqual(plan.payouts);
    expect((await journal.unfinishedBatches()).map((batch) => batch.batchId)).toEqual(["3:0", "3:1", "3:2"]);
  });

  it("walks planned → signed → sent → confirmed, and refuses skipping or re-signing a live attempt", async () => {
    const journal = open();
    const plan = samplePlan(4);
    await journal.recordEpoch({ epoch: 4, rootHex: ROOT, carried: plan.carried }, batchPlan(plan, 17, 1));
    const attempt = { signature: "sig1", signedTransaction: Uint8Array.from([1, 2, 3]), lastValidBlockHeight: 150 };
    await expect(journal.markSent("4:0")).rejects.toBeInstanceOf(JournalTransitionError);
    await journal.markSigned("4:0", attempt);
    await expect(journal.markSigned("4:0", { ...attempt, signature: "sig2" })).rejects.toBeInstanceOf(
      JournalTransitionError,
    );
    await journal.markSent("4:0");
    await journal.markExpired("4:0");
    await journal.markSigned("4:0", { ...attempt, signature: "sig2", lastValidBlockHeight: 300 });
    await journal.markConfirmed("4:0", "sig2");
    const batch = await journal.getBatch("4:0");
    expect(batch?.state).toBe("confirmed");
    expect(batch?.signatures).toEqual(["sig1", "sig2"]);
    expect(batch?.signedTransaction).toEqual(Uint8Array.from([1, 2, 3]));
    expect(batch?.lastValidBlockHeight).toBe(300);
    // Confirmed but not yet reported to onPaid: still unfinished until every payout is notified.
    expect((await journal.unfinishedBatches()).map((entry) => entry.batchId)).toContain("4:0");
    for (const payout of batch?.payouts ?? []) await journal.markNotified("4:0", payout.payoutId);
    await journal.markNotified("4:0", batch?.payouts[0]?.payoutId ?? "");
    expect((await journal.getBatch("4:0"))?.notified).toHaveLength(batch?.payouts.length ?? -1);
    expect((await journal.unfinishedBatches()).map((entry) => entry.batchId)).not.toContain("4:0");
  });

  it("keeps failed batches out of the unfinished list", async () => {
    const journal = open();
    const plan = samplePlan(5);
    await journal.recordEpoch({ epoch: 5, rootHex: ROOT, carried: plan.carried }, batchPlan(plan, 17, 1));
    await journal.markSigned("5:0", { signature: "s", signedTransaction: new Uint8Array(1), lastValidBlockHeight: 1 });
    await journal.markFailed("5:0", "s", "insufficient funds");
    expect((await journal.getBatch("5:0"))?.error).toBe("insufficient funds");
    expect((await journal.unfinishedBatches()).map((batch) => batch.batchId)).toEqual(["5:1"]);
  });
});

describe("sqlite payout journal on disk", () => {
  it("survives closing and reopening the file", async () => {
    const path = join(directory, "journal.sqlite");
    const first = SqlitePayoutJournal.open(path);
    const plan = samplePlan(9);
    await first.recordEpoch({ epoch: 9, rootHex: ROOT, carried: plan.carried }, batchPlan(plan, 17, 1));
    await first.markSigned("9:0", {
      signature: "s9",
      signedTransaction: Uint8Array.from([9]),
      lastValidBlockHeight: 5,
    });
    first.close();
    const second = SqlitePayoutJournal.open(path);
    const batch = await second.getBatch("9:0");
    expect(batch?.state).toBe("signed");
    expect(batch?.signature).toBe("s9");
    expect(batch?.payouts).toEqual(plan.payouts.filter((payout) => payout.escrow === "E1"));
    expect((await second.getEpoch(9))?.carried).toEqual(plan.carried);
    second.close();
  });
});
