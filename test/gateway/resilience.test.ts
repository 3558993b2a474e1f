/**
 * What clients see when things go wrong below the gateway: they leave mid-stream, runners die,
 * engines fail before the first token. Real sockets and a real runner process throughout.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { startSimulator } from "../../runners/simulator/server.ts";
import { eventually, startTestStack, TEST_NODE_TOKEN, type TestStack } from "../support/test-stack.ts";

const BIN = fileURLToPath(new URL("../../bin/hypernode.js", import.meta.url));
const MODEL = "qwen2.5-7b-instruct";

let stack: TestStack | undefined;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await stack?.close();
  stack = undefined;
});

function chatBody(extra: Record<string, unknown> = {}) {
  return JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Tell me a long story." }], ...extra });
}

async function post(url: string, apiKey: string, body: string, signal?: AbortSignal) {
  return fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body,
    signal,
  });
}

/** Reads SSE `data:` payloads as they arrive. */
async function* sseEvents(response: Response): AsyncGenerator<string> {
  const reader = response.body?.getReader();
  if (!reader) throw new Error("no body");
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let boundary = buffer.indexOf("\n\n");
    while (boundary >= 0) {
      const event = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary + 2);
      if (event.startsWith("data: ")) yield event.slice(6);
      boundary = buffer.indexOf("\n\n");
    }
  }
}

describe("client disconnect", () => {
  // A timing bound on a shared 2-core machine: a retry absorbs a scheduler stall from a
  // neighbouring test file, while a real regression (no cancel, or a slow path) fails every try.
  it("stops the engine within 100 ms and bills the tokens produced", { retry: 2 }, async () => {
    stack = await startTestStack({ simulator: { perTokenLatencyMs: 10 } });
    // One ordinary request first: a fresh process's first stream pays one-time JIT costs in
    // every component at once, which is not what this measures. The cancel path is still cold.
    await (await post(stack.url, stack.apiKey, chatBody({ stream: true, max_tokens: 3 }))).text();
    const abort = new AbortController();
    const response = await post(stack.url, stack.apiKey, chatBody({ stream: true, max_tokens: 2000 }), abort.signal);
    expect(response.status).toBe(200);
    const jobId = response.headers.get("x-request-id") ?? "";
    let chunks = 0;
    try {
      for await (const data of sseEvents(response)) {
        if (data.includes('"content"')) chunks++;
        if (chunks >= 10) break;
      }
    } finally {
      abort.abort();
    }
    const abortedAt = Date.now();
    const cancelled = await eventually(() => stack?.simulator.stats().cancelled.at(-1), 2_000, 2);
    expect(cancelled.cancelledAt - abortedAt).toBeLessThanOrEqual(100);
    const record = await eventually(() => stack?.gateway.services.jobs.record(jobId));
    expect(record.outcome).toBe("cancelled");
    expect(record.tokenUsage.completionTokens).toBeGreaterThanOrEqual(9);
    expect(record.tokenUsage.completionTokens).toBeLessThan(2000);
    // Billed is what reached the runner; the engine may have produced a token or two more that
    // were still on the wire when the connection closed.
    expect(cancelled.completionTokens - record.tokenUsage.completionTokens).toBeGreaterThanOrEqual(0);
    expect(cancelled.completionTokens - record.tokenUsage.completionTokens).toBeLessThanOrEqual(3);
    expect(record.receipt?.receipt.outcome).toBe("cancelled");
    expect(stack.gateway.services.registry.list()[0]?.activeJobs).toBe(0);
  });

  it("cancels a non-streaming request whose client leaves", async () => {
    stack = await startTestStack({ simulator: { perTokenLatencyMs: 10 } });
    const abort = new AbortController();
    const pending = post(stack.url, stack.apiKey, chatBody({ max_tokens: 2000 }), abort.signal).catch(
      (error: unknown) => error,
    );
    await eventually(() => (stack?.gateway.services.jobs.activeCount() ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 100));
    abort.abort();
    await pending;
    const cancelled = await eventually(() => stack?.simulator.stats().cancelled.at(-1), 2_000);
    expect(cancelled.completionTokens).toBeGreaterThan(0);
    await eventually(() => (stack?.gateway.services.jobs.activeCount() === 0 ? true : undefined));
  });
});

function startRunnerProcess(gatewayUrl: string, engineUrl: string): Promise<ChildProcess> {
  const walletPath = join(mkdtempSync(join(tmpdir(), "hn-runner-")), "wallet.json");
  const child = spawn(
    process.execPath,
    [
      BIN,
      "runner",
      "--engine",
      "sim",
      "--engine-url",
      engineUrl,
      "--gateway",
      gatewayUrl,
      "--wallet-keypair",
      walletPath,
      "--generate-wallet",
    ],
    { env: { ...process.env, HN_NODE_TOKEN: TEST_NODE_TOKEN }, stdio: "ignore" },
  );
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return Promise.resolve(child);
}

