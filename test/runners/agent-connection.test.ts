import { afterEach, describe, expect, it } from "vitest";
import type { GpuInfo } from "../../runners/protocol.ts";
import { FakeTunnelGateway } from "../fakes/fake-tunnel-gateway.ts";
import {
  type AgentHarness,
  eventually,
  sleep,
  startConnectedHarness,
  startHarness,
  TEST_NODE_TOKEN,
} from "../fakes/runner-agent-harness.ts";
import { chatStream } from "../fakes/scripted-engine.ts";

const GPU: GpuInfo = {
  index: 0,
  name: "NVIDIA GeForce RTX 4090",
  uuid: "GPU-1234",
  memoryTotalMiB: 24564,
  memoryFreeMiB: 23000,
  temperatureCelsius: 41,
  utilizationPercent: 3,
  driverVersion: "550.54.14",
};

let harness: AgentHarness | undefined;

afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe("RunnerAgent handshake", () => {
  it("answers the challenge with a valid wallet signature, the resolved models and the GPUs", async () => {
    const started = await startConnectedHarness({
      agent: { detectGpus: async () => [GPU], version: "9.9.9", maxConcurrentJobs: 8 },
    });
    harness = started;
    const { connection, agent, wallet } = started;
    const connectedEvents: string[] = [];
    agent.on("connected", (runnerId) => connectedEvents.push(runnerId));

    expect(connection.authorization).toBe(`Bearer ${TEST_NODE_TOKEN}`);
    expect(connection.signatureValid).toBe(true);
    const hello = connection.hello;
    expect(hello).toMatchObject({
      type: "hello",
      protocolVersion: 1,
      runnerId: `runner-${wallet.address.slice(0, 12)}`,
      wallet: wallet.address,
      nonce: connection.nonce,
      engine: "vllm",
      gpus: [GPU],
      version: "9.9.9",
      maxConcurrentJobs: 8,
    });
    // The vLLM repo id and the Ollama tag resolve to catalog ids; the unknown name is skipped.
    expect(hello?.models).toEqual([
      { model: "qwen2.5-7b-instruct", engineModel: "Qwen/Qwen2.5-7B-Instruct", state: "ready" },
      { model: "nomic-embed-text", engineModel: "nomic-embed-text", state: "ready" },
    ]);
    expect(
      started.logs.some((line) => line.engineModel === "acme/not-in-catalog" && /not in the catalog/.test(line.msg)),
    ).toBe(true);
    expect(agent.connected).toBe(true);
    expect(agent.runnerId).toBe(hello?.runnerId);
  });

  it("offers only the models allowed by the models option (aliases accepted)", async () => {
    const started = await startConnectedHarness({ agent: { models: ["qwen2.5:7b"] } });
    harness = started;
    expect(started.connection.hello?.models.map((model) => model.model)).toEqual(["qwen2.5-7b-instruct"]);
  });

  it("adopts the runner id the gateway assigns and uses it in receipts", async () => {
    const started = await startConnectedHarness({ gateway: { assignRunnerId: () => "runner-assigned" } });
    harness = started;
    expect(started.agent.runnerId).toBe("runner-assigned");
    started.engine.chatScript = () => chatStream(["a"], 1);
    started.connection.sendJob({ jobId: "job-1" });
    const end = await started.connection.waitFor("end", "job-1");
    expect(end.receipt.receipt.runnerId).toBe("runner-assigned");
  });

  it("still says hello (with no models) when the engine cannot list its models", async () => {
    harness = await startHarness();
    harness.engine.listModelsError = new Error("connection refused");
    await harness.agent.start();
    const connection = await harness.gateway.welcomed(0);
    expect(connection.hello?.models).toEqual([]);
  });
  it("answers within the challenge's lifetime even when GPU detection hangs", async () => {
    harness = await startHarness({
      gateway: { challengeTtlMs: 1_200 },
      agent: { detectGpus: () => new Promise<GpuInfo[]>(() => undefined) },
    });
    const began = Date.now();
    await harness.agent.start();
    expect(Date.now() - began).toBeLessThan(2_000);
    const connection = await harness.gateway.welcomed(0);
    expect(connection.hello?.gpus).toEqual([]);
    expect(connection.hello?.models).toHaveLength(2);
  });
});

