/**
 * Starts the pieces a scenario needs as processes, the way an operator would: the engine
 * simulator (`hypernode sim`), the gateway (`hypernode gateway`) and a runner (`hypernode
 * runner --engine sim`) dialing it. Nothing is imported from the gateway: readiness is read over
 * HTTP (`/readyz`, then the model in `/v1/models`).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { request } from "undici";
import { freePort, Service } from "./processes.ts";

export const CHAT_MODEL = "qwen2.5-7b-instruct";
export const EMBEDDING_MODEL = "nomic-embed-text";
const BOOT_TIMEOUT_MS = 60_000;

export interface SimulatorSettings {
  ttftMs: number;
  tokenLatencyMs: number;
}

export interface Simulator {
  url: string;
  service: Service;
}

export async function startSimulator(settings: SimulatorSettings): Promise<Simulator> {
  const service = new Service({
    name: `simulator (${settings.tokenLatencyMs} ms/token)`,
    args: [
      "sim",
      "--port",
      "0",
      "--ttft-ms",
      String(settings.ttftMs),
      "--token-latency-ms",
      String(settings.tokenLatencyMs),
      // Exact pacing: with batching slowdown the engine itself would slow with concurrency,
      // and a stall could not be told from the engine's own pace.
      "--batching-slowdown",
      "0",
    ],
  });
  const line = await service.waitForLine((text) => text.includes('"event":"listening"'), BOOT_TIMEOUT_MS);
  const parsed = JSON.parse(line) as { url?: unknown };
  if (typeof parsed.url !== "string") throw new Error(`simulator printed no url: ${line}`);
  return { url: parsed.url, service };
}

export interface GatewaySettings {
  apiKey: string;
  nodeToken: string;
  /** Extra environment (HYPERNODE_BILLING=on|off). */
  env?: Record<string, string>;
  /** Directory for `node --cpu-prof`; no profiling when absent. */
  cpuProfileDir?: string;
  dataDir: string;
}

export interface Gateway {
  url: string;
  service: Service;
}

