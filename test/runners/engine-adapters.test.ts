/**
 * One behaviour suite for every engine adapter, each over real HTTP against the simulator: the
 * vLLM adapter on its vLLM API, the Ollama adapter on its Ollama API, and the simulator adapter.
 * Whatever the engine, the runner must see the same OpenAI shapes, usage and errors.
 */
import { createServer } from "node:net";
import type {
  ChatCompletionChunk,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionTool,
} from "openai/resources/chat/completions";
import type { Completion } from "openai/resources/completions";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ChatCompletionAccumulator, CompletionAccumulator } from "../../runners/engines/accumulate.ts";
import { type EngineAdapter, EngineError } from "../../runners/engines/engine.ts";
import { runningUsage } from "../../runners/engines/engine-stream.ts";
import { createEngineAdapter } from "../../runners/engines/index.ts";
import { createOllamaAdapter } from "../../runners/engines/ollama.ts";
import { createSimulatorAdapter } from "../../runners/engines/simulator.ts";
import { createVllmAdapter } from "../../runners/engines/vllm.ts";
import type { EngineKind } from "../../runners/protocol.ts";
import { type SimulatorHandle, startSimulator } from "../../runners/simulator/server.ts";

interface Target {
  name: string;
  kind: EngineKind;
  create(engineUrl: string): EngineAdapter;
  /** The simulator API the adapter speaks, as its stats name it. */
  api: "vllm" | "ollama";
  chatModel: string;
  embeddingModel: string;
}

const targets: Target[] = [
  {
    name: "vLLM adapter on the simulator's vLLM API",
    kind: "vllm",
    create: (engineUrl) => createVllmAdapter({ engineUrl: `${engineUrl}/v1` }),
    api: "vllm",
    chatModel: "Qwen/Qwen2.5-7B-Instruct",
    embeddingModel: "nomic-ai/nomic-embed-text-v1.5",
  },
  {
    name: "Ollama adapter on the simulator's Ollama API",
    kind: "ollama",
    create: (engineUrl) => createOllamaAdapter({ engineUrl }),
    api: "ollama",
    chatModel: "qwen2.5:7b-instruct",
    embeddingModel: "nomic-embed-text",
  },
  {
    name: "simulator adapter",
    kind: "sim",
    create: (engineUrl) => createSimulatorAdapter({ engineUrl }),
    api: "vllm",
    chatModel: "Qwen/Qwen2.5-7B-Instruct",
    embeddingModel: "nomic-ai/nomic-embed-text-v1.5",
  },
];

const weatherTool: ChatCompletionTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

interface Collected<Chunk> {
  chunks: Chunk[];
  error: unknown;
}

async function collect<Chunk>(stream: AsyncIterable<Chunk>): Promise<Collected<Chunk>> {
  const chunks: Chunk[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk);
    return { chunks, error: undefined };
  } catch (error) {
    return { chunks, error };
  }
}

function contentPieces(chunks: ChatCompletionChunk[]): string[] {
  return chunks
    .flatMap((chunk) => chunk.choices.map((choice) => choice.delta.content ?? ""))
    .filter((content) => content !== "");
}

function textOf(chunks: ChatCompletionChunk[]): string {
  return contentPieces(chunks).join("");
}

