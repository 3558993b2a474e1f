/**
 * (c) 1,000 concurrent SSE streams at 20 ms per token, 256 tokens each: first to the engine
 * alone, then through gateway + runner, each started evenly over a ramp so that the streams
 * overlap fully. Stalls are inter-chunk gaps longer than the engine's pacing + 100 ms; added
 * TTFT is the gateway's TTFT percentile − the engine's; the gateway's RSS is read from
 * /proc/<pid>/status while its streams run.
 */
import { chatBody, createTarget, timedStream } from "../lib/load.ts";
import { readRssBytes } from "../lib/processes.ts";
import { makeCheck } from "../lib/results.ts";
import { buildResult, environment, pick, type Scenario, watchClientEventLoop } from "../lib/scenario-kit.ts";
import { CHAT_MODEL, startGatewayStack, startSimulator } from "../lib/stack.ts";
import { difference, percentile } from "../lib/stats.ts";
import { analyseStreams, runStreams, type StreamRun } from "../lib/streams.ts";

const PATH = "/v1/chat/completions";
const TOKEN_LATENCY_MS = 20;
const TTFT_MS = 20;
const STALL_TOLERANCE_MS = 100;
const TARGET_ADDED_TTFT_P99_MS = 5;
const TARGET_RSS_MB = 300;
const MB = 2 ** 20;
const HEADERS_TIMEOUT_MS = 90_000;

