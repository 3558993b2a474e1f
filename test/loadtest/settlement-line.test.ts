import { describe, expect, it } from "vitest";
import { makeCheck } from "../../loadtest/lib/results.ts";
import { parseSettlementLine } from "../../loadtest/lib/settlement-line.ts";

const good = { records: 100_000, batchMs: 2_400.5, proofsMs: 300.25, planMs: 280.125, totalMs: 2_980.875, payouts: 96 };

describe("parseSettlementLine", () => {
  it("reads the figures line, also after other output", () => {
    expect(parseSettlementLine(`${JSON.stringify(good)}\n`, 100_000)).toEqual(good);
    expect(parseSettlementLine(`compiling…\n{"note":1}\n  ${JSON.stringify(good)}  \n\n`, 100_000)).toEqual(good);
  });

  it("keeps only the known fields", () => {
    expect(parseSettlementLine(JSON.stringify({ ...good, extra: "x" }), 100_000)).toEqual(good);
  });

  it.each([
    ["no output", ""],
    ["only a newline", "\n"],
    ["an error message", "settlement bench: proof of record 7 does not verify\n"],
    ["a truncated line", JSON.stringify(good).slice(0, 40)],
    ["not an object", "[1,2,3]"],
    ["null", "null"],
    ["a missing total", JSON.stringify({ ...good, totalMs: undefined })],
    ["a total as a string", JSON.stringify({ ...good, totalMs: "2980" })],
    ["a zero total", JSON.stringify({ ...good, totalMs: 0 })],
    ["a negative step", JSON.stringify({ ...good, planMs: -1 })],
    ["a null step", JSON.stringify({ ...good, batchMs: null })],
    ["another record count", JSON.stringify({ ...good, records: 10_000 })],
    ["no payouts", JSON.stringify({ ...good, payouts: 0 })],
    ["fractional payouts", JSON.stringify({ ...good, payouts: 1.5 })],
  ])("%s is not measured", (_, stdout) => {
    expect(parseSettlementLine(stdout, 100_000)).toBeUndefined();
  });

  it("a missing line makes the check fail as not measured, never a 0 figure", () => {
    const check = makeCheck("total", parseSettlementLine("garbage", 100_000)?.totalMs, "<=", 5_000, "ms");
    expect(check).toMatchObject({ value: null, passed: false });
  });
});
