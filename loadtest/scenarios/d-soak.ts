/**
 * (d) Soak: N minutes (default 10) of non-streaming requests through gateway + runner at half of
 * (b)'s gateway throughput, at a fixed arrival rate. The gateway's RSS is sampled throughout;
 * after a warm-up, a least-squares line through the samples gives the slope and the growth over
 * the soak. Every failed request counts.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { chatBody, closedLoop, createTarget, openLoop, timedPost } from "../lib/load.ts";
import { readRssBytes } from "../lib/processes.ts";
import { makeCheck, type ScenarioResult, validateResult } from "../lib/results.ts";
import { buildResult, environment, pick, type Scenario, type ScenarioContext } from "../lib/scenario-kit.ts";
import { CHAT_MODEL, startGatewayStack, startSimulator } from "../lib/stack.ts";
import { fittedGrowth, linearRegression, type Point, rate, summarize } from "../lib/stats.ts";
import { CONNECTIONS } from "./b-throughput.ts";

const MAX_TOKENS = 16;
const PATH = "/v1/chat/completions";
const TARGET_GROWTH_PERCENT = 10;
/** Outstanding requests (in flight + queued for a connection) beyond which an arrival is dropped. */
const MAX_PENDING = 1_000;
const MB = 2 ** 20;

/** (b)'s gateway req/s: from this run, else from (b)'s result file (a full run first), else undefined. */
function throughputFromB(context: ScenarioContext): { value: number; source: string } | undefined {
  const fromRun = context.earlier.get("b")?.measurements.gatewayRequestsPerSecond;
  if (typeof fromRun === "number") return { value: fromRun, source: "scenario (b) of this run" };
  try {
    const parsed: unknown = JSON.parse(readFileSync(join(context.resultsDir, "b-throughput.json"), "utf8"));
    if (validateResult(parsed).length > 0) return undefined;
    const result = parsed as ScenarioResult;
    const value = result.measurements.gatewayRequestsPerSecond;
    if (typeof value === "number" && (!result.quick || context.quick))
      return { value, source: `b-throughput.json of ${result.startedAt}` };
  } catch {
    // No earlier (b): measured below.
  }
  return undefined;
}