describe("runner failures", () => {
  it("ends the stream with an error event, not [DONE], when the runner process is killed mid-stream", async () => {
    stack = await startTestStack({ runners: 0, simulator: { perTokenLatencyMs: 10 } });
    const runner = await startRunnerProcess(stack.url, stack.simulator.url);
    await eventually(() => (stack?.gateway.services.registry.onlineCount() === 1 ? true : undefined), 15_000);
    const response = await post(stack.url, stack.apiKey, chatBody({ stream: true, max_tokens: 2000 }));
    expect(response.status).toBe(200);
    const jobId = response.headers.get("x-request-id") ?? "";
    const events: string[] = [];
    for await (const data of sseEvents(response)) {
      events.push(data);
      if (events.length === 5) runner.kill("SIGKILL");
    }
    const last = JSON.parse(events.at(-1) ?? "{}") as { error?: { type: string; code: string; message: string } };
    expect(events).not.toContain("[DONE]");
    expect(last.error?.code).toBe("runner_failed");
    expect(last.error?.type).toBe("server_error");
    const record = await eventually(() => stack?.gateway.services.jobs.record(jobId));
    expect(record.outcome).toBe("failed");
    expect(record.localUsage.completionTokens).toBeGreaterThan(0);
    expect(record.tokenUsage.completionTokens).toBe(record.localUsage.completionTokens);
  }, 30_000);

  it("retries on another runner when the first fails before the first token", async () => {
    stack = await startTestStack({ runners: 1 });
    const brokenEngine = await startSimulator({ timeToFirstTokenMs: 1, perTokenLatencyMs: 0 });
    cleanups.push(() => brokenEngine.close());
    await stack.addRunner({ engineUrl: brokenEngine.url, runnerId: "runner-broken" });
    brokenEngine.setFault({ kind: "unavailable" });
    const records = [];
    for (let attempt = 0; attempt < 16; attempt++) {
      const response = await post(stack.url, stack.apiKey, chatBody({ stream: attempt % 2 === 0, max_tokens: 3 }));
      expect(response.status).toBe(200);
      await response.text();
      const jobId = response.headers.get("x-request-id") ?? "";
      records.push(await eventually(() => stack?.gateway.services.jobs.record(jobId)));
    }
    expect(records.every((record) => record.outcome === "completed" && record.nodeId !== "runner-broken")).toBe(true);
    // With two equally loaded runners, 16 picks all avoiding the broken one has odds of 2^-16.
    expect(records.some((record) => record.attempts === 2)).toBe(true);
    expect(stack.gateway.services.registry.get("runner-broken")?.failedJobs).toBeGreaterThan(0);
  });

  it("moves on when a runner gives no first token in time", async () => {
    stack = await startTestStack({ runners: 0, settings: { firstTokenTimeoutMs: 300 } });
    const slowEngine = await startSimulator({ timeToFirstTokenMs: 1 });
    cleanups.push(() => slowEngine.close());
    await stack.addRunner({ engineUrl: slowEngine.url, runnerId: "runner-slow" });
    slowEngine.setFault({ kind: "slow-first-token", delayMs: 5_000 });
    const started = Date.now();
    const firstTry = await post(stack.url, stack.apiKey, chatBody({ stream: true, max_tokens: 3 }));
    // Only the slow runner exists: the client gets a clear timeout, with a status, not a hang.
    expect(firstTry.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(3_000);
    await stack.addRunner({ runnerId: "runner-fast" });
    for (let attempt = 0; attempt < 6; attempt++) {
      const response = await post(stack.url, stack.apiKey, chatBody({ stream: true, max_tokens: 3 }));
      expect(response.status).toBe(200);
      expect(await response.text()).toContain("[DONE]");
    }
  });

  it("answers 503 with retry-after when no runner serves a catalog model", async () => {
    stack = await startTestStack({ runners: 0 });
    await stack.addRunner({ models: ["llama-3.2-3b-instruct"] });
    const response = await post(stack.url, stack.apiKey, chatBody({ max_tokens: 3 }));
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("1");
    const body = (await response.json()) as { error: { code: string } };
    expect(body.error.code).toBe("no_capacity");
  });

  it("passes an engine's refusal of a request through as a 400 without retrying", async () => {
    stack = await startTestStack({ runners: 2 });
    // Prompt + completion beyond the model's context: the engine refuses, another runner would too.
    const response = await post(
      stack.url,
      stack.apiKey,
      chatBody({ max_tokens: 32_000, messages: [{ role: "user", content: "word ".repeat(2_000) }] }),
    );
    expect(response.status).toBe(400);
    const jobId = response.headers.get("x-request-id") ?? "";
    const record = await eventually(() => stack?.gateway.services.jobs.record(jobId));
    expect(record.attempts).toBe(1);
    expect(record.tokenUsage.totalTokens).toBe(0);
  });
});
