import { describe, expect, it } from "vitest";
import { benchmarkSettlement } from "../../billing/settlement/bench-main.ts";

describe("benchmarkSettlement", () => {
  it("times batch, proofs and plan on 1,000 records", () => {
    const result = benchmarkSettlement(1_000);
    expect(result).toMatchObject({ records: 1_000, payouts: 32 * 3 });
    expect(result.totalMs).toBeGreaterThan(0);
    expect(result.totalMs).toBeCloseTo(result.batchMs + result.proofsMs + result.planMs, 6);
  });

  it("refuses a count that is not positive", () => {
    expect(() => benchmarkSettlement(0)).toThrow(RangeError);
  });
});
