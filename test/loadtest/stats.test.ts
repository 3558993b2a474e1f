import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  detectStalls,
  difference,
  fittedGrowth,
  gapsOf,
  linearRegression,
  mean,
  peakOverlap,
  percentile,
  percentileOfSorted,
  rate,
  ratio,
  sortAscending,
  summarize,
} from "../../loadtest/lib/stats.ts";

describe("percentile", () => {
  it("is undefined for no samples, never 0", () => {
    expect(percentile([], 50)).toBeUndefined();
    expect(percentile([], 99)).toBeUndefined();
  });

  it("gives the only sample for every p when there is one", () => {
    for (const p of [0, 1, 50, 99, 100]) expect(percentile([7.5], p)).toBe(7.5);
  });

  it("gives the extremes at p0 and p100", () => {
    expect(percentile([3, 1, 2], 0)).toBe(1);
    expect(percentile([3, 1, 2], 100)).toBe(3);
  });

  it("interpolates linearly between the closest ranks", () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([10, 20], 25)).toBe(12.5);
    const hundred = Array.from({ length: 100 }, (_, index) => index + 1);
    expect(percentile(hundred, 99)).toBeCloseTo(99.01, 10);
    expect(percentile(hundred, 50)).toBe(50.5);
  });

  it("sorts numerically, not as strings", () => {
    expect(percentile([10, 9, 100, 1], 100)).toBe(100);
    expect(sortAscending([10, 9, 100, 1])).toEqual(Float64Array.from([1, 9, 10, 100]));
  });

  it("refuses p outside 0..100 and samples that are not finite", () => {
    expect(() => percentile([1], -1)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], Number.NaN)).toThrow(RangeError);
    expect(() => percentile([1, Number.NaN], 50)).toThrow(RangeError);
    expect(() => percentile([1, Number.POSITIVE_INFINITY], 50)).toThrow(RangeError);
  });

  it("stays within the samples' range and grows with p", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 200 }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        (values, p, q) => {
          const sorted = sortAscending(values);
          const low = percentileOfSorted(sorted, Math.min(p, q)) as number;
          const high = percentileOfSorted(sorted, Math.max(p, q)) as number;
          expect(low).toBeGreaterThanOrEqual(sorted[0] as number);
          expect(high).toBeLessThanOrEqual(sorted[sorted.length - 1] as number);
          expect(high).toBeGreaterThanOrEqual(low);
        },
      ),
    );
  });
});

describe("mean and summarize", () => {
  it("are undefined for no samples", () => {
    expect(mean([])).toBeUndefined();
    expect(summarize([])).toBeUndefined();
  });

  it("summarise a known set", () => {
    expect(summarize([4, 1, 3, 2])).toEqual({
      count: 4,
      mean: 2.5,
      min: 1,
      max: 4,
      p50: 2.5,
      p90: 3.7,
      p99: expect.closeTo(3.97, 10) as number,
      stddev: Math.sqrt(1.25),
    });
  });
});

describe("linearRegression", () => {
  it("needs two points with different x", () => {
    expect(linearRegression([])).toBeUndefined();
    expect(linearRegression([{ x: 1, y: 2 }])).toBeUndefined();
    expect(
      linearRegression([
        { x: 1, y: 2 },
        { x: 1, y: 3 },
      ]),
    ).toBeUndefined();
  });

  it("recovers an exact line", () => {
    const points = [0, 1, 2, 3, 4].map((x) => ({ x, y: 100 + 2.5 * x }));
    const regression = linearRegression(points);
    expect(regression?.slope).toBeCloseTo(2.5, 12);
    expect(regression?.intercept).toBeCloseTo(100, 12);
    expect(regression?.r2).toBeCloseTo(1, 12);
  });

  it("gives slope 0 and r2 1 for a flat series", () => {
    const regression = linearRegression([0, 1, 2].map((x) => ({ x, y: 50 })));
    expect(regression).toMatchObject({ slope: 0, intercept: 50, r2: 1, count: 3 });
  });

  it("fits the least-squares slope through noise", () => {
    const regression = linearRegression([
      { x: 0, y: 1 },
      { x: 1, y: 3 },
      { x: 2, y: 2 },
      { x: 3, y: 4 },
    ]);
    expect(regression?.slope).toBeCloseTo(0.8, 12);
    expect(regression?.intercept).toBeCloseTo(1.3, 12);
  });

  it("refuses points that are not finite", () => {
    expect(() =>
      linearRegression([
        { x: 0, y: 1 },
        { x: 1, y: Number.NaN },
      ]),
    ).toThrow(RangeError);
  });
});

