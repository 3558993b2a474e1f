import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  carryKey,
  parseCarryKey,
  payoutsByIntent,
  planSettlement,
  type SettlementItem,
  type SettlementPlan,
} from "../../billing/settlement/plan.ts";

const ROOT = "cd".repeat(32);
const TREASURY = "Treasury1111111111111111111111111111111111";
const ORACLE = "Oracle111111111111111111111111111111111111";

function item(jobId: string, intentId: string, runner: string, charge: bigint): SettlementItem {
  return { jobId, intentId, escrow: `escrow-${intentId}`, nodeId: `node-${runner}`, runnerWallet: runner, charge };
}

describe("planSettlement", () => {
  it("sums per (intent, runner), splits 80/10/10 and carries the floors' remainder", () => {
    const plan = planSettlement({
      epoch: 7,
      rootHex: ROOT,
      treasuryWallet: TREASURY,
      oracleWallet: ORACLE,
      items: [
        item("a", "in_1", "runnerA", 10_000n),
        item("b", "in_1", "runnerA", 9n),
        item("c", "in_1", "runnerB", 3n),
      ],
    });
    const amounts = plan.payouts.map((payout) => [payout.role, payout.recipient, payout.amount]);
    // runnerA: 10,009 → 8,007 / 1,000 / 1,000, remainder 2; runnerB: 3 → 2 / 0 / 0, remainder 1.
    expect(amounts).toEqual([
      ["runner", "runnerA", 8_007n],
      ["runner", "runnerB", 2n],
      ["treasury", TREASURY, 1_000n],
      ["oracle", ORACLE, 1_000n],
    ]);
    expect(plan.carried).toEqual(
      new Map([
        [carryKey("in_1", "runnerA"), 2n],
        [carryKey("in_1", "runnerB"), 1n],
      ]),
    );
    expect(plan.payouts.every((payout) => payout.escrow === "escrow-in_1" && payout.epoch === 7)).toBe(true);
    expect(new Set(plan.payouts.map((payout) => payout.payoutId)).size).toBe(plan.payouts.length);
    expect(plan.payouts[0]?.nodeIds).toEqual(["node-runnerA"]);
  });

  it("adds last epoch's remainder to the same key and keeps untouched keys waiting", () => {
    const previousCarried = new Map([
      [carryKey("in_1", "runnerA"), 2n],
      [carryKey("in_2", "runnerC"), 1n],
    ]);
    const plan = planSettlement({
      epoch: 8,
      rootHex: ROOT,
      treasuryWallet: TREASURY,
      oracleWallet: ORACLE,
      previousCarried,
      items: [item("d", "in_1", "runnerA", 8n)],
    });
    // 8 + 2 carried = 10 → 8 / 1 / 1, nothing left over.
    expect(plan.payouts.map((payout) => payout.amount)).toEqual([8n, 1n, 1n]);
    expect(plan.carried).toEqual(new Map([[carryKey("in_2", "runnerC"), 1n]]));
  });

  it("honours a configured split and refuses one that does not sum to 10,000", () => {
    const base = { epoch: 1, rootHex: ROOT, treasuryWallet: TREASURY, oracleWallet: ORACLE };
    const plan = planSettlement({
      ...base,
      split: { runner: 9000, treasury: 1000, oracle: 0 },
      items: [item("a", "in_1", "r", 100n)],
    });
    expect(plan.payouts.map((payout) => [payout.role, payout.amount])).toEqual([
      ["runner", 90n],
      ["treasury", 10n],
    ]);
    expect(() => planSettlement({ ...base, split: { runner: 8000, treasury: 1000, oracle: 999 }, items: [] })).toThrow(
      /10000/,
    );
  });

  it("refuses replayed jobs, an intent with two escrows, bad roots and negative charges", () => {
    const base = { epoch: 1, rootHex: ROOT, treasuryWallet: TREASURY, oracleWallet: ORACLE };
    expect(() => planSettlement({ ...base, items: [item("a", "in_1", "r", 1n), item("a", "in_1", "r", 1n)] })).toThrow(
      /twice/,
    );
    expect(() =>
      planSettlement({ ...base, items: [item("a", "in_1", "r", 1n), { ...item("b", "in_1", "r", 1n), escrow: "x" }] }),
    ).toThrow(/two escrows/);
    expect(() => planSettlement({ ...base, rootHex: "zz", items: [] })).toThrow(/hex/);
    expect(() => planSettlement({ ...base, items: [item("a", "in_1", "r", -1n)] })).toThrow(/negative/);
  });

  it("round-trips carry keys", () => {
    expect(parseCarryKey(carryKey("in_abc", "Wallet111"))).toEqual({ intentId: "in_abc", runnerWallet: "Wallet111" });
    expect(() => parseCarryKey("nospace")).toThrow(RangeError);
  });
});

const itemArbitrary = fc.record({
  intent: fc.constantFrom("in_1", "in_2", "in_3"),
  runner: fc.constantFrom("runnerA", "runnerB", "runnerC", "runnerD"),
  charge: fc.bigInt({ min: 0n, max: 10n ** 15n }),
});

const splitArbitrary = fc
  .tuple(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 10_000 }))
  .map(([first, second]) => {
    const [low, high] = first <= second ? [first, second] : [second, first];
    return { runner: low, treasury: high - low, oracle: 10_000 - high };
  });

function carriedOfIntent(carried: ReadonlyMap<string, bigint>, intentId: string): bigint {
  let sum = 0n;
  for (const [key, amount] of carried) if (parseCarryKey(key).intentId === intentId) sum += amount;
  return sum;
}

describe("plan invariant (property)", () => {
  it("per intent and epoch: payouts + carried after − carried before = charges, to the base unit", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(itemArbitrary, { maxLength: 30 }), { minLength: 1, maxLength: 4 }),
        splitArbitrary,
        (epochs, split) => {
          let previous: ReadonlyMap<string, bigint> = new Map();
          let job = 0;
          let totalCharges = 0n;
          let totalPaid = 0n;
          for (const [epoch, epochItems] of epochs.entries()) {
            const items = epochItems.map((entry) => item(`job-${job++}`, entry.intent, entry.runner, entry.charge));
            const plan: SettlementPlan = planSettlement({
              epoch,
              rootHex: ROOT,
              treasuryWallet: TREASURY,
              oracleWallet: ORACLE,
              split,
              items,
              previousCarried: previous,
            });
            const paid = payoutsByIntent(plan.payouts);
            for (const intentId of ["in_1", "in_2", "in_3"]) {
              const charges = items
                .filter((entry) => entry.intentId === intentId)
                .reduce((sum, entry) => sum + entry.charge, 0n);
              const delta = carriedOfIntent(plan.carried, intentId) - carriedOfIntent(previous, intentId);
              expect((paid.get(intentId) ?? 0n) + delta).toBe(charges);
            }
            for (const payout of plan.payouts) expect(payout.amount).toBeGreaterThan(0n);
            // Three floors leave at most two units behind per key.
            for (const amount of plan.carried.values()) expect(amount).toBeLessThanOrEqual(2n);
            totalCharges += items.reduce((sum, entry) => sum + entry.charge, 0n);
            totalPaid += plan.payouts.reduce((sum, payout) => sum + payout.amount, 0n);
            previous = plan.carried;
          }
          const stillCarried = [...previous.values()].reduce((sum, amount) => sum + amount, 0n);
          expect(totalPaid + stillCarried).toBe(totalCharges);
        },
      ),
      { numRuns: 300 },
    );
  });
});