describe("RunnerAgent heartbeats", () => {
  it("sends heartbeats on the welcome's interval with fresh GPUs, models and active jobs", async () => {
    let detections = 0;
    const started = await startConnectedHarness({
      gateway: { heartbeatIntervalMs: 40 },
      agent: {
        detectGpus: async () => {
          detections += 1;
          return [{ ...GPU, utilizationPercent: detections }];
        },
      },
    });
    harness = started;
    const heartbeats = await started.connection.waitUntil(() => {
      const received = started.connection.ofType("heartbeat");
      return received.length >= 2 ? received : undefined;
    }, "two heartbeats");
    expect(heartbeats[0]).toMatchObject({ activeJobs: 0, models: started.connection.hello?.models });
    // GPUs are detected afresh for every heartbeat.
    expect(heartbeats[0]?.gpus[0]?.utilizationPercent).not.toBe(heartbeats[1]?.gpus[0]?.utilizationPercent);
    expect(heartbeats[1]?.sentAt).toBeGreaterThanOrEqual(heartbeats[0]?.sentAt ?? Number.POSITIVE_INFINITY);
  });

  it("reports the last known GPUs and models when a probe fails", async () => {
    let failing = false;
    const started = await startConnectedHarness({
      gateway: { heartbeatIntervalMs: 30 },
      agent: {
        detectGpus: async () => {
          if (failing) throw new Error("nvidia-smi: driver busy");
          return [GPU];
        },
      },
    });
    harness = started;
    failing = true;
    started.engine.listModelsError = new Error("engine restarting");
    const heartbeat = await started.connection.waitFor("heartbeat");
    expect(heartbeat.gpus).toEqual([GPU]);
    expect(heartbeat.models).toEqual(started.connection.hello?.models);
  });

  it("drops and redials a gateway that stops answering", async () => {
    const started = await startConnectedHarness({ gateway: { heartbeatIntervalMs: 30 } });
    harness = started;
    // A paused socket reads nothing, so the agent's pings go unanswered.
    started.connection.socket.pause();
    const second = await started.gateway.welcomed(1, 3_000);
    expect(second.signatureValid).toBe(true);
    await eventually(() => (started.agent.connected ? true : undefined), "the agent to reconnect");
  });
});

describe("RunnerAgent reconnects", () => {
  it("reconnects after the gateway drops the socket, aborting jobs in flight", async () => {
    const started = await startConnectedHarness();
    harness = started;
    const disconnected: number[] = [];
    const connected: string[] = [];
    started.agent.on("disconnected", (code) => disconnected.push(code));
    started.agent.on("connected", (runnerId) => connected.push(runnerId));
    started.engine.chatScript = () => chatStream(["slow"], 1, 10_000);
    started.connection.sendJob({ jobId: "job-dropped" });
    await eventually(() => (started.engine.calls.length > 0 ? true : undefined), "the engine call");

    started.connection.drop();
    const second = await started.gateway.welcomed(1);
    expect(second.signatureValid).toBe(true);
    expect(second.nonce).not.toBe(started.connection.nonce);
    expect(started.engine.lastCall().signal.aborted).toBe(true);
    expect(disconnected).toEqual([1006]);
    await eventually(() => (connected.length === 1 ? true : undefined), "the connected event");
    expect(started.agent.activeJobCount()).toBe(0);
  });

  it("keeps dialing a gateway that is down, then connects when it comes up", async () => {
    harness = await startHarness({ agent: { reconnect: { initialDelayMs: 10, maxDelayMs: 40 } } });
    const port = Number(new URL(harness.gateway.url).port);
    await harness.gateway.close();
    const started = harness.agent.start();
    await sleep(150);
    expect(harness.agent.connected).toBe(false);
    harness.gateway = await FakeTunnelGateway.start({ port });
    await started;
    const connection = await harness.gateway.welcomed(0);
    expect(connection.signatureValid).toBe(true);
  });

  it("rejects start() when stopped before any gateway answered", async () => {
    harness = await startHarness({ agent: { reconnect: { initialDelayMs: 10, maxDelayMs: 40 } } });
    await harness.gateway.close();
    const started = harness.agent.start();
    await sleep(60);
    await harness.agent.stop();
    await expect(started).rejects.toThrow(/stopped/);
  });
});