describe("fittedGrowth", () => {
  it("is the fitted relative change over the interval", () => {
    const regression = linearRegression([0, 10].map((x) => ({ x, y: 200 + x })));
    expect(fittedGrowth(regression, 0, 10)).toBeCloseTo(0.05, 12);
  });

  it("is undefined without a regression or a positive start", () => {
    expect(fittedGrowth(undefined, 0, 10)).toBeUndefined();
    const falling = linearRegression([0, 1].map((x) => ({ x, y: -x })));
    expect(fittedGrowth(falling, 0, 1)).toBeUndefined();
  });
});

describe("detectStalls", () => {
  const options = { pacingMs: 20, toleranceMs: 100 };

  it("examines no gap with fewer than two arrivals", () => {
    expect(detectStalls([], options)).toEqual({ gaps: 0, stalls: 0, maxGapMs: undefined, stallIndices: [] });
    expect(detectStalls([5], options)).toEqual({ gaps: 0, stalls: 0, maxGapMs: undefined, stallIndices: [] });
  });

  it("counts only gaps strictly beyond pacing + tolerance", () => {
    const report = detectStalls([0, 20, 140, 261, 280, 280], options);
    expect(report.gaps).toBe(5);
    expect(report.stalls).toBe(1);
    expect(report.stallIndices).toEqual([3]);
    expect(report.maxGapMs).toBe(121);
  });

  it("takes several chunks in one read (a zero gap) as no stall", () => {
    expect(detectStalls([10, 10, 10, 30], options).stalls).toBe(0);
  });

  it("refuses arrivals going back in time and negative settings", () => {
    expect(() => detectStalls([10, 5], options)).toThrow(RangeError);
    expect(() => detectStalls([0, 1], { pacingMs: -1, toleranceMs: 0 })).toThrow(RangeError);
  });

  it("gapsOf lists consecutive differences", () => {
    expect(Array.from(gapsOf([1, 4, 4, 10]))).toEqual([3, 0, 6]);
    expect(gapsOf([]).length).toBe(0);
  });
});

describe("difference, ratio and rate never invent a figure", () => {
  it("difference needs both sides", () => {
    expect(difference(3, 1)).toBe(2);
    expect(difference(undefined, 1)).toBeUndefined();
    expect(difference(1, undefined)).toBeUndefined();
    expect(difference(Number.NaN, 1)).toBeUndefined();
  });

  it("ratio needs a positive denominator", () => {
    expect(ratio(1, 4)).toBe(0.25);
    expect(ratio(1, 0)).toBeUndefined();
    expect(ratio(undefined, 4)).toBeUndefined();
    expect(ratio(1, undefined)).toBeUndefined();
  });

  it("rate is undefined when nothing completed or nothing was timed", () => {
    expect(rate(500, 2_000)).toBe(250);
    expect(rate(0, 2_000)).toBeUndefined();
    expect(rate(10, 0)).toBeUndefined();
  });
});

describe("peakOverlap", () => {
  it("counts the most intervals open at once", () => {
    expect(peakOverlap([])).toBe(0);
    expect(
      peakOverlap([
        [0, 10],
        [5, 15],
        [9, 20],
        [16, 30],
      ]),
    ).toBe(3);
  });

  it("does not count an interval ending where the next starts", () => {
    expect(
      peakOverlap([
        [0, 10],
        [10, 20],
      ]),
    ).toBe(1);
  });

  it("refuses reversed intervals", () => {
    expect(() => peakOverlap([[5, 1]])).toThrow(RangeError);
  });
});