async function closedPortUrl(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe.each(targets)("$name", (target) => {
  let simulator: SimulatorHandle;
  let adapter: EngineAdapter;
  const signal = () => new AbortController().signal;

  function chat(extra: Partial<ChatCompletionCreateParamsStreaming> = {}): ChatCompletionCreateParamsStreaming {
    return {
      model: target.chatModel,
      messages: [{ role: "user", content: "Tell me about the sea." }],
      max_tokens: 24,
      seed: 11,
      stream: true,
      ...extra,
    };
  }

  beforeAll(async () => {
    simulator = await startSimulator({
      models: ["qwen2.5-7b-instruct", "nomic-embed-text"],
      timeToFirstTokenMs: 1,
      prefillMsPerToken: 0,
      perTokenLatencyMs: 1,
    });
    adapter = target.create(simulator.url);
  });

  afterAll(async () => {
    await adapter?.close();
    await simulator?.close();
  });

  afterEach(() => {
    simulator.setFault(undefined);
  });

  it("reports its kind and is made by createEngineAdapter", async () => {
    expect(adapter.kind).toBe(target.kind);
    const made = createEngineAdapter(target.kind, simulator.url);
    try {
      expect(made.kind).toBe(target.kind);
      expect(await made.health()).toBe(true);
    } finally {
      await made.close();
    }
  });

  it("streams a role chunk, content chunks, one finish reason and a final usage chunk", async () => {
    const stream = adapter.chat(chat(), { signal: signal() });
    const { chunks, error } = await collect(stream);
    expect(error).toBeUndefined();
    expect(chunks[0]?.choices[0]?.delta.role).toBe("assistant");
    for (const chunk of chunks) {
      expect(chunk.object).toBe("chat.completion.chunk");
      expect(chunk.model).toBe(target.chatModel);
      expect(chunk.id).toBe(chunks[0]?.id);
    }
    const pieces = contentPieces(chunks);
    expect(pieces.length).toBeGreaterThan(0);
    const finishReasons = chunks
      .flatMap((chunk) => chunk.choices.map((choice) => choice.finish_reason))
      .filter((reason) => reason !== null);
    expect(finishReasons).toHaveLength(1);
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage?.completion_tokens).toBe(pieces.length);
    expect(last?.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(last?.usage?.total_tokens).toBe((last?.usage?.prompt_tokens ?? 0) + pieces.length);
    expect(runningUsage(stream)).toEqual({ promptTokens: last?.usage?.prompt_tokens, completionTokens: pieces.length });
  });

  it("accumulates the stream into a valid ChatCompletion", async () => {
    const { chunks, error } = await collect(adapter.chat(chat(), { signal: signal() }));
    expect(error).toBeUndefined();
    const accumulator = new ChatCompletionAccumulator();
    for (const chunk of chunks) accumulator.add(chunk);
    const completion = accumulator.toCompletion();
    expect(completion).toMatchObject({ id: chunks[0]?.id, object: "chat.completion", model: target.chatModel });
    expect(completion.choices).toHaveLength(1);
    const [choice] = completion.choices;
    expect(choice?.message).toEqual({ role: "assistant", content: textOf(chunks), refusal: null });
    expect(choice?.logprobs).toBeNull();
    expect(["stop", "length"]).toContain(choice?.finish_reason);
    expect(completion.usage?.completion_tokens).toBe(contentPieces(chunks).length);
    expect(accumulator.outputText()).toBe(textOf(chunks));
  });

  it("streams text completions that accumulate into a text_completion", async () => {
    const stream = adapter.completion(
      { model: target.chatModel, prompt: "Once upon a time", max_tokens: 12, seed: 3, stream: true },
      { signal: signal() },
    );
    const { chunks, error } = await collect<Completion>(stream);
    expect(error).toBeUndefined();
    const accumulator = new CompletionAccumulator();
    for (const chunk of chunks) accumulator.add(chunk);
    const completion = accumulator.toCompletion();
    expect(completion.object).toBe("text_completion");
    expect(completion.choices).toHaveLength(1);
    expect(completion.choices[0]?.text.length).toBeGreaterThan(0);
    expect(completion.choices[0]?.finish_reason).toBe("length");
    expect(completion.usage).toMatchObject({ completion_tokens: 12 });
    expect(chunks.at(-1)?.choices).toEqual([]);
  });

  it("embeds a batch of texts", async () => {
    const answer = await adapter.embed(
      { model: target.embeddingModel, input: ["first text", "second text"] },
      { signal: signal() },
    );
    expect(answer.object).toBe("list");
    expect(answer.data.map((entry) => entry.index)).toEqual([0, 1]);
    for (const entry of answer.data) {
      expect(entry.object).toBe("embedding");
      expect(entry.embedding.length).toBeGreaterThan(0);
      expect(entry.embedding.every((value) => typeof value === "number")).toBe(true);
    }
    expect(answer.data[0]?.embedding).not.toEqual(answer.data[1]?.embedding);
    expect(answer.usage.prompt_tokens).toBeGreaterThan(0);
  });

  it("ends with finish_reason length at max_tokens", async () => {
    const { chunks } = await collect(adapter.chat(chat({ max_tokens: 5, seed: 5 }), { signal: signal() }));
    const accumulator = new ChatCompletionAccumulator();
    for (const chunk of chunks) accumulator.add(chunk);
    const completion = accumulator.toCompletion();
    expect(completion.choices[0]?.finish_reason).toBe("length");
    expect(completion.usage?.completion_tokens).toBe(5);
  });

  it("ends with finish_reason stop at a stop sequence, before it", async () => {
    const request = chat({ max_tokens: 40, seed: 21 });
    const unconstrained = textOf((await collect(adapter.chat(request, { signal: signal() }))).chunks);
    const words = unconstrained.split(" ").filter((word) => word.trim().length > 0);
    const stop = ` ${words[Math.min(4, words.length - 1)]}`;
    expect(unconstrained).toContain(stop);
    const { chunks } = await collect(adapter.chat({ ...request, stop: [stop] }, { signal: signal() }));
    const stopped = textOf(chunks);
    const finishReason = chunks
      .flatMap((chunk) => chunk.choices.map((choice) => choice.finish_reason))
      .find((reason) => reason !== null);
    expect(finishReason).toBe("stop");
    expect(stopped).not.toContain(stop);
    expect(unconstrained.startsWith(stopped)).toBe(true);
    expect(stopped.length).toBeLessThan(unconstrained.length);
  });

  it("gives the same answer for the same seed, another for another seed", async () => {
    const request = chat({ temperature: 0.8, max_tokens: 16, seed: 42 });
    const first = textOf((await collect(adapter.chat(request, { signal: signal() }))).chunks);
    const second = textOf((await collect(adapter.chat(request, { signal: signal() }))).chunks);
    const other = textOf((await collect(adapter.chat({ ...request, seed: 43 }, { signal: signal() }))).chunks);
    expect(second).toBe(first);
    expect(other).not.toBe(first);
  });

  it("lists the models it serves and answers health", async () => {
    const names = (await adapter.listModels()).map((model) => model.name);
    expect(names).toContain(target.chatModel);
    // Ollama lists "nomic-embed-text:latest"; the adapter reports the bare tag the catalog uses.
    expect(names).toContain(target.embeddingModel);
    expect(await adapter.health()).toBe(true);
  });

  it("maps tool calls both ways: a call with JSON arguments, then a text answer to its result", async () => {
    const request = chat({
      tools: [weatherTool],
      messages: [{ role: "user", content: "Weather in Paris?" }],
      max_tokens: 64,
    });
    const { chunks, error } = await collect(adapter.chat(request, { signal: signal() }));
    expect(error).toBeUndefined();
    const accumulator = new ChatCompletionAccumulator();
    for (const chunk of chunks) accumulator.add(chunk);
    const choice = accumulator.toCompletion().choices[0];
    expect(choice?.finish_reason).toBe("tool_calls");
    expect(choice?.message.content).toBeNull();
    const call = choice?.message.tool_calls?.[0];
    expect(call?.type).toBe("function");
    if (call?.type !== "function") throw new Error("expected a function call");
    expect(call.id).toMatch(/\S/);
    expect(call.function.name).toBe("get_weather");
    const parsedArguments: unknown = JSON.parse(call.function.arguments);
    expect(typeof parsedArguments).toBe("object");

    const followUp = await collect(
      adapter.chat(
        chat({
          tools: [weatherTool],
          messages: [
            { role: "user", content: "Weather in Paris?" },
            {
              role: "assistant",
              content: null,
              tool_calls: [{ id: call.id, type: "function", function: call.function }],
            },
            { role: "tool", tool_call_id: call.id, content: '{"temperature_c": 18, "sky": "clear"}' },
          ],
        }),
        { signal: signal() },
      ),
    );
    expect(followUp.error).toBeUndefined();
    expect(textOf(followUp.chunks).length).toBeGreaterThan(0);
  });

  // Timing bounds on a shared 2-core machine: a retry absorbs a stall from a neighbouring test
  // file; a real regression fails every attempt.
  it("stops the engine at once when the job is aborted mid-stream", { retry: 2 }, async () => {
    const before = simulator.stats().cancelledRequests;
    const controller = new AbortController();
    const stream = adapter.chat(chat({ max_tokens: 4000 }), { signal: controller.signal });
    let abortedAt = 0;
    let pieces = 0;
    let caught: unknown;
    try {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content) pieces += 1;
        if (pieces === 3) {
          abortedAt = performance.now();
          controller.abort();
        }
      }
    } catch (error) {
      caught = error;
    }
    // Every adapter ends an aborted stream the same way, so the agent has one case to handle.
    expect(caught).toMatchObject({ code: "RUNNER_ERR_CANCELLED", retryable: false });
    await expect.poll(() => simulator.stats().cancelledRequests - before, { timeout: 100, interval: 2 }).toBe(1);
    expect(performance.now() - abortedAt).toBeLessThan(100);
    const cancelled = simulator.stats().cancelled.at(-1);
    expect(cancelled).toMatchObject({ api: target.api, model: target.chatModel });
    expect(cancelled?.completionTokens).toBeGreaterThanOrEqual(3);
    expect(cancelled?.completionTokens).toBeLessThan(4000);
    expect(runningUsage(stream)?.completionTokens).toBeGreaterThanOrEqual(3);
  });

  it("stops a job still waiting for its first token", async () => {
    simulator.setFault({ kind: "slow-first-token", delayMs: 5_000 });
    const before = simulator.stats().cancelledRequests;
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const started = performance.now();
    const { chunks, error } = await collect(adapter.chat(chat(), { signal: controller.signal }));
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(error).toMatchObject({ code: "RUNNER_ERR_CANCELLED" });
    expect(contentPieces(chunks)).toEqual([]);
    await expect.poll(() => simulator.stats().cancelledRequests - before, { timeout: 100, interval: 2 }).toBe(1);
  });

  it("reports an engine that is down as UNAVAILABLE, retryable", async () => {
    const down = target.create(await closedPortUrl());
    try {
      const { chunks, error } = await collect(down.chat(chat(), { signal: signal() }));
      expect(chunks).toEqual([]);
      expect(error).toBeInstanceOf(EngineError);
      expect(error).toMatchObject({ code: "RUNNER_ERR_ENGINE_UNAVAILABLE", retryable: true });
      await expect(down.listModels()).rejects.toMatchObject({ code: "RUNNER_ERR_ENGINE_UNAVAILABLE" });
      await expect(
        down.embed({ model: target.embeddingModel, input: "x" }, { signal: signal() }),
      ).rejects.toMatchObject({
        code: "RUNNER_ERR_ENGINE_UNAVAILABLE",
      });
      expect(await down.health()).toBe(false);
    } finally {
      await down.close();
    }
  });

  it("reports an unknown model as MODEL_NOT_FOUND, retryable elsewhere", async () => {
    const { chunks, error } = await collect(adapter.chat(chat({ model: "no-such/model" }), { signal: signal() }));
    expect(chunks).toEqual([]);
    expect(error).toMatchObject({ code: "RUNNER_ERR_MODEL_NOT_FOUND", retryable: true, status: 404 });
  });

  it("fails after the chunks already sent when the engine dies mid-stream", async () => {
    simulator.setFault({ kind: "fail-after-tokens", tokens: 3 });
    const stream = adapter.chat(chat({ max_tokens: 50 }), { signal: signal() });
    const { chunks, error } = await collect(stream);
    expect(contentPieces(chunks).length).toBeGreaterThan(0);
    expect(contentPieces(chunks).length).toBeLessThanOrEqual(3);
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ code: "RUNNER_ERR_ENGINE_FAILED", retryable: true });
    expect(runningUsage(stream)?.completionTokens).toBeGreaterThan(0);
  });

  it("reports a refusing engine (503) as a retryable failure before any chunk", async () => {
    simulator.setFault({ kind: "unavailable" });
    const { chunks, error } = await collect(adapter.chat(chat(), { signal: signal() }));
    expect(chunks).toEqual([]);
    expect(error).toMatchObject({ retryable: true, status: 503 });
  });

  it.runIf(target.api === "ollama")("refuses n=2 as a bad request naming n", async () => {
    const { chunks, error } = await collect(adapter.chat(chat({ n: 2 }), { signal: signal() }));
    expect(chunks).toEqual([]);
    expect(error).toMatchObject({ code: "RUNNER_ERR_ENGINE_BAD_REQUEST", retryable: false });
    expect((error as Error).message).toMatch(/'n'/);
  });

  it.runIf(target.api === "vllm")("streams n=2 choices that accumulate into two", async () => {
    const { chunks, error } = await collect(adapter.chat(chat({ n: 2, temperature: 0.9 }), { signal: signal() }));
    expect(error).toBeUndefined();
    const accumulator = new ChatCompletionAccumulator();
    for (const chunk of chunks) accumulator.add(chunk);
    const completion = accumulator.toCompletion();
    expect(completion.choices.map((choice) => choice.index)).toEqual([0, 1]);
    expect(completion.choices[0]?.message.content).not.toBe(completion.choices[1]?.message.content);
    expect(completion.usage?.completion_tokens).toBe(contentPieces(chunks).length);
  });

  it.runIf(target.api === "vllm")("passes engine 400s through with the engine's message, not retryable", async () => {
    const { error } = await collect(adapter.chat(chat({ max_tokens: -1 }), { signal: signal() }));
    expect(error).toMatchObject({ code: "RUNNER_ERR_ENGINE_BAD_REQUEST", retryable: false, status: 400 });
    expect((error as Error).message).toMatch(/max_tokens/);
  });
});
