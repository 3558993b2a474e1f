import { describe, expect, it } from "vitest";
import {
  allPassed,
  formatValue,
  headline,
  makeCheck,
  measured,
  RESULT_SCHEMA,
  renderSummaryMarkdown,
  resultFileName,
  type ScenarioResult,
  validateResult,
} from "../../loadtest/lib/results.ts";
import { buildResult, type ResultDraft, type ScenarioContext } from "../../loadtest/lib/scenario-kit.ts";
import { difference, percentile, rate, ratio, summarize } from "../../loadtest/lib/stats.ts";
import { analyseStreams } from "../../loadtest/lib/streams.ts";

const context: ScenarioContext = {
  quick: false,
  soakMinutes: 10,
  cpuProfileDir: undefined,
  resultsDir: "/nowhere",
  earlier: new Map(),
  log: () => {},
};

const environment = {
  node: "v20.0.0",
  platform: "linux x64",
  cpus: 2,
  cpuModel: "test cpu",
  totalMemoryMb: 1024,
  loadAverage1m: 0.5,
  commit: "abc1234",
};

function draft(overrides: Partial<ResultDraft> = {}): ResultDraft {
  return {
    scenario: "a",
    name: "latency",
    title: "added latency",
    startedAt: new Date("2026-01-01T00:00:00Z"),
    parameters: { pairs: 10 },
    measurements: { addedMeanMs: 0.2 },
    samples: { pairs: 10 },
    checks: [makeCheck("added latency, mean", 0.2, "<=", 0.3, "ms")],
    figures: "mean +0.200 ms",
    errors: { count: 0, examples: [] },
    notes: [],
    charts: [],
    ...overrides,
  };
}

describe("checks", () => {
  it("pass or miss by their comparator", () => {
    expect(makeCheck("x", 0.3, "<=", 0.3, "ms").passed).toBe(true);
    expect(makeCheck("x", 0.31, "<=", 0.3, "ms").passed).toBe(false);
    expect(makeCheck("x", 0.35, ">=", 0.35, "×").passed).toBe(true);
    expect(makeCheck("x", 0.2, ">=", 0.35, "×").passed).toBe(false);
  });

  it("never pass on a value that was not measured", () => {
    for (const value of [undefined, null, Number.NaN, Number.POSITIVE_INFINITY]) {
      const check = makeCheck("x", value, "<=", 5, "ms");
      expect(check.value).toBeNull();
      expect(check.passed).toBe(false);
    }
  });

  it("a scenario with no checks has not passed", () => {
    expect(allPassed([])).toBe(false);
    expect(headline("a", "t", "f", [])).toContain("FAIL");
  });

  it("measured() keeps numbers and turns the rest into null", () => {
    expect(measured(0)).toBe(0);
    expect(measured(-1.5)).toBe(-1.5);
    expect(measured(undefined)).toBeNull();
    expect(measured(Number.NaN)).toBeNull();
  });
});

describe("a scenario with zero samples reports no figure and fails", () => {
  it("latency: no samples → no added latency, a failed check, 'not measured', null in JSON", () => {
    const engine = summarize([]);
    const gateway = summarize([]);
    const added = difference(gateway?.mean, engine?.mean);
    const check = makeCheck("added latency, mean", added, "<=", 0.3, "ms");
    const result = buildResult(
      context,
      draft({
        measurements: { addedMeanMs: added, p99: percentile([], 99) },
        samples: { pairs: 0 },
        checks: [check],
        figures: `mean ${formatValue(check.value, "ms")}`,
      }),
      environment,
    );
    expect(result.passed).toBe(false);
    expect(result.measurements).toEqual({ addedMeanMs: null, p99: null });
    expect(result.figure).toContain("not measured");
    expect(result.figure).toContain("FAIL");
    const json = JSON.parse(JSON.stringify(result)) as ScenarioResult;
    expect(json.measurements.addedMeanMs).toBeNull();
    expect(json.checks[0]?.value).toBeNull();
    expect(validateResult(json)).toEqual([]);
  });

  it("throughput: nothing completed → no rate and no ratio", () => {
    expect(rate(0, 10_000)).toBeUndefined();
    expect(ratio(rate(0, 10_000), rate(100, 10_000))).toBeUndefined();
    expect(makeCheck("ratio", ratio(rate(0, 10_000), 10), ">=", 0.35, "×").passed).toBe(false);
  });

  it("streams: no streams → stalls are not measured (not 0) and the stall check fails", () => {
    const analysis = analyseStreams([], { pacingMs: 20, toleranceMs: 100 });
    expect(analysis.stalls).toBeUndefined();
    expect(analysis.gapP99Ms).toBeUndefined();
    expect(makeCheck("stalls", analysis.stalls, "<=", 0, "count").passed).toBe(false);
  });

  it("streams that failed before any chunk also leave stalls unmeasured", () => {
    const analysis = analyseStreams(
      [{ ok: false, startedAtMs: 0, error: "gateway: HTTP 503", ttftMs: undefined, arrivals: [], done: false }],
      { pacingMs: 20, toleranceMs: 100 },
    );
    expect(analysis).toMatchObject({
      streams: 1,
      completed: 0,
      failed: 1,
      stalls: undefined,
      gaps: 0,
      peakStreaming: undefined,
    });
    expect(analysis.errorExamples).toEqual(["gateway: HTTP 503"]);
  });
});

