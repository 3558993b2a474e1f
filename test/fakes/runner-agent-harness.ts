/** Wires a RunnerAgent to a FakeTunnelGateway and a ScriptedEngine for the runner agent tests. */
import pino from "pino";
import { generateKeypair, type WalletKeypair } from "../../billing/receipts/ed25519.ts";
import { ModelCatalog } from "../../models/catalog.ts";
import { RunnerAgent, type RunnerAgentOptions } from "../../runners/agent/index.ts";
import { FakeTunnelGateway, type FakeTunnelGatewayOptions } from "./fake-tunnel-gateway.ts";
import { ScriptedEngine } from "./scripted-engine.ts";

export const TEST_NODE_TOKEN = "hn_test_token";

/** Engine names: two in the catalog (vLLM repo id, Ollama tag) and one that is not. */
export const ENGINE_MODELS = ["Qwen/Qwen2.5-7B-Instruct", "nomic-embed-text", "acme/not-in-catalog"];

export interface AgentHarness {
  gateway: FakeTunnelGateway;
  engine: ScriptedEngine;
  wallet: WalletKeypair;
  agent: RunnerAgent;
  /** Every log line the agent wrote, parsed. */
  logs: { level: number; msg: string; [field: string]: unknown }[];
  close(): Promise<void>;
}

export interface HarnessOptions {
  gateway?: FakeTunnelGatewayOptions;
  agent?: Partial<RunnerAgentOptions>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<AgentHarness> {
  const gateway = await FakeTunnelGateway.start(options.gateway);
  const engine = new ScriptedEngine({ models: ENGINE_MODELS });
  const wallet = generateKeypair();
  const logs: AgentHarness["logs"] = [];
  const logger = pino(
    { level: "debug" },
    { write: (line: string) => logs.push(JSON.parse(line) as AgentHarness["logs"][number]) },
  );
  const agent = new RunnerAgent({
    gatewayUrl: gateway.url,
    nodeToken: TEST_NODE_TOKEN,
    wallet,
    engine,
    catalog: ModelCatalog.builtIn(),
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    logger,
    ...options.agent,
  });
  const harness: AgentHarness = {
    gateway,
    engine,
    wallet,
    agent,
    logs,
    async close() {
      await agent.stop();
      // Read at close time: a test may have swapped in a restarted gateway.
      await harness.gateway.close();
    },
  };
  return harness;
}

/** Starts the harness and waits until the agent is welcomed. */
export async function startConnectedHarness(
  options: HarnessOptions = {},
): Promise<AgentHarness & { connection: Awaited<ReturnType<FakeTunnelGateway["welcomed"]>> }> {
  const harness = await startHarness(options);
  await harness.agent.start();
  const connection = await harness.gateway.welcomed(0);
  return { ...harness, connection };
}

export function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

/** Polls `check` until it returns something other than undefined (for state no frame announces). */
export async function eventually<Value>(
  check: () => Value | undefined,
  what: string,
  timeoutMs = 5_000,
): Promise<Value> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