export async function startGateway(settings: GatewaySettings): Promise<Gateway> {
  const port = await freePort();
  const service = new Service({
    name: "gateway",
    args: ["gateway"],
    nodeFlags: settings.cpuProfileDir ? ["--cpu-prof", "--cpu-prof-dir", settings.cpuProfileDir] : [],
    env: {
      PORT: String(port),
      HYPERNODE_HOST: "127.0.0.1",
      HYPERNODE_NODE_TOKEN: settings.nodeToken,
      HYPERNODE_DEMO_KEY: settings.apiKey,
      HYPERNODE_DATA_DIR: settings.dataDir,
      LOG_LEVEL: "warn",
      // Serving is measured here; settlement rounds have their own scenario (f).
      HYPERNODE_SETTLEMENT_INTERVAL_MS: "0",
      ...settings.env,
    },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(service, async () => (await status(`${url}/healthz`)) === 200, "gateway /healthz");
  return { url, service };
}

export interface RunnerSettings {
  gatewayUrl: string;
  engineUrl: string;
  nodeToken: string;
  walletDir: string;
  maxConcurrentJobs: number;
}

export function startRunner(settings: RunnerSettings): Service {
  return new Service({
    name: "runner",
    args: [
      "runner",
      "--engine",
      "sim",
      "--engine-url",
      settings.engineUrl,
      "--gateway",
      settings.gatewayUrl,
      "--wallet-keypair",
      join(settings.walletDir, "wallet.json"),
      "--generate-wallet",
      "--max-concurrent-jobs",
      String(settings.maxConcurrentJobs),
    ],
    env: { HN_NODE_TOKEN: settings.nodeToken, LOG_LEVEL: "warn" },
  });
}

/** A gateway with one runner in front of an engine, ready to serve the chat model. */
export interface GatewayStack {
  gateway: Gateway;
  runner: Service;
  apiKey: string;
  stop(): Promise<void>;
}

export async function startGatewayStack(options: {
  engineUrl: string;
  maxConcurrentJobs: number;
  env?: Record<string, string>;
  cpuProfileDir?: string;
}): Promise<GatewayStack> {
  const apiKey = `sk-bench-${randomBytes(12).toString("hex")}`;
  const nodeToken = `hn_${randomBytes(18).toString("hex")}`;
  const scratch = mkdtempSync(join(tmpdir(), "hn-bench-"));
  const gateway = await startGateway({
    apiKey,
    nodeToken,
    env: options.env,
    cpuProfileDir: options.cpuProfileDir,
    dataDir: join(scratch, "data"),
  });
  const runner = startRunner({
    gatewayUrl: gateway.url,
    engineUrl: options.engineUrl,
    nodeToken,
    walletDir: scratch,
    maxConcurrentJobs: options.maxConcurrentJobs,
  });
  const stop = async () => {
    await runner.stop();
    await gateway.service.stop();
    rmSync(scratch, { recursive: true, force: true });
  };
  try {
    await waitFor(runner, async () => (await status(`${gateway.url}/readyz`)) === 200, "gateway /readyz");
    await waitFor(runner, () => modelListed(gateway.url, apiKey, CHAT_MODEL), `${CHAT_MODEL} in /v1/models`);
  } catch (error) {
    await stop();
    throw error;
  }
  return { gateway, runner, apiKey, stop };
}

async function status(url: string, headers: Record<string, string> = {}): Promise<number | undefined> {
  try {
    const response = await request(url, { headers, headersTimeout: 2_000, bodyTimeout: 2_000 });
    await response.body.dump();
    return response.statusCode;
  } catch {
    return undefined;
  }
}

async function modelListed(url: string, apiKey: string, model: string): Promise<boolean> {
  try {
    const response = await request(`${url}/v1/models`, {
      headers: { authorization: `Bearer ${apiKey}` },
      headersTimeout: 2_000,
      bodyTimeout: 2_000,
    });
    const text = await response.body.text();
    return response.statusCode === 200 && text.includes(`"${model}"`);
  } catch {
    return false;
  }
}

/** Polls until the probe holds; fails early when the watched process exits. */
async function waitFor(watched: Service, probe: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = performance.now() + BOOT_TIMEOUT_MS;
  while (performance.now() < deadline) {
    if (!watched.running)
      throw new Error(`${watched.name} exited while waiting for ${what}\n${watched.recentOutput()}`);
    if (await probe()) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${BOOT_TIMEOUT_MS} ms waiting for ${what}\n${watched.recentOutput()}`);
}

/**
 * Whether the gateway reads HYPERNODE_BILLING: configuration is validated at boot and a bad
 * value stops the process naming the variable (DESIGN.md), so a gateway that starts with a
 * nonsense value does not read it. "unknown" when the probe itself went wrong.
 */
export async function probeBillingSwitch(): Promise<"read" | "ignored" | "unknown"> {
  const scratch = mkdtempSync(join(tmpdir(), "hn-bench-probe-"));
  const port = await freePort();
  const service = new Service({
    name: "gateway (HYPERNODE_BILLING probe)",
    args: ["gateway"],
    env: {
      PORT: String(port),
      HYPERNODE_HOST: "127.0.0.1",
      HYPERNODE_DATA_DIR: join(scratch, "data"),
      HYPERNODE_NODE_TOKEN: `hn_${randomBytes(18).toString("hex")}`,
      HYPERNODE_BILLING: "not-a-valid-value",
      LOG_LEVEL: "warn",
    },
  });
  try {
    const deadline = performance.now() + BOOT_TIMEOUT_MS;
    while (performance.now() < deadline) {
      if (!service.running) return service.recentOutput().includes("HYPERNODE_BILLING") ? "read" : "unknown";
      if ((await status(`http://127.0.0.1:${port}/healthz`)) === 200) return "ignored";
      await sleep(100);
    }
    return "unknown";
  } finally {
    await service.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}