export const soak: Scenario = async (context) => {
  const startedAt = new Date();
  const env = environment();
  const durationMs = pick(context, context.soakMinutes * 60_000, Math.min(context.soakMinutes * 60_000, 20_000));
  const warmupMs = Math.min(60_000, Math.max(5_000, durationMs * 0.1));
  const sampleEveryMs = pick(context, 2_000, 500);
  const simulator = await startSimulator({ ttftMs: 0, tokenLatencyMs: 0 });
  const stack = await startGatewayStack({
    engineUrl: simulator.url,
    maxConcurrentJobs: CONNECTIONS * 2,
    cpuProfileDir: context.cpuProfileDir,
  });
  const gateway = createTarget("gateway", stack.gateway.url, CONNECTIONS, stack.apiKey);
  const body = chatBody({ model: CHAT_MODEL, maxTokens: MAX_TOKENS, stream: false });
  const once = () => timedPost(gateway, PATH, body, "finish_reason");
  const pid = stack.gateway.service.pid;
  const series: Array<[number, number]> = [];
  let source = "none";
  let ratePerSecond: number | undefined;
  let run: Awaited<ReturnType<typeof openLoop>> | undefined;
  try {
    const known = throughputFromB(context);
    if (known) {
      ratePerSecond = known.value / 2;
      source = known.source;
    } else {
      context.log("(d) no (b) figure to start from: measuring the gateway's throughput for 5 s");
      const probe = await closedLoop({ concurrency: CONNECTIONS, durationMs: 5_000, once });
      const measuredRate = rate(probe.completed, probe.elapsedMs);
      ratePerSecond = measuredRate === undefined ? undefined : measuredRate / 2;
      source = "a 5 s probe at 50 connections before the soak";
    }
    if (ratePerSecond !== undefined) {
      context.log(
        `(d) soaking for ${(durationMs / 60_000).toFixed(2)} min at ${ratePerSecond.toFixed(0)} req/s (half of ${source})`,
      );
      const started = performance.now();
      let nextSample = 0;
      run = await openLoop({
        ratePerSecond,
        durationMs,
        maxPending: MAX_PENDING,
        once,
        onTick: (elapsed) => {
          if (elapsed < nextSample) return;
          nextSample = elapsed + sampleEveryMs;
          const bytes = readRssBytes(pid);
          if (bytes !== undefined) series.push([(performance.now() - started) / 60_000, bytes / MB]);
        },
      });
    }
  } finally {
    await gateway.pool.close();
    await stack.stop();
    await simulator.service.stop();
  }

  const warmupMinutes = warmupMs / 60_000;
  const steady: Point[] = series.filter(([minute]) => minute >= warmupMinutes).map(([x, y]) => ({ x, y }));
  const regression = linearRegression(steady);
  const firstSteady = steady[0];
  const lastSteady = steady[steady.length - 1];
  const growth = firstSteady && lastSteady ? fittedGrowth(regression, firstSteady.x, lastSteady.x) : undefined;
  const growthPercent = growth === undefined ? undefined : growth * 100;
  const rawGrowthPercent =
    firstSteady && lastSteady && steady.length >= 2 && firstSteady.y > 0
      ? ((lastSteady.y - firstSteady.y) / firstSteady.y) * 100
      : undefined;
  const latency = summarize(run?.latencies ?? []);
  const errors = run?.failed;
  const achieved = run ? rate(run.completed, run.elapsedMs) : undefined;
  const checks = [
    makeCheck("RSS growth over the soak (fitted)", growthPercent, "<=", TARGET_GROWTH_PERCENT, "%"),
    makeCheck("failed requests", run && run.completed + run.failed > 0 ? errors : undefined, "<=", 0, "count"),
  ];
  const show = (value: number | undefined, digits: number, unit: string) =>
    value === undefined ? "not measured" : `${value.toFixed(digits)} ${unit}`;
  return buildResult(
    context,
    {
      scenario: "d",
      name: "soak",
      title: "soak at half of (b)'s throughput",
      startedAt,
      parameters: {
        minutes: durationMs / 60_000,
        warmupMinutes,
        targetRequestsPerSecond: ratePerSecond ?? "not measured",
        rateSource: source,
        connections: CONNECTIONS,
        maxPending: MAX_PENDING,
        maxTokens: MAX_TOKENS,
        sampleEveryMs,
      },
      measurements: {
        achievedRequestsPerSecond: achieved,
        rssStartMb: firstSteady?.y,
        rssEndMb: lastSteady?.y,
        rssSlopeMbPerMinute: regression?.slope,
        rssGrowthPercent: growthPercent,
        rssRawGrowthPercent: rawGrowthPercent,
        regressionR2: regression?.r2,
        failedRequests: errors,
        latencyP50Ms: latency?.p50,
        latencyP99Ms: latency?.p99,
      },
      samples: { requests: run?.completed ?? 0, rssSamples: steady.length },
      checks,
      figures: `RSS growth ${show(growthPercent, 1, "%")} (slope ${show(regression?.slope, 2, "MB/min")}, ${show(firstSteady?.y, 1, "MB")} → ${show(lastSteady?.y, 1, "MB")}), ${errors ?? "not measured"} errors at ${show(achieved, 0, "req/s")}`,
      errors: { count: errors ?? 0, examples: run?.errorExamples ?? [] },
      notes: [
        `Open loop at a fixed arrival rate over ${CONNECTIONS} keep-alive connections; an arrival finding ${MAX_PENDING} requests outstanding is dropped and counts as an error; ${MAX_TOKENS}-token answers at 0 ms/token.`,
        `RSS of the gateway process sampled every ${sampleEveryMs} ms; the first ${warmupMinutes.toFixed(2)} min are warm-up and left out of the fit.`,
      ],
      charts: [
        { kind: "line", title: "(d) gateway RSS during the soak", unit: "MB", xUnit: "minutes", points: series },
      ],
    },
    env,
  );
};
