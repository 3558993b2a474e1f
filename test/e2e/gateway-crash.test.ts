/**
 * A gateway process killed with -9 under streaming load, on each store: every job whose client
 * saw the end of its stream has its usage record, and after a restart no hold stays leaked.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { generateKeypair } from "../../billing/receipts/ed25519.ts";
import { RedisBillingStore } from "../../billing/store/redis-store.ts";
import { SqliteBillingStore } from "../../billing/store/sqlite-store.ts";
import type { BillingStore } from "../../billing/store/types.ts";
import { ModelCatalog } from "../../models/catalog.ts";
import { RunnerAgent } from "../../runners/agent/index.ts";
import { createEngineAdapter } from "../../runners/engines/index.ts";
import { type SimulatorHandle, startSimulator } from "../../runners/simulator/server.ts";
import { type RedisServer, startRedisServer } from "../support/redis-server.ts";

const BIN = fileURLToPath(new URL("../../bin/hypernode.js", import.meta.url));
const NODE_TOKEN = "hn_crash_test_node_token_0123";
const DEMO_KEY = "sk-hn-crash-test-demo-key";
const ADMIN_TOKEN = "hn_admin_crash_test_0123456789";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

async function startGateway(port: number, environment: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, "gateway"], {
    env: {
      ...process.env,
      PORT: String(port),
      HYPERNODE_NODE_TOKEN: NODE_TOKEN,
      HYPERNODE_DEMO_KEY: DEMO_KEY,
      HYPERNODE_ADMIN_TOKEN: ADMIN_TOKEN,
      HYPERNODE_HOLD_TTL_MS: "1000",
      LOG_LEVEL: "warn",
      ...environment,
    },
    stdio: "ignore",
  });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return child;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("gateway did not start");
}

/** One client streaming request after another until told to stop; returns the job ids whose [DONE] arrived. */
async function streamUntilStopped(url: string, stop: { stopped: boolean }): Promise<string[]> {
  const finished: string[] = [];
  while (!stop.stopped) {
    try {
      const response = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${DEMO_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({
          model: "qwen2.5-7b-instruct",
          stream: true,
          max_tokens: 20,
          ignore_eos: true,
          messages: [{ role: "user", content: "Stream through the crash." }],
        }),
      });
      const text = await response.text();
      if (response.status === 200 && text.endsWith("data: [DONE]\n\n"))
        finished.push(response.headers.get("x-request-id") ?? "");
    } catch {
      // The gateway died under this request: the client saw no end, so nothing is owed.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  return finished;
}

type StoreCase = [string, () => Promise<{ environment: Record<string, string>; open: () => Promise<BillingStore> }>];

const cases: StoreCase[] = [
  [
    "sqlite",
    async () => {
      const dataDirectory = mkdtempSync(join(tmpdir(), "hn-crash-"));
      return {
        environment: { HYPERNODE_DATA_DIR: dataDirectory },
        open: async () => SqliteBillingStore.open(join(dataDirectory, "hypernode.db")),
      };
    },
  ],
  [
    "redis",
    async () => {
      const redis: RedisServer = await startRedisServer();
      cleanups.push(() => redis.stop());
      return { environment: { REDIS_URL: redis.url }, open: () => RedisBillingStore.connect(redis.options) };
    },
  ],
];

describe.each(cases)("gateway killed with -9 on the %s store", (_name, prepare) => {
  it("keeps the record of every job the client saw finish, and leaks no hold after restart", async () => {
    const { environment, open } = await prepare();
    const simulator: SimulatorHandle = await startSimulator({ perTokenLatencyMs: 3, timeToFirstTokenMs: 2 });
    cleanups.push(() => simulator.close());
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    let gateway = await startGateway(port, environment);
    const agent = new RunnerAgent({
      gatewayUrl: url,
      nodeToken: NODE_TOKEN,
      wallet: generateKeypair(),
      engine: createEngineAdapter("sim", simulator.url),
      catalog: ModelCatalog.builtIn(),
      reconnect: { initialDelayMs: 50, maxDelayMs: 300 },
    });
    await agent.start();
    cleanups.push(() => agent.stop());

    const stop = { stopped: false };
    const clients = Array.from({ length: 12 }, () => streamUntilStopped(url, stop));
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    gateway.kill("SIGKILL");
    await new Promise((resolve) => gateway.once("exit", resolve));
    stop.stopped = true;
    const finished = (await Promise.all(clients)).flat();
    expect(finished.length).toBeGreaterThan(10);

    const store = await open();
    try {
      for (const jobId of finished) {
        const record = await store.getUsage(jobId);
        expect(record, `usage record of finished job ${jobId}`).toBeDefined();
        expect(record?.charge).toBeGreaterThan(0n);
      }
    } finally {
      await store.close();
    }

    // Restart on the same store: stale holds are released (at once on SQLite, after the TTL on Redis).
    gateway = await startGateway(port, environment);
    const reopened = await open();
    try {
      const deadline = Date.now() + 10_000;
      let leaked: string[] = [];
      do {
        leaked = (await reopened.listIntents())
          .filter((intent) => intent.held > 0n)
          .map((intent) => `${intent.id}: ${intent.held}`);
        if (leaked.length === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      } while (Date.now() < deadline);
      expect(leaked).toEqual([]);
      for (const intent of await reopened.listIntents()) {
        const records = await reopened.listUsage({ intentId: intent.id }, 100_000);
        expect(intent.spent).toBe(records.reduce((sum, record) => sum + record.charge, 0n));
      }
    } finally {
      await reopened.close();
    }
  }, 90_000);
});
