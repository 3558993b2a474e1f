/**
 * Ollama mapping details: OpenAI request → native request, native messages → OpenAI chunks, and
 * wire behaviours (error bodies, in-stream errors, abort before the first byte) against a
 * scripted node:http server playing Ollama.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ChatResponse } from "ollama";
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming } from "openai/resources/chat/completions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineError } from "../../runners/engines/engine.ts";
import { runningUsage, UsageTracker } from "../../runners/engines/engine-stream.ts";
import { createOllamaAdapter } from "../../runners/engines/ollama.ts";
import { OllamaChatChunker } from "../../runners/engines/ollama-chunks.ts";
import {
  toOllamaChatRequest,
  toOllamaEmbedRequest,
  toOllamaGenerateRequest,
} from "../../runners/engines/ollama-request.ts";

function chatRequest(extra: Partial<ChatCompletionCreateParamsStreaming> = {}): ChatCompletionCreateParamsStreaming {
  return { model: "qwen2.5:7b-instruct", messages: [{ role: "user", content: "hi" }], stream: true, ...extra };
}

function refusal(run: () => unknown): EngineError {
  try {
    run();
  } catch (error) {
    if (error instanceof EngineError) return error;
    throw error;
  }
  throw new Error("expected a refusal");
}

describe("OpenAI chat request → /api/chat", () => {
  it("maps sampling parameters into options and response formats into format", () => {
    const mapped = toOllamaChatRequest(
      chatRequest({
        max_completion_tokens: 64,
        max_tokens: 10,
        temperature: 0.2,
        top_p: 0.9,
        seed: 7,
        stop: "END",
        presence_penalty: 0.5,
        frequency_penalty: 0.25,
        response_format: { type: "json_object" },
      }),
    );
    expect(mapped).toMatchObject({
      model: "qwen2.5:7b-instruct",
      stream: true,
      format: "json",
      options: {
        num_predict: 64,
        temperature: 0.2,
        top_p: 0.9,
        seed: 7,
        stop: ["END"],
        presence_penalty: 0.5,
        frequency_penalty: 0.25,
      },
    });
    const schema = { type: "object", properties: { answer: { type: "string" } }, required: ["answer"] };
    expect(
      toOllamaChatRequest(chatRequest({ response_format: { type: "json_schema", json_schema: { name: "a", schema } } }))
        .format,
    ).toEqual(schema);
    expect(toOllamaChatRequest(chatRequest({ max_tokens: 5 })).options?.num_predict).toBe(5);
  });

  it("maps messages: content parts, developer, assistant tool calls with parsed arguments, tool results by name", () => {
    const mapped = toOllamaChatRequest(
      chatRequest({
        messages: [
          { role: "developer", content: "be brief" },
          {
            role: "user",
            content: [
              { type: "text", text: "what is" },
              { type: "text", text: "this?" },
              { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
            ],
          },
          {
            role: "assistant",
            content: null,
            tool_calls: [
              { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
            ],
          },
          { role: "tool", tool_call_id: "call_1", content: [{ type: "text", text: "sunny" }] },
        ],
        tools: [
          {
            type: "function",
            function: {
              name: "get_weather",
              description: "weather",
              parameters: { type: "object", properties: { city: { type: "string" } } },
            },
          },
        ],
        tool_choice: "auto",
      }),
    );
    expect(mapped.messages).toEqual([
      { role: "system", content: "be brief" },
      { role: "user", content: "what is\nthis?", images: ["iVBORw0KGgo="] },
      {
        role: "assistant",
        content: "",
        tool_calls: [{ function: { name: "get_weather", arguments: { city: "Paris" } } }],
      },
      { role: "tool", content: "sunny", tool_name: "get_weather" },
    ]);
    expect(mapped.tools).toEqual([
      {
        type: "function",
        function: {
          name: "get_weather",
          description: "weather",
          parameters: { type: "object", properties: { city: { type: "string" } } },
        },
      },
    ]);
    expect(
      toOllamaChatRequest(chatRequest({ tools: mapped.tools as never, tool_choice: "none" })).tools,
    ).toBeUndefined();
  });

  it.each([
    ["n", { n: 2 }],
    ["logprobs", { logprobs: true }],
    ["top_logprobs", { top_logprobs: 3 }],
    ["logit_bias", { logit_bias: { "50256": -100 } }],
    ["tool_choice", { tool_choice: "required" as const }],
  ])("refuses %s as a non-retryable bad request naming it", (parameter, extra) => {
    const error = refusal(() => toOllamaChatRequest(chatRequest(extra)));
    expect(error).toMatchObject({ code: "RUNNER_ERR_ENGINE_BAD_REQUEST", retryable: false });
    expect(error.message).toContain(`'${parameter}'`);
  });

  it("refuses unparseable tool-call arguments and remote image URLs, naming where", () => {
    const badArguments = refusal(() =>
      toOllamaChatRequest(
        chatRequest({
          messages: [
            {
              role: "assistant",
              tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: "{oops" } }],
            },
          ],
        }),
      ),
    );
    expect(badArguments.message).toContain("messages[0].tool_calls[0].function.arguments");
    const remoteImage = refusal(() =>
      toOllamaChatRequest(
        chatRequest({
          messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://x/y.png" } }] }],
        }),
      ),
    );
    expect(remoteImage.message).toContain("messages[0].content[0].image_url");
  });

  it("accepts n=1 and logprobs=false, which ask for nothing Ollama lacks", () => {
    expect(() =>
      toOllamaChatRequest(chatRequest({ n: 1, logprobs: false, top_logprobs: 0, logit_bias: {} })),
    ).not.toThrow();
  });
});

describe("OpenAI completion and embedding requests", () => {
  it("maps a completion to a raw generate, one prompt only", () => {
    expect(
      toOllamaGenerateRequest({ model: "m", prompt: ["Once"], max_tokens: 3, stop: ["\n"], stream: true }),
    ).toEqual({
      model: "m",
      prompt: "Once",
      raw: true,
      stream: true,
      options: { num_predict: 3, stop: ["\n"] },
    });
    expect(toOllamaGenerateRequest({ model: "m", prompt: "def f(", suffix: "return x", stream: true })).toMatchObject({
      suffix: "return x",
    });
    expect(refusal(() => toOllamaGenerateRequest({ model: "m", prompt: ["a", "b"], stream: true })).message).toContain(
      "'prompt'",
    );
    expect(refusal(() => toOllamaGenerateRequest({ model: "m", prompt: [1, 2], stream: true })).message).toContain(
      "token-id",
    );
    expect(
      refusal(() => toOllamaGenerateRequest({ model: "m", prompt: "a", echo: true, stream: true })).message,
    ).toContain("'echo'");
  });

  it("maps embeddings and refuses token inputs", () => {
    expect(toOllamaEmbedRequest({ model: "e", input: ["a", "b"], dimensions: 8 })).toEqual({
      model: "e",
      input: ["a", "b"],
      dimensions: 8,
    });
    expect(refusal(() => toOllamaEmbedRequest({ model: "e", input: [1, 2] })).message).toContain("'input'");
  });
});

function ollamaMessage(extra: Partial<ChatResponse>): ChatResponse {
  return {
    model: "qwen2.5:7b-instruct",
    created_at: new Date(),
    message: { role: "assistant", content: "" },
    done: false,
    done_reason: "",
    total_duration: 0,
    load_duration: 0,
    prompt_eval_count: 0,
    prompt_eval_duration: 0,
    eval_count: 0,
    eval_duration: 0,
    ...extra,
  };
}

describe("Ollama chat messages → OpenAI chunks", () => {
  it("emits role, content, tool-call, finish and usage chunks", () => {
    const tracker = new UsageTracker();
    const chunker = new OllamaChatChunker("qwen2.5:7b-instruct", tracker);
    const chunks = [
      ...chunker.map(ollamaMessage({ message: { role: "assistant", content: "Let me check." } })),
      ...chunker.map(
        ollamaMessage({
          message: {
            role: "assistant",
            content: "",
            tool_calls: [{ function: { name: "get_weather", arguments: { city: "Paris" } } }],
          },
        }),
      ),
      ...chunker.map(ollamaMessage({ done: true, done_reason: "stop", prompt_eval_count: 12, eval_count: 9 })),
    ];
    expect(chunks.map((chunk) => chunk.choices[0]?.delta ?? "usage")).toEqual([
      { role: "assistant", content: "" },
      { content: "Let me check." },
      {
        tool_calls: [
          {
            index: 0,
            id: expect.stringMatching(/^call_/),
            type: "function",
            function: { name: "get_weather", arguments: '{"city":"Paris"}' },
          },
        ],
      },
      {},
      "usage",
    ]);
    expect(chunks[3]?.choices[0]?.finish_reason).toBe("tool_calls");
    expect(chunks[4]).toMatchObject({
      choices: [],
      usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 },
    });
    expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1);
    expect(chunks[0]?.id).toMatch(/^chatcmpl-/);
    expect(tracker.snapshot()).toEqual({ promptTokens: 12, completionTokens: 9 });
  });

  it("maps length, and keeps the running count when the prompt count is missing", () => {
    const tracker = new UsageTracker();
    const chunker = new OllamaChatChunker("m", tracker);
    chunker.map(ollamaMessage({ message: { role: "assistant", content: "a" } }));
    expect(tracker.snapshot()).toEqual({ promptTokens: undefined, completionTokens: 1 });
    const last = chunker.map(
      ollamaMessage({
        done: true,
        done_reason: "length",
        prompt_eval_count: undefined as unknown as number,
        eval_count: 1,
      }),
    );
    expect(last.map((chunk) => chunk.choices[0]?.finish_reason)).toEqual(["length"]);
    expect(tracker.snapshot()).toEqual({ promptTokens: undefined, completionTokens: 1 });
  });
});

describe("Ollama adapter over a scripted engine", () => {
  let server: Server;
  let baseUrl: string;
  let handler: (request: IncomingMessage, response: ServerResponse) => void;
  let closedEarly = 0;

  beforeAll(async () => {
    server = createServer((request, response) => {
      request.resume();
      request.on("end", () => handler(request, response));
      response.on("close", () => {
        if (!response.writableFinished) closedEarly += 1;
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function collect(
    stream: AsyncIterable<ChatCompletionChunk>,
  ): Promise<{ chunks: ChatCompletionChunk[]; error: unknown }> {
    const chunks: ChatCompletionChunk[] = [];
    try {
      for await (const chunk of stream) chunks.push(chunk);
      return { chunks, error: undefined };
    } catch (error) {
      return { chunks, error };
    }
  }

  function line(content: string, done = false): string {
    return `${JSON.stringify({ model: "m", created_at: new Date().toISOString(), message: { role: "assistant", content }, done, ...(done ? { done_reason: "stop", prompt_eval_count: 4, eval_count: 2 } : {}) })}\n`;
  }

  it("maps Ollama's error bodies: missing model, bad request, server error", async () => {
    const adapter = createOllamaAdapter({ engineUrl: baseUrl });
    try {
      for (const [status, message, code, retryable] of [
        [404, 'model "nope" not found, try pulling it first', "RUNNER_ERR_MODEL_NOT_FOUND", true],
        [400, "invalid options: num_ctx", "RUNNER_ERR_ENGINE_BAD_REQUEST", false],
        [500, "llama runner process has terminated", "RUNNER_ERR_ENGINE_FAILED", true],
      ] as const) {
        handler = (_request, response) => {
          response.writeHead(status, { "content-type": "application/json; charset=utf-8" });
          response.end(JSON.stringify({ error: message }));
        };
        const { chunks, error } = await collect(adapter.chat(chatRequest(), { signal: new AbortController().signal }));
        expect(chunks).toEqual([]);
        expect(error).toMatchObject({ code, retryable, message, status });
      }
    } finally {
      await adapter.close();
    }
  });

  it("fails after the chunks already produced on an in-stream error line, keeping the running count", async () => {
    handler = (_request, response) => {
      response.writeHead(200, { "content-type": "application/x-ndjson" });
      response.end(
        `${line("a")}${line("b")}${JSON.stringify({ error: "an error was encountered while running the model" })}\n`,
      );
    };
    const adapter = createOllamaAdapter({ engineUrl: baseUrl });
    try {
      const stream = adapter.chat(chatRequest(), { signal: new AbortController().signal });
      const { chunks, error } = await collect(stream);
      expect(chunks.map((chunk) => chunk.choices[0]?.delta.content)).toEqual(["", "a", "b"]);
      expect(error).toMatchObject({ code: "RUNNER_ERR_ENGINE_FAILED", retryable: true });
      expect((error as Error).message).toContain("an error was encountered while running the model");
      expect(runningUsage(stream)).toEqual({ promptTokens: undefined, completionTokens: 2 });
    } finally {
      await adapter.close();
    }
  });

  it("fails a stream cut before its done message", async () => {
    handler = (_request, response) => {
      response.writeHead(200, { "content-type": "application/x-ndjson" });
      response.end(line("a"));
    };
    const adapter = createOllamaAdapter({ engineUrl: baseUrl });
    try {
      const { chunks, error } = await collect(adapter.chat(chatRequest(), { signal: new AbortController().signal }));
      expect(chunks).toHaveLength(2);
      expect(error).toMatchObject({ code: "RUNNER_ERR_ENGINE_FAILED" });
    } finally {
      await adapter.close();
    }
  });

  it("aborts a request still waiting for Ollama's first byte", async () => {
    handler = () => {
      // Never answers: a model still loading.
    };
    const adapter = createOllamaAdapter({ engineUrl: baseUrl });
    try {
      const before = closedEarly;
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 30);
      const started = Date.now();
      const { error } = await collect(adapter.chat(chatRequest(), { signal: controller.signal }));
      expect(error).toMatchObject({ code: "RUNNER_ERR_CANCELLED" });
      expect(Date.now() - started).toBeLessThan(1_000);
      await expect.poll(() => closedEarly - before, { timeout: 100, interval: 5 }).toBe(1);
    } finally {
      await adapter.close();
    }
  });

  it("encodes embeddings as base64 float32 when asked", async () => {
    handler = (_request, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ model: "e", embeddings: [[0.5, -1]], prompt_eval_count: 3 }));
    };
    const adapter = createOllamaAdapter({ engineUrl: baseUrl });
    try {
      const answer = await adapter.embed(
        { model: "nomic-embed-text", input: "x", encoding_format: "base64" },
        { signal: new AbortController().signal },
      );
      const encoded = answer.data[0]?.embedding as unknown as string;
      expect([...new Float32Array(Uint8Array.from(Buffer.from(encoded, "base64")).buffer)]).toEqual([0.5, -1]);
      expect(answer).toMatchObject({
        object: "list",
        model: "nomic-embed-text",
        usage: { prompt_tokens: 3, total_tokens: 3 },
      });
    } finally {
      await adapter.close();
    }
  });
});