export const concurrentStreams: Scenario = async (context) => {
  const startedAt = new Date();
  const env = environment();
  const streams = pick(context, 1_000, 100);
  const tokens = pick(context, 256, 64);
  const rampMs = pick(context, 2_000, 500);
  const deadlineMs = pick(context, 180_000, 60_000);
  const simulator = await startSimulator({ ttftMs: TTFT_MS, tokenLatencyMs: TOKEN_LATENCY_MS });
  const stack = await startGatewayStack({
    engineUrl: simulator.url,
    maxConcurrentJobs: streams + 100,
    cpuProfileDir: context.cpuProfileDir,
  });
  // Above the gateway's own first-token timeout (60 s), so that its answer, not ours, ends a wait.
  const engine = createTarget("engine", simulator.url, streams, undefined, HEADERS_TIMEOUT_MS);
  const gateway = createTarget("gateway", stack.gateway.url, streams, stack.apiKey, HEADERS_TIMEOUT_MS);
  const body = chatBody({ model: CHAT_MODEL, maxTokens: tokens, stream: true });
  const pid = stack.gateway.service.pid;
  const rssSeries: Array<[number, number]> = [];
  let rssBeforeMb: number | undefined;
  let rssPeakMb: number | undefined;
  let direct: StreamRun;
  let through: StreamRun;
  let clientLoop: { p99Ms: number | undefined; maxMs: number | undefined };
  try {
    const warmBody = chatBody({ model: CHAT_MODEL, maxTokens: 8, stream: true });
    for (const target of [engine, gateway])
      await Promise.all(Array.from({ length: 20 }, () => timedStream(target, PATH, warmBody, 8)));
    const rssBefore = readRssBytes(pid);
    rssBeforeMb = rssBefore === undefined ? undefined : rssBefore / MB;
    const loop = watchClientEventLoop();
    context.log(`(c) ${streams} streams of ${tokens} tokens to the engine, ramped over ${rampMs} ms`);
    direct = await runStreams({
      target: engine,
      path: PATH,
      body,
      count: streams,
      rampMs,
      expectedChunks: tokens,
      deadlineMs,
    });
    context.log(`(c) the same through the gateway`);
    const runStarted = performance.now();
    const sampler = setInterval(() => {
      const bytes = readRssBytes(pid);
      if (bytes === undefined) return;
      rssSeries.push([(performance.now() - runStarted) / 1000, bytes / MB]);
      rssPeakMb = Math.max(rssPeakMb ?? 0, bytes / MB);
    }, 250);
    try {
      through = await runStreams({
        target: gateway,
        path: PATH,
        body,
        count: streams,
        rampMs,
        expectedChunks: tokens,
        deadlineMs,
      });
    } finally {
      clearInterval(sampler);
    }
    clientLoop = loop.stop();
  } finally {
    await Promise.all([engine.pool.close(), gateway.pool.close()]);
    await stack.stop();
    await simulator.service.stop();
  }

  const stallOptions = { pacingMs: TOKEN_LATENCY_MS, toleranceMs: STALL_TOLERANCE_MS };
  const engineAnalysis = analyseStreams(direct.outcomes, stallOptions);
  const gatewayAnalysis = analyseStreams(through.outcomes, stallOptions);
  const engineTtftP50 = percentile(engineAnalysis.ttfts, 50);
  const engineTtftP99 = percentile(engineAnalysis.ttfts, 99);
  const gatewayTtftP50 = percentile(gatewayAnalysis.ttfts, 50);
  const gatewayTtftP99 = percentile(gatewayAnalysis.ttfts, 99);
  const addedP50 = difference(gatewayTtftP50, engineTtftP50);
  const addedP99 = difference(gatewayTtftP99, engineTtftP99);
  const failed = engineAnalysis.failed + gatewayAnalysis.failed;
  const checks = [
    makeCheck("stalls through the gateway", gatewayAnalysis.stalls, "<=", 0, "count"),
    makeCheck("added TTFT, p99", addedP99, "<=", TARGET_ADDED_TTFT_P99_MS, "ms"),
    makeCheck("gateway RSS, peak", rssPeakMb, "<=", TARGET_RSS_MB, "MB"),
    makeCheck("failed streams", failed, "<=", 0, "count"),
    makeCheck("streams receiving chunks at once (gateway)", gatewayAnalysis.peakStreaming, ">=", streams, "count"),
  ];
  const ms = (value: number | undefined) =>
    value === undefined ? "not measured" : `${value >= 0 ? "+" : ""}${value.toFixed(2)} ms`;
  return buildResult(
    context,
    {
      scenario: "c",
      name: "streams",
      title: "1,000 concurrent SSE streams at 20 ms/token",
      startedAt,
      parameters: {
        streams,
        tokensPerStream: tokens,
        rampMs,
        engineTtftMs: TTFT_MS,
        engineTokenLatencyMs: TOKEN_LATENCY_MS,
        stallThresholdMs: TOKEN_LATENCY_MS + STALL_TOLERANCE_MS,
      },
      measurements: {
        gatewayStalls: gatewayAnalysis.stalls,
        engineStalls: engineAnalysis.stalls,
        engineTtftP50Ms: engineTtftP50,
        engineTtftP99Ms: engineTtftP99,
        gatewayTtftP50Ms: gatewayTtftP50,
        gatewayTtftP99Ms: gatewayTtftP99,
        addedTtftP50Ms: addedP50,
        addedTtftP99Ms: addedP99,
        engineGapP99Ms: engineAnalysis.gapP99Ms,
        gatewayGapP99Ms: gatewayAnalysis.gapP99Ms,
        engineMaxGapMs: engineAnalysis.maxGapMs,
        gatewayMaxGapMs: gatewayAnalysis.maxGapMs,
        gatewayRssBeforeMb: rssBeforeMb,
        gatewayRssPeakMb: rssPeakMb,
        enginePeakRequestsInFlight: direct.peakInFlight,
        gatewayPeakRequestsInFlight: through.peakInFlight,
        enginePeakStreaming: engineAnalysis.peakStreaming,
        gatewayPeakStreaming: gatewayAnalysis.peakStreaming,
        engineRunSeconds: direct.elapsedMs / 1000,
        gatewayRunSeconds: through.elapsedMs / 1000,
        clientEventLoopDelayP99Ms: clientLoop.p99Ms,
        clientEventLoopDelayMaxMs: clientLoop.maxMs,
      },
      samples: {
        engineStreams: engineAnalysis.completed,
        gatewayStreams: gatewayAnalysis.completed,
        engineGaps: engineAnalysis.gaps,
        gatewayGaps: gatewayAnalysis.gaps,
        rssSamples: rssSeries.length,
      },
      checks,
      figures: `${gatewayAnalysis.stalls ?? "not measured"} stalls (engine alone: ${engineAnalysis.stalls ?? "not measured"}), added TTFT p50 ${ms(addedP50)} / p99 ${ms(addedP99)}, gateway RSS peak ${rssPeakMb === undefined ? "not measured" : `${rssPeakMb.toFixed(1)} MB`}`,
      errors: {
        count: failed,
        examples: [...gatewayAnalysis.errorExamples, ...engineAnalysis.errorExamples].slice(0, 5),
      },
      notes: [
        `Simulator with ${TTFT_MS} ms to first token, ${TOKEN_LATENCY_MS} ms per token and no batching slowdown, so its pacing is exact; a stall is a gap > ${TOKEN_LATENCY_MS + STALL_TOLERANCE_MS} ms between two chunks of one stream.`,
        `Streams start evenly over ${rampMs} ms (each lasts ≥ ${((TTFT_MS + tokens * TOKEN_LATENCY_MS) / 1000).toFixed(1)} s, so all overlap); engine run first, then the gateway run; one keep-alive connection per stream.`,
        "The load generator, simulator, runner and gateway share the machine's cores: the client's own event-loop delay is recorded (clientEventLoopDelay*) to tell client-side delays from the gateway's.",
      ],
      charts: [
        {
          kind: "bars",
          title: "(c) time to first token, 1,000 streams",
          unit: "ms",
          bars: [
            { label: "engine p50", value: engineTtftP50 ?? null, group: "direct" },
            { label: "gateway p50", value: gatewayTtftP50 ?? null, group: "gateway" },
            { label: "engine p99", value: engineTtftP99 ?? null, group: "direct" },
            { label: "gateway p99", value: gatewayTtftP99 ?? null, group: "gateway" },
          ],
        },
        { kind: "line", title: "(c) gateway RSS during the streams", unit: "MB", xUnit: "seconds", points: rssSeries },
      ],
    },
    env,
  );
};
