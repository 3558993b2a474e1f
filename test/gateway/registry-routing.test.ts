/**
 * The runner registry's life cycle (online, heartbeats, offline after three missed) and the
 * default routing rule.
 */

import type { FastifyBaseLogger } from "fastify";
import { describe, expect, it, vi } from "vitest";
import type { WebSocket } from "ws";
import { pickLeastOutstanding } from "../../gateway/routing/least-outstanding.ts";
import { RunnerRegistry, type RunnerState } from "../../gateway/runners/registry.ts";
import { RunnerConnection } from "../../gateway/runners/runner-connection.ts";
import type { HelloMessage } from "../../runners/protocol.ts";

function fakeSocket() {
  return { readyState: 1, OPEN: 1, send: vi.fn(), close: vi.fn(), terminate: vi.fn() } as unknown as WebSocket & {
    close: ReturnType<typeof vi.fn>;
  };
}

const silentLogger = { warn: vi.fn(), info: vi.fn() } as unknown as FastifyBaseLogger;

function hello(runnerId: string, models = ["qwen2.5-7b-instruct"]): HelloMessage {
  return {
    type: "hello",
    protocolVersion: 1,
    runnerId,
    wallet: "11111111111111111111111111111111",
    signature: "x",
    nonce: "n",
    engine: "sim",
    models: models.map((model) => ({ model, engineModel: model, state: "ready" as const })),
    gpus: [],
    version: "test",
    maxConcurrentJobs: 2,
  };
}

describe("RunnerRegistry", () => {
  it("marks a runner offline after three missed heartbeats and closes its tunnel", () => {
    const registry = new RunnerRegistry(1_000);
    const offline = vi.fn();
    registry.on("runnerOffline", offline);
    const socket = fakeSocket();
    registry.register(hello("a"), new RunnerConnection("a", socket, silentLogger), 0);
    registry.heartbeat(
      "a",
      { type: "heartbeat", sentAt: 2_000, activeJobs: 0, models: hello("a").models, gpus: [] },
      2_000,
    );
    registry.sweep(4_999);
    expect(registry.get("a")?.status).toBe("online");
    registry.sweep(5_001);
    expect(registry.get("a")?.status).toBe("offline");
    expect(offline).toHaveBeenCalledTimes(1);
    expect(socket.close).toHaveBeenCalledWith(4408, "missed heartbeats");
    expect(registry.servedModels().size).toBe(0);
  });

  it("offers only online runners with the model ready and a free slot", () => {
    const registry = new RunnerRegistry(15_000);
    const busy = registry.register(hello("busy"), new RunnerConnection("busy", fakeSocket(), silentLogger));
    registry.register(hello("free"), new RunnerConnection("free", fakeSocket(), silentLogger));
    registry.register(
      hello("other", ["mistral-7b-instruct"]),
      new RunnerConnection("other", fakeSocket(), silentLogger),
    );
    busy.activeJobs = 2;
    expect(registry.eligible("qwen2.5-7b-instruct", new Set()).map((runner) => runner.id)).toEqual(["free"]);
    expect(registry.eligible("qwen2.5-7b-instruct", new Set(["free"]))).toEqual([]);
    expect(registry.isServed("qwen2.5-7b-instruct")).toBe(true);
    expect([...registry.servedModels()].sort()).toEqual(["mistral-7b-instruct", "qwen2.5-7b-instruct"]);
  });

  it("lets a reconnecting runner replace its old tunnel, and ignores the old tunnel's late close", () => {
    const registry = new RunnerRegistry(15_000);
    const oldSocket = fakeSocket();
    const oldConnection = new RunnerConnection("a", oldSocket, silentLogger);
    registry.register(hello("a"), oldConnection);
    const newConnection = new RunnerConnection("a", fakeSocket(), silentLogger);
    registry.register(hello("a"), newConnection);
    expect(oldSocket.close).toHaveBeenCalledWith(4409, expect.any(String));
    registry.disconnect("a", oldConnection, "late close");
    expect(registry.get("a")?.status).toBe("online");
    expect(registry.get("a")?.connection).toBe(newConnection);
  });
});

describe("pickLeastOutstanding", () => {
  const runner = (id: string, outstandingTokens: number, activeJobs: number) =>
    ({ id, outstandingTokens, activeJobs }) as RunnerState;

  it("prefers fewer outstanding tokens, then fewer active jobs", () => {
    expect(pickLeastOutstanding([runner("a", 500, 1), runner("b", 100, 5), runner("c", 300, 0)])?.id).toBe("b");
    expect(pickLeastOutstanding([runner("a", 100, 3), runner("b", 100, 1)])?.id).toBe("b");
    expect(pickLeastOutstanding([])).toBeUndefined();
  });

  it("spreads ties evenly", () => {
    const counts = new Map<string, number>();
    const tied = [runner("a", 0, 0), runner("b", 0, 0), runner("c", 0, 0)];
    for (let draw = 0; draw < 3_000; draw++) {
      const id = pickLeastOutstanding(tied)?.id ?? "";
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (const id of ["a", "b", "c"]) expect(counts.get(id)).toBeGreaterThan(800);
  });
});
