/**
 * (e) What billing costs: two gateways in front of the same engine, one started with
 * HYPERNODE_BILLING=on and one with =off, each with its own runner, driven at 50 connections in
 * alternating segments. Cost = 1 − (on / off). A probe first checks whether the gateway reads
 * HYPERNODE_BILLING at all; when it does not, both runs are the same gateway and the figure is
 * only run-to-run noise, which the result says.
 */
import { alternateClosedLoops } from "../lib/alternating.ts";
import { chatBody, createTarget, timedPost } from "../lib/load.ts";
import { makeCheck } from "../lib/results.ts";
import { buildResult, environment, pick, type Scenario } from "../lib/scenario-kit.ts";
import { CHAT_MODEL, type GatewayStack, probeBillingSwitch, startGatewayStack, startSimulator } from "../lib/stack.ts";
import { rate, ratio } from "../lib/stats.ts";
import { CONNECTIONS } from "./b-throughput.ts";

const MAX_TOKENS = 16;
const PATH = "/v1/chat/completions";
const TARGET_COST_PERCENT = 15;

export const billingCost: Scenario = async (context) => {
  const startedAt = new Date();
  const env = environment();
  const plan = {
    concurrency: CONNECTIONS,
    warmupMs: pick(context, 3_000, 1_000),
    segmentMs: pick(context, 6_000, 2_000),
    rounds: pick(context, 4, 2),
  };
  context.log("(e) probing whether the gateway reads HYPERNODE_BILLING");
  const billingSwitch = await probeBillingSwitch();
  const simulator = await startSimulator({ ttftMs: 0, tokenLatencyMs: 0 });
  const stacks: GatewayStack[] = [];
  let runs: Awaited<ReturnType<typeof alternateClosedLoops>>;
  const targets: ReturnType<typeof createTarget>[] = [];
  try {
    const on = await startGatewayStack({
      engineUrl: simulator.url,
      maxConcurrentJobs: CONNECTIONS * 2,
      env: { HYPERNODE_BILLING: "on" },
      cpuProfileDir: context.cpuProfileDir,
    });
    stacks.push(on);
    const off = await startGatewayStack({
      engineUrl: simulator.url,
      maxConcurrentJobs: CONNECTIONS * 2,
      env: { HYPERNODE_BILLING: "off" },
      cpuProfileDir: context.cpuProfileDir,
    });
    stacks.push(off);
    const billed = createTarget("gateway", on.gateway.url, CONNECTIONS, on.apiKey);
    const unbilled = createTarget("gateway", off.gateway.url, CONNECTIONS, off.apiKey);
    targets.push(billed, unbilled);
    const body = chatBody({ model: CHAT_MODEL, maxTokens: MAX_TOKENS, stream: false });
    context.log(`(e) ${plan.rounds} rounds of ${plan.segmentMs} ms per gateway at ${CONNECTIONS} connections`);
    runs = await alternateClosedLoops(
      plan,
      { label: "billing on", once: () => timedPost(billed, PATH, body, "finish_reason") },
      { label: "billing off", once: () => timedPost(unbilled, PATH, body, "finish_reason") },
      context.log,
    );
  } finally {
    await Promise.all(targets.map((target) => target.pool.close()));
    for (const stack of stacks) await stack.stop();
    await simulator.service.stop();
  }
  const [billedRun, unbilledRun] = runs;
  const onRate = rate(billedRun.completed, billedRun.elapsedMs);
  const offRate = rate(unbilledRun.completed, unbilledRun.elapsedMs);
  const onOverOff = ratio(onRate, offRate);
  const costPercent = onOverOff === undefined ? undefined : (1 - onOverOff) * 100;
  const errors = billedRun.failed + unbilledRun.failed;
  const anything = billedRun.completed + unbilledRun.completed > 0;
  const checks = [
    makeCheck("throughput lost to billing", costPercent, "<=", TARGET_COST_PERCENT, "%"),
    makeCheck("failed requests", anything ? errors : undefined, "<=", 0, "count"),
  ];
  const notes = [
    `Both gateways run at once in front of one simulator (0 ms/token, ${MAX_TOKENS}-token answers); segments alternate between them.`,
  ];
  if (billingSwitch === "ignored")
    notes.push(
      "HYPERNODE_BILLING is not read by this gateway yet (it starts with an invalid value): both runs are identical, so this figure is run-to-run noise, not the cost of billing.",
    );
  else if (billingSwitch === "unknown")
    notes.push(
      "Could not tell whether the gateway reads HYPERNODE_BILLING (the probe gateway neither served nor named the variable).",
    );
  const show = (value: number | undefined, digits: number) =>
    value === undefined ? "not measured" : value.toFixed(digits);
  return buildResult(
    context,
    {
      scenario: "e",
      name: "billing",
      title: "billing on vs off",
      startedAt,
      parameters: { connections: CONNECTIONS, maxTokens: MAX_TOKENS, ...plan, billingSwitch },
      measurements: {
        billingOnRequestsPerSecond: onRate,
        billingOffRequestsPerSecond: offRate,
        onOverOffRatio: onOverOff,
        costPercent,
        failedRequests: anything ? errors : undefined,
      },
      samples: { billingOn: billedRun.completed, billingOff: unbilledRun.completed },
      checks,
      figures: `billing costs ${show(costPercent, 1)} % (on ${show(onRate, 0)} req/s, off ${show(offRate, 0)} req/s, ratio ${show(onOverOff, 3)})${billingSwitch === "ignored" ? " [HYPERNODE_BILLING not read yet: both runs identical]" : ""}`,
      errors: { count: errors, examples: [...billedRun.errorExamples, ...unbilledRun.errorExamples].slice(0, 5) },
      notes,
      charts: [
        {
          kind: "bars",
          title: "(e) billing on vs off",
          unit: "req/s",
          bars: [
            { label: "billing off", value: offRate ?? null, group: "direct" },
            { label: "billing on", value: onRate ?? null, group: "gateway" },
          ],
          ...(offRate === undefined ? {} : { target: offRate * (1 - TARGET_COST_PERCENT / 100) }),
        },
      ],
    },
    env,
  );
};