describe("RunnerAgent refusals", () => {
  it("emits refused, rejects start() and redials only at the maximum backoff", async () => {
    harness = await startHarness({
      gateway: { refuseHellos: true },
      agent: { reconnect: { initialDelayMs: 5, maxDelayMs: 1_000 } },
    });
    const refusals: string[] = [];
    harness.agent.on("refused", (code) => refusals.push(code));
    await expect(harness.agent.start()).rejects.toThrow(/refused/);
    expect(refusals).toEqual(["AUTHENTICATION_FAILED"]);
    await sleep(250);
    // At least half the maximum backoff (500 ms) passes before the next dial.
    expect(harness.gateway.upgradeAttempts).toHaveLength(1);

    // Once an operator fixes things on the gateway, the agent gets in by itself.
    harness.gateway.refuseHellos = false;
    const connection = await harness.gateway.welcomed(1, 3_000);
    expect(connection.signatureValid).toBe(true);
    await eventually(() => (harness?.agent.connected ? true : undefined), "connected");
  });

  it("treats an HTTP 401 at the upgrade as a refusal", async () => {
    harness = await startHarness({
      agent: { nodeToken: "hn_wrong", reconnect: { initialDelayMs: 5, maxDelayMs: 1_000 } },
    });
    const refusals: [string, string][] = [];
    const disconnected: number[] = [];
    harness.agent.on("refused", (code, message) => refusals.push([code, message]));
    harness.agent.on("disconnected", (code) => disconnected.push(code));
    await expect(harness.agent.start()).rejects.toThrow(/401/);
    expect(refusals).toEqual([["UNAUTHORIZED", expect.stringContaining("401")]]);
    await sleep(250);
    expect(harness.gateway.upgradeAttempts).toEqual(["Bearer hn_wrong"]);
    // It never got a socket, so there was nothing to disconnect.
    expect(disconnected).toEqual([]);
  });
});

describe("RunnerAgent robustness", () => {
  it("ignores garbage frames with a log line and keeps serving", async () => {
    const started = await startConnectedHarness();
    harness = started;
    const { connection } = started;
    connection.sendRaw("this is not json");
    connection.sendRaw(Buffer.from([1, 2, 3]));
    connection.send({ type: "bogus" });
    connection.send({ type: "job", jobId: "half-a-job" });
    connection.send({ type: "credit", jobId: "no-such-job", chunks: 5 });
    connection.send({ type: "cancel", jobId: "no-such-job", reason: "x" });
    connection.send({ type: "credit", jobId: "no-such-job", chunks: -1 });
    connection.send([1, 2, 3]);
    connection.send({ type: "challenge", nonce: "n", gatewayId: "g", expiresAt: 0 });
    started.engine.chatScript = () => chatStream(["still", " alive"], 3);
    connection.sendJob({ jobId: "job-after-garbage" });
    const end = await connection.waitFor("end", "job-after-garbage");
    expect(end.cancelled).toBe(false);
    expect(started.agent.connected).toBe(true);
    expect(started.gateway.connections).toHaveLength(1);
    expect(started.logs.filter((line) => /malformed/.test(line.msg)).length).toBeGreaterThanOrEqual(4);
    expect(started.logs.some((line) => /binary/.test(line.msg))).toBe(true);
    expect(connection.ofType("failed")).toEqual([]);
  });

  it("survives a listener that throws", async () => {
    harness = await startHarness();
    harness.agent.on("connected", () => {
      throw new Error("listener bug");
    });
    await harness.agent.start();
    expect(harness.agent.connected).toBe(true);
  });
});

describe("RunnerAgent.stop", () => {
  it("closes with 1000, stops heartbeats and leaves no handles behind", async () => {
    harness = await startHarness({ gateway: { heartbeatIntervalMs: 20 } });
    await harness.agent.start();
    const connection = await harness.gateway.welcomed(0);
    await connection.waitFor("heartbeat");
    await harness.agent.stop();
    expect(await connection.closed).toEqual({ code: 1000, reason: "runner stopping" });
    expect(harness.agent.connected).toBe(false);
    const heartbeats = connection.ofType("heartbeat").length;
    await sleep(80);
    expect(connection.ofType("heartbeat")).toHaveLength(heartbeats);
    await harness.gateway.close();
    harness = undefined;
    await expectNoHandlesLeft();
  });

  it("leaves no timer behind when stopped between reconnect attempts", async () => {
    harness = await startHarness({ agent: { reconnect: { initialDelayMs: 30_000, maxDelayMs: 30_000 } } });
    await harness.agent.start();
    const connection = await harness.gateway.welcomed(0);
    connection.drop();
    await connection.closed;
    await sleep(20);
    await harness.agent.stop();
    await harness.gateway.close();
    harness = undefined;
    await expectNoHandlesLeft();
  });
});

/** Closed handles leave the list a loop turn or so after their close callback, hence the polling; then nothing may come back. */
async function expectNoHandlesLeft(): Promise<void> {
  await eventually(
    () => (Object.keys(countHandles()).length === 0 ? true : undefined),
    "timers and sockets to close",
    500,
  );
  await sleep(100);
  expect(countHandles()).toEqual({});
}

/** Timers and sockets alive in this process, by kind. */
function countHandles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const resource of process.getActiveResourcesInfo()) {
    if (resource === "Timeout" || resource === "TCPSocketWrap" || resource === "TCPServerWrap")
      counts[resource] = (counts[resource] ?? 0) + 1;
  }
  return counts;
}
