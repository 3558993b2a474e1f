import type { ChatCompletion } from "openai/resources/chat/completions";
import type { Completion } from "openai/resources/completions";
import type { CreateEmbeddingResponse } from "openai/resources/embeddings";
import { afterEach, describe, expect, it } from "vitest";
import { sha256Hex, verifyReceipt } from "../../billing/receipts/receipt.ts";
import { EngineError } from "../../runners/engines/engine.ts";
import { type AgentHarness, eventually, sleep, startConnectedHarness } from "../fakes/runner-agent-harness.ts";
import { chatChunk, chatStream, chatUsageChunk, completionChunk } from "../fakes/scripted-engine.ts";

type Connected = Awaited<ReturnType<typeof startConnectedHarness>>;

let harness: AgentHarness | undefined;

async function connect(options: Parameters<typeof startConnectedHarness>[0] = {}): Promise<Connected> {
  const connected = await startConnectedHarness(options);
  harness = connected;
  return connected;
}

afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe("streaming jobs", () => {
  it("multiplexes two jobs on one socket, forwarding content chunks without usage", async () => {
    const { connection, engine, agent } = await connect();
    const started: string[] = [];
    const ended: [string, string][] = [];
    agent.on("job", (jobId) => started.push(jobId));
    agent.on("jobEnded", (jobId, outcome) => ended.push([jobId, outcome]));
    engine.chatScript = (request) => {
      const messages = request.messages as { content: string }[];
      const words = messages[0]?.content === "first" ? ["one", " two", " three"] : ["uno", " dos", " tres"];
      // Running usage on every chunk, as vLLM's continuous usage stats send it.
      return words.map((word, position) => ({
        chunk: {
          ...chatChunk(word),
          usage: { prompt_tokens: 4, completion_tokens: position + 1, total_tokens: 5 + position },
        },
        delayMs: 15,
      }));
    };
    connection.sendJob({ jobId: "job-a", body: { messages: [{ role: "user", content: "first" }] } });
    connection.sendJob({ jobId: "job-b", body: { messages: [{ role: "user", content: "second" }] } });
    const [endA, endB] = await Promise.all([connection.waitFor("end", "job-a"), connection.waitFor("end", "job-b")]);

    const textOf = (jobId: string): string =>
      connection
        .ofType("chunk", jobId)
        .map(({ chunk }) =>
          "delta" in (chunk.choices[0] ?? {})
            ? (chunk as { choices: { delta: { content: string } }[] }).choices[0]?.delta.content
            : "",
        )
        .join("");
    expect(textOf("job-a")).toBe("one two three");
    expect(textOf("job-b")).toBe("uno dos tres");
    for (const { chunk } of connection.ofType("chunk")) expect(chunk).not.toHaveProperty("usage");
    // The chunks interleave: both jobs ran at once.
    const order = connection.ofType("chunk").map(({ jobId }) => jobId);
    expect(order.indexOf("job-b")).toBeLessThan(order.lastIndexOf("job-a"));
    expect(endA.usage).toEqual({ promptTokens: 4, completionTokens: 3 });
    expect(endB.usage).toEqual({ promptTokens: 4, completionTokens: 3 });
    expect(endA.response).toBeUndefined();
    expect(started.sort()).toEqual(["job-a", "job-b"]);
    expect(ended.sort()).toEqual([
      ["job-a", "completed"],
      ["job-b", "completed"],
    ]);
    // The engine got the engine's model name, a streaming request and a usage request.
    expect(engine.calls[0]?.request).toMatchObject({
      model: "Qwen/Qwen2.5-7B-Instruct",
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it("sends exactly `credit` chunks and does not pull the engine further until more credit arrives", async () => {
    const { connection, engine } = await connect();
    engine.chatScript = () => chatStream(["a", "b", "c", "d", "e"], 7);
    connection.sendJob({ jobId: "job-credit", credit: 2 });
    await connection.waitUntil(
      () => (connection.ofType("chunk", "job-credit").length === 2 ? true : undefined),
      "two chunks",
    );
    await sleep(100);
    expect(connection.ofType("chunk", "job-credit")).toHaveLength(2);
    expect(engine.lastCall().yielded).toBe(2);

    connection.sendCredit("job-credit", 1);
    await connection.waitUntil(
      () => (connection.ofType("chunk", "job-credit").length === 3 ? true : undefined),
      "a third chunk",
    );
    await sleep(50);
    expect(engine.lastCall().yielded).toBe(3);
    expect(connection.ofType("end", "job-credit")).toEqual([]);

    connection.sendCredit("job-credit", 10);
    const end = await connection.waitFor("end", "job-credit");
    expect(connection.ofType("chunk", "job-credit")).toHaveLength(5);
    expect(end.usage).toEqual({ promptTokens: 7, completionTokens: 5 });
  });

  it("signs a receipt that verifies and hashes exactly the output text", async () => {
    const { connection, engine, wallet, agent } = await connect();
    engine.chatScript = () => [
      { chunk: chatChunk("Hello", { index: 0 }) },
      { chunk: chatChunk("Bonjour", { index: 1 }) },
      { chunk: chatChunk(", world", { index: 0, finishReason: "stop" }) },
      { chunk: chatChunk(" le monde", { index: 1, finishReason: "stop" }) },
      { chunk: chatUsageChunk(12, 4) },
    ];
    const before = Date.now();
    connection.sendJob({ jobId: "job-receipt", body: { messages: [{ role: "user", content: "hi" }], n: 2 } });
    const end = await connection.waitFor("end", "job-receipt");
    expect(verifyReceipt(end.receipt)).toBe(true);
    expect(end.receipt.receipt).toMatchObject({
      version: 1,
      jobId: "job-receipt",
      runnerId: agent.runnerId,
      wallet: wallet.address,
      model: "qwen2.5-7b-instruct",
      promptTokens: 12,
      completionTokens: 4,
      // All choices' text, in choice order.
      outputSha256: sha256Hex("Hello, worldBonjour le monde"),
      outcome: "completed",
    });
    expect(end.usage).toEqual({ promptTokens: 12, completionTokens: 4 });
    expect(end.timings.startedAt).toBeGreaterThanOrEqual(before);
    expect(end.timings.finishedAt).toBeGreaterThanOrEqual(end.timings.startedAt);
    expect(end.timings.firstTokenMs).toBeGreaterThanOrEqual(0);
    expect(end.receipt.receipt.startedAt).toBe(end.timings.startedAt);
    // A tampered receipt no longer verifies.
    expect(verifyReceipt({ ...end.receipt, receipt: { ...end.receipt.receipt, completionTokens: 5 } })).toBe(false);
  });

  it("falls back to chunk counts in the receipt but leaves usage unknown when the engine never reports it", async () => {
    const { connection, engine } = await connect();
    engine.chatScript = () => [{ chunk: chatChunk("x") }, { chunk: chatChunk("y") }, { chunk: chatChunk("z") }];
    connection.sendJob({ jobId: "job-no-usage" });
    const end = await connection.waitFor("end", "job-no-usage");
    expect(end.usage).toEqual({});
    expect(end.receipt.receipt).toMatchObject({ promptTokens: 0, completionTokens: 3, outputSha256: sha256Hex("xyz") });
  });

  it("streams text completions", async () => {
    const { connection, engine } = await connect();
    engine.completionScript = () => [
      { chunk: completionChunk("once") },
      { chunk: completionChunk(" upon", { usage: { prompt: 2, completion: 2 } }) },
    ];
    connection.sendJob({ jobId: "job-completion", operation: "completion", body: { prompt: "tell me" } });
    const end = await connection.waitFor("end", "job-completion");
    expect(
      connection.ofType("chunk", "job-completion").map(({ chunk }) => (chunk as Completion).choices[0]?.text),
    ).toEqual(["once", " upon"]);
    expect(end.usage).toEqual({ promptTokens: 2, completionTokens: 2 });
    expect(end.receipt.receipt.outputSha256).toBe(sha256Hex("once upon"));
    expect(engine.lastCall().request).toMatchObject({
      model: "Qwen/Qwen2.5-7B-Instruct",
      prompt: "tell me",
      stream: true,
    });
  });
});

describe("cancellation", () => {
  it("aborts the engine at once and ends the job cancelled with the tokens produced so far", async () => {
    const { connection, engine, agent } = await connect();
    const ended: string[] = [];
    agent.on("jobEnded", (_jobId, outcome) => ended.push(outcome));
    engine.chatScript = () => [
      { chunk: { ...chatChunk("par"), usage: { prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 } } },
      { chunk: { ...chatChunk("tial"), usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 } } },
      { chunk: chatChunk(" never"), delayMs: 30_000 },
    ];
    connection.sendJob({ jobId: "job-cancel" });
    await connection.waitUntil(
      () => (connection.ofType("chunk", "job-cancel").length === 2 ? true : undefined),
      "two chunks",
    );
    const cancelledAt = Date.now();
    connection.sendCancel("job-cancel");
    const end = await connection.waitFor("end", "job-cancel");
    expect(Date.now() - cancelledAt).toBeLessThan(1_000);
    expect(engine.lastCall().signal.aborted).toBe(true);
    expect(end.cancelled).toBe(true);
    expect(end.usage).toEqual({ promptTokens: 9, completionTokens: 2 });
    expect(verifyReceipt(end.receipt)).toBe(true);
    expect(end.receipt.receipt).toMatchObject({
      outcome: "cancelled",
      promptTokens: 9,
      completionTokens: 2,
      outputSha256: sha256Hex("partial"),
    });
    expect(connection.ofType("failed", "job-cancel")).toEqual([]);
    await eventually(() => (ended.length === 1 ? true : undefined), "jobEnded");
    expect(ended).toEqual(["cancelled"]);
    expect(agent.activeJobCount()).toBe(0);
    // The engine stream was closed, not left hanging.
    await eventually(() => (engine.lastCall().settled ? true : undefined), "the engine stream to close");
  });

  it("cancels a job that is waiting for credit", async () => {
    const { connection, engine } = await connect();
    engine.chatScript = () => chatStream(["a", "b", "c"], 1);
    connection.sendJob({ jobId: "job-starved", credit: 1 });
    await connection.waitFor("chunk", "job-starved");
    connection.sendCancel("job-starved");
    const end = await connection.waitFor("end", "job-starved");
    expect(end).toMatchObject({ cancelled: true, usage: {} });
    expect(end.receipt.receipt.completionTokens).toBe(1);
    expect(engine.lastCall().yielded).toBe(1);
    expect(engine.lastCall().signal.aborted).toBe(true);
  });
});

describe("engine failures", () => {
  it("fails retryable with chunksSent 0 when the engine fails before the first chunk", async () => {
    const { connection, engine } = await connect();
    engine.chatScript = () => [
      { error: new EngineError("RUNNER_ERR_ENGINE_UNAVAILABLE", "connect ECONNREFUSED", true) },
    ];
    connection.sendJob({ jobId: "job-down" });
    const failed = await connection.waitFor("failed", "job-down");
    expect(failed).toMatchObject({
      error: { code: "RUNNER_ERR_ENGINE_UNAVAILABLE", message: "connect ECONNREFUSED", retryable: true },
      chunksSent: 0,
      usage: {},
    });
    expect(failed.receipt).toBeUndefined();
    expect(connection.ofType("end", "job-down")).toEqual([]);
  });

  it("reports chunksSent and a failed receipt when the engine breaks mid-stream", async () => {
    const { connection, engine } = await connect();
    engine.chatScript = () => [
      { chunk: chatChunk("half") },
      { chunk: chatChunk(" an answer") },
      { error: new EngineError("RUNNER_ERR_ENGINE_FAILED", "upstream 500", false, 500) },
    ];
    connection.sendJob({ jobId: "job-broken" });
    const failed = await connection.waitFor("failed", "job-broken");
    expect(failed.error).toEqual({
      code: "RUNNER_ERR_ENGINE_FAILED",
      message: "upstream 500",
      retryable: false,
      engineStatus: 500,
    });
    expect(failed.chunksSent).toBe(2);
    expect(failed.receipt && verifyReceipt(failed.receipt)).toBe(true);
    expect(failed.receipt?.receipt).toMatchObject({
      outcome: "failed",
      completionTokens: 2,
      outputSha256: sha256Hex("half an answer"),
    });
  });

  it("turns anything else thrown into a non-retryable engine failure", async () => {
    const { connection, engine } = await connect();
    engine.chatScript = () => [{ error: new TypeError("cannot read properties of undefined") }];
    connection.sendJob({ jobId: "job-bug" });
    const failed = await connection.waitFor("failed", "job-bug");
    expect(failed.error).toEqual({
      code: "RUNNER_ERR_ENGINE_FAILED",
      message: "cannot read properties of undefined",
      retryable: false,
    });
  });

  it("refuses jobs beyond maxConcurrentJobs as busy and retryable", async () => {
    const { connection, engine } = await connect({ agent: { maxConcurrentJobs: 1 } });
    engine.chatScript = () => chatStream(["slow"], 1, 200);
    connection.sendJob({ jobId: "job-first" });
    connection.sendJob({ jobId: "job-second" });
    const busy = await connection.waitFor("failed", "job-second");
    expect(busy).toMatchObject({ error: { code: "RUNNER_ERR_BUSY", retryable: true }, chunksSent: 0 });
    await connection.waitFor("end", "job-first");
    expect(engine.calls).toHaveLength(1);
  });
});

describe("non-streaming jobs", () => {
  it("returns one accumulated chat completion and no chunk frames, whatever the credit", async () => {
    const { connection, engine } = await connect();
    engine.chatScript = () => chatStream(["The", " answer", " is", " 42"], 11);
    connection.sendJob({ jobId: "job-whole", stream: false, credit: 0 });
    const end = await connection.waitFor("end", "job-whole");
    expect(connection.ofType("chunk", "job-whole")).toEqual([]);
    const response = end.response as ChatCompletion;
    expect(response.object).toBe("chat.completion");
    expect(response.choices[0]?.message.content).toBe("The answer is 42");
    expect(response.choices[0]?.finish_reason).toBe("stop");
    expect(response.usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 4 });
    expect(end.receipt.receipt.outputSha256).toBe(sha256Hex("The answer is 42"));
    // Engines are always streamed, so even a cancelled non-stream job knows its counts.
    expect(engine.lastCall().request).toMatchObject({ stream: true });
  });

  it("returns one accumulated text completion", async () => {
    const { connection, engine } = await connect();
    engine.completionScript = () => [
      { chunk: completionChunk("4") },
      { chunk: completionChunk("2", { usage: { prompt: 3, completion: 2 } }) },
    ];
    connection.sendJob({ jobId: "job-text", operation: "completion", stream: false, body: { prompt: "6*7=" } });
    const end = await connection.waitFor("end", "job-text");
    expect((end.response as Completion).choices[0]?.text).toBe("42");
  });

  it("returns the engine's embedding response as is and hashes its data", async () => {
    const { connection, engine } = await connect();
    const response: CreateEmbeddingResponse = {
      object: "list",
      model: "nomic-embed-text",
      data: [{ object: "embedding", index: 0, embedding: [0.25, -0.5, 1] }],
      usage: { prompt_tokens: 5, total_tokens: 5 },
    };
    engine.embedScript = () => ({ response });
    connection.sendJob({
      jobId: "job-embed",
      operation: "embedding",
      stream: false,
      model: "nomic-embed-text",
      engineModel: "nomic-embed-text",
      body: { input: "hello" },
    });
    const end = await connection.waitFor("end", "job-embed");
    expect(end.response).toEqual(response);
    expect(end.usage).toEqual({ promptTokens: 5, completionTokens: 0 });
    expect(verifyReceipt(end.receipt)).toBe(true);
    expect(end.receipt.receipt).toMatchObject({
      model: "nomic-embed-text",
      promptTokens: 5,
      completionTokens: 0,
      outputSha256: sha256Hex(JSON.stringify(response.data)),
    });
    expect(engine.lastCall().request).toEqual({ input: "hello", model: "nomic-embed-text" });
  });
});

describe("stopping with jobs in flight", () => {
  it("lets jobs finish within drainMs and closes normally", async () => {
    const { connection, engine, agent } = await connect();
    engine.chatScript = () => chatStream(["almost", " done"], 2, 40);
    connection.sendJob({ jobId: "job-drained" });
    await connection.waitFor("chunk", "job-drained");
    await agent.stop({ drainMs: 2_000 });
    expect(connection.ofType("end", "job-drained")).toHaveLength(1);
    expect((await connection.closed).code).toBe(1000);
  });

  it("fails what is still running after drainMs as retryable", async () => {
    const { connection, engine, agent } = await connect();
    engine.chatScript = () => chatStream(["forever"], 1, 30_000);
    connection.sendJob({ jobId: "job-stuck" });
    await eventually(() => (engine.calls.length === 1 ? true : undefined), "the engine call");
    await agent.stop({ drainMs: 50 });
    const failed = await connection.waitFor("failed", "job-stuck");
    expect(failed).toMatchObject({ error: { code: "RUNNER_ERR_SHUTTING_DOWN", retryable: true }, chunksSent: 0 });
    expect(engine.lastCall().signal.aborted).toBe(true);
    expect((await connection.closed).code).toBe(1000);
  });
});
