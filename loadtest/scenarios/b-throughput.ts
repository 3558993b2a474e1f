/**
 * (b) Maximum throughput at 50 keep-alive connections, non-streaming: the engine alone, then the
 * same load through gateway + runner, in alternating segments. The figure is the ratio of the
 * gateway's completed requests per second to the engine's.
 */
import { alternateClosedLoops } from "../lib/alternating.ts";
import { chatBody, createTarget, timedPost } from "../lib/load.ts";
import { makeCheck } from "../lib/results.ts";
import { buildResult, environment, pick, type Scenario } from "../lib/scenario-kit.ts";
import { CHAT_MODEL, startGatewayStack, startSimulator } from "../lib/stack.ts";
import { rate, ratio, summarize } from "../lib/stats.ts";

export const CONNECTIONS = 50;
const MAX_TOKENS = 16;
const PATH = "/v1/chat/completions";
const TARGET_RATIO = 0.35;

export const throughput: Scenario = async (context) => {
  const startedAt = new Date();
  const env = environment();
  const plan = {
    concurrency: CONNECTIONS,
    warmupMs: pick(context, 3_000, 1_000),
    segmentMs: pick(context, 6_000, 2_000),
    rounds: pick(context, 4, 2),
  };
  const simulator = await startSimulator({ ttftMs: 0, tokenLatencyMs: 0 });
  const stack = await startGatewayStack({
    engineUrl: simulator.url,
    maxConcurrentJobs: CONNECTIONS * 2,
    cpuProfileDir: context.cpuProfileDir,
  });
  const engine = createTarget("engine", simulator.url, CONNECTIONS);
  const gateway = createTarget("gateway", stack.gateway.url, CONNECTIONS, stack.apiKey);
  const body = chatBody({ model: CHAT_MODEL, maxTokens: MAX_TOKENS, stream: false });
  let runs: Awaited<ReturnType<typeof alternateClosedLoops>>;
  try {
    context.log(`(b) ${plan.rounds} rounds of ${plan.segmentMs} ms per path at ${CONNECTIONS} connections`);
    runs = await alternateClosedLoops(
      plan,
      { label: "engine", once: () => timedPost(engine, PATH, body, "finish_reason") },
      { label: "gateway", once: () => timedPost(gateway, PATH, body, "finish_reason") },
      context.log,
    );
  } finally {
    await Promise.all([engine.pool.close(), gateway.pool.close()]);
    await stack.stop();
    await simulator.service.stop();
  }
  const [direct, through] = runs;
  const engineRate = rate(direct.completed, direct.elapsedMs);
  const gatewayRate = rate(through.completed, through.elapsedMs);
  const throughputRatio = ratio(gatewayRate, engineRate);
  const engineLatency = summarize(direct.latencies);
  const gatewayLatency = summarize(through.latencies);
  const errors = direct.failed + through.failed;
  const anything = direct.completed + through.completed > 0;
  const checks = [
    makeCheck("gateway / engine throughput", throughputRatio, ">=", TARGET_RATIO, "×"),
    makeCheck("failed requests", anything ? errors : undefined, "<=", 0, "count"),
  ];
  const show = (value: number | undefined, digits: number) =>
    value === undefined ? "not measured" : value.toFixed(digits);
  return buildResult(
    context,
    {
      scenario: "b",
      name: "throughput",
      title: "max throughput at 50 connections (non-stream)",
      startedAt,
      parameters: {
        connections: CONNECTIONS,
        maxTokens: MAX_TOKENS,
        ...plan,
        engineTtftMs: 0,
        engineTokenLatencyMs: 0,
      },
      measurements: {
        engineRequestsPerSecond: engineRate,
        gatewayRequestsPerSecond: gatewayRate,
        ratio: throughputRatio,
        engineP50Ms: engineLatency?.p50,
        engineP99Ms: engineLatency?.p99,
        gatewayP50Ms: gatewayLatency?.p50,
        gatewayP99Ms: gatewayLatency?.p99,
        failedRequests: anything ? errors : undefined,
      },
      samples: { engine: direct.completed, gateway: through.completed },
      checks,
      figures: `${show(throughputRatio, 3)}× the engine (gateway ${show(gatewayRate, 0)} req/s, engine ${show(engineRate, 0)} req/s)`,
      errors: { count: errors, examples: [...direct.errorExamples, ...through.errorExamples].slice(0, 5) },
      notes: [
        `${MAX_TOKENS}-token answers from the simulator at 0 ms/token; ${CONNECTIONS} keep-alive connections per path, closed loop; the load generator shares the machine's cores with every process under test.`,
      ],
      charts: [
        {
          kind: "bars",
          title: "(b) throughput at 50 connections",
          unit: "req/s",
          bars: [
            { label: "engine", value: engineRate ?? null, group: "direct" },
            { label: "gateway", value: gatewayRate ?? null, group: "gateway" },
          ],
          ...(engineRate === undefined ? {} : { target: engineRate * TARGET_RATIO }),
        },
      ],
    },
    env,
  );
};