describe("analyseStreams", () => {
  it("sums stalls and gaps over streams and keeps TTFTs", () => {
    const analysis = analyseStreams(
      [
        { ok: true, startedAtMs: 0, ttftMs: 21, arrivals: [21, 21, 41, 61], done: true },
        { ok: true, startedAtMs: 50, ttftMs: 25, arrivals: [25, 45, 300, 320], done: true },
        { ok: true, startedAtMs: 1_000, ttftMs: 20, arrivals: [20, 40], done: true },
      ],
      { pacingMs: 20, toleranceMs: 100 },
    );
    expect(analysis).toMatchObject({
      streams: 3,
      completed: 3,
      failed: 0,
      gaps: 7,
      stalls: 1,
      maxGapMs: 255,
      // [21, 61] and [75, 370] do not overlap; [1020, 1040] neither.
      peakStreaming: 1,
    });
    expect(analysis.ttfts).toEqual([21, 25, 20]);
  });
});

describe("result JSON shape", () => {
  it("a built result is valid and carries every section", () => {
    const result = buildResult(context, draft(), environment);
    expect(validateResult(result)).toEqual([]);
    expect(result).toMatchObject({
      schema: RESULT_SCHEMA,
      scenario: "a",
      name: "latency",
      quick: false,
      passed: true,
      environment: { cpus: 2, commit: "abc1234" },
      measurements: { addedMeanMs: 0.2 },
      samples: { pairs: 10 },
    });
    expect(result.figure.startsWith("(a) added latency: mean +0.200 ms")).toBe(true);
    expect(resultFileName(result)).toBe("a-latency.json");
  });

  it("quick and profiled runs say so in their notes", () => {
    const result = buildResult({ ...context, quick: true, cpuProfileDir: "/tmp/p" }, draft(), environment);
    expect(result.quick).toBe(true);
    expect(result.notes.join(" ")).toContain("--quick");
    expect(result.notes.join(" ")).toContain("--cpu-prof");
  });

  it("validation finds what is wrong", () => {
    const good = buildResult(context, draft(), environment);
    expect(validateResult(null)).toEqual(["not a JSON object"]);
    expect(validateResult({ ...good, schema: "other" })).toContain(`schema: expected "${RESULT_SCHEMA}"`);
    expect(validateResult({ ...good, scenario: "z" })).toContain("scenario: expected one of a..f");
    expect(validateResult({ ...good, measurements: { x: "1" } })).toContain(
      "measurements.x: expected a finite number or null",
    );
    const unmeasuredPass = { ...good, checks: [{ ...good.checks[0], value: null, passed: true }] };
    expect(validateResult(unmeasuredPass)).toContain("checks[0]: an unmeasured value cannot pass");
    expect(validateResult({ ...good, checks: [] })).toContain(
      "passed: true although a check failed or nothing was checked",
    );
  });
});

describe("formatting", () => {
  it("formats values with units, and unmeasured ones as such", () => {
    expect(formatValue(0.25, "ms")).toBe("0.250 ms");
    expect(formatValue(0.25, "ms", true)).toBe("+0.250 ms");
    expect(formatValue(0.412, "×")).toBe("0.412×");
    expect(formatValue(3, "count")).toBe("3");
    expect(formatValue(12.34, "%")).toBe("12.3 %");
    expect(formatValue(null, "ms")).toBe("not measured");
    expect(formatValue(undefined, "MB")).toBe("not measured");
  });

  it("the summary lists every check and marks misses", () => {
    const passing = buildResult(context, draft(), environment);
    const failing = buildResult(
      context,
      draft({
        scenario: "b",
        name: "throughput",
        title: "throughput",
        checks: [makeCheck("ratio", undefined, ">=", 0.35, "×")],
      }),
      environment,
    );
    const markdown = renderSummaryMarkdown([failing, passing], "npm run bench -- --scenario a,b");
    expect(markdown).toContain("npm run bench -- --scenario a,b");
    expect(markdown.indexOf("(a) added latency")).toBeLessThan(markdown.indexOf("(b) throughput"));
    expect(markdown).toContain("| not measured | >= 0.350× | **MISSED** |");
    expect(markdown).toContain("| 0.200 ms | <= 0.300 ms | pass |");
    expect(renderSummaryMarkdown([], "x")).toContain("No scenario has been run yet.");
  });
});
