/**
 * (a) Added latency at concurrency 1, non-streaming: the same request to the engine directly and
 * through gateway + runner, alternating which goes first in each pair (ABBA) so that drift and
 * order effects cancel. Added = gateway statistic − engine statistic.
 */
import { chatBody, closedLoop, createTarget, emptyRun, type LoadRun, record, timedPost } from "../lib/load.ts";
import { makeCheck } from "../lib/results.ts";
import { buildResult, environment, pick, type Scenario } from "../lib/scenario-kit.ts";
import { CHAT_MODEL, startGatewayStack, startSimulator } from "../lib/stack.ts";
import { difference, percentile, summarize } from "../lib/stats.ts";

const MAX_TOKENS = 16;
const PATH = "/v1/chat/completions";
const TARGET_MEAN_MS = 0.3;
const TARGET_P99_MS = 1.5;

export const addedLatency: Scenario = async (context) => {
  const startedAt = new Date();
  const env = environment();
  const pairs = pick(context, 4_000, 300);
  const warmupMs = pick(context, 3_000, 1_000);
  const simulator = await startSimulator({ ttftMs: 0, tokenLatencyMs: 0 });
  const stack = await startGatewayStack({
    engineUrl: simulator.url,
    maxConcurrentJobs: 64,
    cpuProfileDir: context.cpuProfileDir,
  });
  const engine = createTarget("engine", simulator.url, 1);
  const gateway = createTarget("gateway", stack.gateway.url, 1, stack.apiKey);
  const body = chatBody({ model: CHAT_MODEL, maxTokens: MAX_TOKENS, stream: false });
  const direct: LoadRun = emptyRun();
  const through: LoadRun = emptyRun();
  const pairedDifferences: number[] = [];
  try {
    context.log(`(a) warming up both paths for ${warmupMs} ms each`);
    await closedLoop({
      concurrency: 1,
      durationMs: warmupMs,
      once: () => timedPost(engine, PATH, body, "finish_reason"),
    });
    await closedLoop({
      concurrency: 1,
      durationMs: warmupMs,
      once: () => timedPost(gateway, PATH, body, "finish_reason"),
    });
    context.log(`(a) measuring ${pairs} alternating pairs`);
    const deadline = performance.now() + pick(context, 180_000, 30_000);
    for (let index = 0; index < pairs && performance.now() < deadline; index++) {
      const engineFirst = index % 4 === 0 || index % 4 === 3;
      const first = await timedPost(engineFirst ? engine : gateway, PATH, body, "finish_reason");
      const second = await timedPost(engineFirst ? gateway : engine, PATH, body, "finish_reason");
      const [engineOutcome, gatewayOutcome] = engineFirst ? [first, second] : [second, first];
      record(direct, engineOutcome);
      record(through, gatewayOutcome);
      if (engineOutcome.ok && gatewayOutcome.ok) pairedDifferences.push(gatewayOutcome.ms - engineOutcome.ms);
    }
  } finally {
    await Promise.all([engine.pool.close(), gateway.pool.close()]);
    await stack.stop();
    await simulator.service.stop();
  }

  const engineStats = summarize(direct.latencies);
  const gatewayStats = summarize(through.latencies);
  const addedMean = difference(gatewayStats?.mean, engineStats?.mean);
  const addedP50 = difference(gatewayStats?.p50, engineStats?.p50);
  const addedP99 = difference(gatewayStats?.p99, engineStats?.p99);
  const errors = direct.failed + through.failed;
  const checks = [
    makeCheck("added latency, mean", addedMean, "<=", TARGET_MEAN_MS, "ms"),
    makeCheck("added latency, p99", addedP99, "<=", TARGET_P99_MS, "ms"),
    makeCheck("failed requests", direct.completed + through.completed > 0 ? errors : undefined, "<=", 0, "count"),
  ];
  const show = (value: number | undefined) =>
    value === undefined ? "not measured" : `${value >= 0 ? "+" : ""}${value.toFixed(3)} ms`;
  return buildResult(
    context,
    {
      scenario: "a",
      name: "latency",
      title: "added latency at concurrency 1 (non-stream)",
      startedAt,
      parameters: { pairs, maxTokens: MAX_TOKENS, engineTtftMs: 0, engineTokenLatencyMs: 0, warmupMs, order: "ABBA" },
      measurements: {
        engineMeanMs: engineStats?.mean,
        engineP50Ms: engineStats?.p50,
        engineP99Ms: engineStats?.p99,
        gatewayMeanMs: gatewayStats?.mean,
        gatewayP50Ms: gatewayStats?.p50,
        gatewayP99Ms: gatewayStats?.p99,
        addedMeanMs: addedMean,
        addedP50Ms: addedP50,
        addedP99Ms: addedP99,
        pairedDifferenceP50Ms: percentile(pairedDifferences, 50),
        failedRequests: direct.completed + through.completed > 0 ? errors : undefined,
      },
      samples: { engine: direct.completed, gateway: through.completed, pairs: pairedDifferences.length },
      checks,
      figures: `mean ${show(addedMean)}, p50 ${show(addedP50)}, p99 ${show(addedP99)} added (engine alone: mean ${engineStats ? engineStats.mean.toFixed(3) : "not measured"} ms)`,
      errors: { count: errors, examples: [...direct.errorExamples, ...through.errorExamples].slice(0, 5) },
      notes: [
        `${MAX_TOKENS}-token answers (ignore_eos) from the simulator at 0 ms to first token and 0 ms per token; keep-alive, one connection per path.`,
        "Added = gateway statistic − engine statistic over the same alternating (ABBA) pairs.",
      ],
      charts: [
        {
          kind: "bars",
          title: "(a) latency at concurrency 1",
          unit: "ms",
          bars: [
            { label: "engine mean", value: engineStats?.mean ?? null, group: "direct" },
            { label: "gateway mean", value: gatewayStats?.mean ?? null, group: "gateway" },
            { label: "engine p99", value: engineStats?.p99 ?? null, group: "direct" },
            { label: "gateway p99", value: gatewayStats?.p99 ?? null, group: "gateway" },
          ],
        },
      ],
    },
    env,
  );
};
