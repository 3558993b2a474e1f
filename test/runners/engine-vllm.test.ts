/**
 * vLLM wire details the simulator does not exercise: SSE split at awkward byte boundaries, both
 * error body generations, in-stream errors, garbled and truncated streams, connection reuse.
 * A scripted node:http server plays the engine.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ChatCompletionChunk } from "openai/resources/chat/completions";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EngineError } from "../../runners/engines/engine.ts";
import { runningUsage } from "../../runners/engines/engine-stream.ts";
import { SseDecoder } from "../../runners/engines/sse.ts";
import { createVllmAdapter, parseEngineUrl } from "../../runners/engines/vllm.ts";

type Handler = (request: IncomingMessage, body: string, response: ServerResponse) => void;

let server: Server;
let baseUrl: string;
let handler: Handler;
let connections = 0;
const closedRequests: string[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (data: string) => {
      body += data;
    });
    request.on("end", () => handler(request, body, response));
    response.on("close", () => {
      if (!response.writableFinished) closedRequests.push(request.url ?? "");
    });
  });
  server.on("connection", () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

afterEach(() => {
  closedRequests.length = 0;
});

const chatRequest = {
  model: "Qwen/Qwen2.5-7B-Instruct",
  messages: [{ role: "user" as const, content: "hi" }],
  stream: true as const,
};

function sseChunk(content: string | undefined, completionTokens: number, finishReason: string | null = null): string {
  const delta = content === undefined ? {} : { content };
  return JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion.chunk",
    created: 1,
    model: chatRequest.model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    usage: { prompt_tokens: 3, completion_tokens: completionTokens, total_tokens: 3 + completionTokens },
  });
}

function streamHead(response: ServerResponse): void {
  response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8" });
  response.flushHeaders();
}

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

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("parseEngineUrl", () => {
  it("accepts the root with or without /v1 and a path prefix", () => {
    expect(parseEngineUrl("http://host:8000")).toEqual({ origin: "http://host:8000", basePath: "" });
    expect(parseEngineUrl("http://host:8000/v1/")).toEqual({ origin: "http://host:8000", basePath: "" });
    expect(parseEngineUrl("https://proxy/vllm/v1")).toEqual({ origin: "https://proxy", basePath: "/vllm" });
  });
});

describe("SseDecoder", () => {
  it("reassembles events split anywhere, CRLF line ends, comments and multi-line data", () => {
    const decoder = new SseDecoder();
    const text = ': keep-alive\r\n\r\ndata: {"a":1}\r\n\r\nevent: x\ndata: line1\ndata: line2\n\ndata:[DONE]\n\n';
    const events: string[] = [];
    for (const character of text) events.push(...decoder.push(character));
    events.push(...decoder.finish());
    expect(events).toEqual(['{"a":1}', "line1\nline2", "[DONE]"]);
  });

  it("delivers a last event cut before its blank line", () => {
    const decoder = new SseDecoder();
    expect(decoder.push("data: {}")).toEqual([]);
    expect(decoder.finish()).toEqual(["{}"]);
  });
});

describe("vLLM adapter over a scripted engine", () => {
  it("sends stream options and the key, and parses chunks split across network writes", async () => {
    let seen: { url: string | undefined; authorization: string | undefined; body: Record<string, unknown> } | undefined;
    handler = (request, body, response) => {
      seen = { url: request.url, authorization: request.headers.authorization, body: JSON.parse(body) };
      streamHead(response);
      const wire = Buffer.from(
        `data: ${sseChunk("", 0)}\r\n\r\ndata: ${sseChunk("héllo ", 1)}\n\ndata: ${sseChunk("wörld", 2)}\n\ndata: ${sseChunk(undefined, 2, "stop")}\n\ndata: [DONE]\n\n`,
      );
      // Write in 7-byte pieces so lines, JSON and multi-byte characters are all cut.
      let offset = 0;
      const writeNext = () => {
        if (offset >= wire.length) {
          response.end();
          return;
        }
        response.write(wire.subarray(offset, offset + 7));
        offset += 7;
        setImmediate(writeNext);
      };
      writeNext();
    };
    const adapter = createVllmAdapter({ engineUrl: `${baseUrl}/v1`, apiKey: "secret" });
    try {
      const stream = adapter.chat(chatRequest, { signal: new AbortController().signal });
      const { chunks, error } = await collect(stream);
      expect(error).toBeUndefined();
      expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? null)).toEqual(["", "héllo ", "wörld", null]);
      expect(runningUsage(stream)).toEqual({ promptTokens: 3, completionTokens: 2 });
      expect(seen?.url).toBe("/v1/chat/completions");
      expect(seen?.authorization).toBe("Bearer secret");
      expect(seen?.body).toMatchObject({
        stream: true,
        stream_options: { include_usage: true, continuous_usage_stats: true },
      });
    } finally {
      await adapter.close();
    }
  });

  it("reuses one keep-alive connection across jobs", async () => {
    handler = (_request, _body, response) => {
      streamHead(response);
      response.end(`data: ${sseChunk("x", 1, "stop")}\n\ndata: [DONE]\n\n`);
    };
    const adapter = createVllmAdapter({ engineUrl: baseUrl });
    try {
      const before = connections;
      for (let job = 0; job < 6; job += 1) {
        const { error } = await collect(adapter.chat(chatRequest, { signal: new AbortController().signal }));
        expect(error).toBeUndefined();
      }
      // undici frees a connection a tick after the body ends, so a job sent in that same tick
      // may open a second one; after that the two are reused.
      expect(connections - before).toBeLessThanOrEqual(2);
    } finally {
      await adapter.close();
    }
  });

  it.each([
    {
      name: "current vLLM 400",
      status: 400,
      body: {
        error: { message: "max_tokens must be at least 1, got -1.", type: "BadRequestError", param: null, code: 400 },
      },
      code: "RUNNER_ERR_ENGINE_BAD_REQUEST",
      retryable: false,
      message: "max_tokens must be at least 1, got -1.",
    },
    {
      name: "older vLLM 404",
      status: 404,
      body: {
        object: "error",
        message: "The model `nope` does not exist.",
        type: "NotFoundError",
        param: null,
        code: 404,
      },
      code: "RUNNER_ERR_MODEL_NOT_FOUND",
      retryable: true,
      message: "The model `nope` does not exist.",
    },
    {
      name: "model missing reported as 400",
      status: 400,
      body: {
        object: "error",
        message: "The model `nope` does not exist.",
        type: "BadRequestError",
        param: null,
        code: 400,
      },
      code: "RUNNER_ERR_MODEL_NOT_FOUND",
      retryable: true,
      message: "The model `nope` does not exist.",
    },
    {
      name: "500",
      status: 500,
      body: { error: { message: "EngineCore died", type: "InternalServerError", param: null, code: 500 } },
      code: "RUNNER_ERR_ENGINE_FAILED",
      retryable: true,
      message: "EngineCore died",
    },
  ])("maps an error answer: $name", async ({ status, body, code, retryable, message }) => {
    handler = (_request, _body, response) => {
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(body));
    };
    const adapter = createVllmAdapter({ engineUrl: baseUrl });
    try {
      const { chunks, error } = await collect(adapter.chat(chatRequest, { signal: new AbortController().signal }));
      expect(chunks).toEqual([]);
      expect(error).toBeInstanceOf(EngineError);
      expect(error).toMatchObject({ code, retryable, message, status });
    } finally {
      await adapter.close();
    }
  });

  it("surfaces an in-stream error event after the chunks before it", async () => {
    handler = (_request, _body, response) => {
      streamHead(response);
      response.end(
        `data: ${sseChunk("a", 1)}\n\ndata: ${JSON.stringify({ error: { message: "CUDA error: out of memory", type: "InternalServerError", code: 500 } })}\n\ndata: [DONE]\n\n`,
      );
    };
    const adapter = createVllmAdapter({ engineUrl: baseUrl });
    try {
      const { chunks, error } = await collect(adapter.chat(chatRequest, { signal: new AbortController().signal }));
      expect(chunks).toHaveLength(1);
      expect(error).toMatchObject({ code: "RUNNER_ERR_ENGINE_FAILED", message: "CUDA error: out of memory" });
    } finally {
      await adapter.close();
    }
  });

  it("reports a garbled stream as a protocol error and a cut one as failed", async () => {
    const adapter = createVllmAdapter({ engineUrl: baseUrl });
    try {
      handler = (_request, _body, response) => {
        streamHead(response);
        response.end(`data: ${sseChunk("a", 1)}\n\ndata: {"choices": [\n\n`);
      };
      const garbled = await collect(adapter.chat(chatRequest, { signal: new AbortController().signal }));
      expect(garbled.chunks).toHaveLength(1);
      expect(garbled.error).toMatchObject({ code: "RUNNER_ERR_ENGINE_PROTOCOL" });

      handler = (_request, _body, response) => {
        streamHead(response);
        response.write(`data: ${sseChunk("a", 1)}\n\n`);
        setTimeout(() => response.socket?.destroy(), 10);
      };
      const cut = await collect(adapter.chat(chatRequest, { signal: new AbortController().signal }));
      expect(cut.chunks).toHaveLength(1);
      expect(cut.error).toMatchObject({ code: "RUNNER_ERR_ENGINE_FAILED", retryable: true });

      handler = (_request, _body, response) => {
        streamHead(response);
        response.end(`data: ${sseChunk("a", 1)}\n\n`);
      };
      const noDone = await collect(adapter.chat(chatRequest, { signal: new AbortController().signal }));
      expect(noDone.error).toMatchObject({
        code: "RUNNER_ERR_ENGINE_FAILED",
        message: expect.stringContaining("[DONE]"),
      });
    } finally {
      await adapter.close();
    }
  });

  it("closes the engine request at once on abort and when the consumer stops early", async () => {
    handler = (request, _body, response) => {
      streamHead(response);
      let tokens = 0;
      const timer = setInterval(() => {
        tokens += 1;
        response.write(`data: ${sseChunk("t", tokens)}\n\n`);
      }, 5);
      request.socket.on("close", () => clearInterval(timer));
      response.on("close", () => clearInterval(timer));
    };
    const adapter = createVllmAdapter({ engineUrl: baseUrl });
    try {
      const controller = new AbortController();
      const stream = adapter.chat(chatRequest, { signal: controller.signal });
      const seen: ChatCompletionChunk[] = [];
      let caught: unknown;
      try {
        for await (const chunk of stream) {
          seen.push(chunk);
          if (seen.length === 3) controller.abort();
        }
      } catch (error) {
        caught = error;
      }
      expect(caught).toMatchObject({ code: "RUNNER_ERR_CANCELLED" });
      await waitFor(() => closedRequests.length === 1, 100);
      expect(runningUsage(stream)?.completionTokens).toBeGreaterThanOrEqual(3);

      for await (const _chunk of adapter.chat(chatRequest, { signal: new AbortController().signal })) break;
      await waitFor(() => closedRequests.length === 2, 100);
    } finally {
      await adapter.close();
    }
  });

  it("fails fast with CANCELLED for an already aborted signal, without a request", async () => {
    let requests = 0;
    handler = (_request, _body, response) => {
      requests += 1;
      response.end();
    };
    const adapter = createVllmAdapter({ engineUrl: baseUrl });
    try {
      const { error } = await collect(adapter.chat(chatRequest, { signal: AbortSignal.abort() }));
      expect(error).toMatchObject({ code: "RUNNER_ERR_CANCELLED", retryable: false });
      expect(requests).toBe(0);
    } finally {
      await adapter.close();
    }
  });

  it("lists models, checks health and embeds", async () => {
    handler = (request, _body, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      if (request.url === "/v1/models")
        response.end(
          JSON.stringify({
            object: "list",
            data: [
              { id: "a", object: "model" },
              { id: "b", object: "model" },
            ],
          }),
        );
      else if (request.url === "/health") response.end();
      else
        response.end(
          JSON.stringify({
            object: "list",
            data: [{ object: "embedding", index: 0, embedding: [0.5] }],
            model: "e",
            usage: { prompt_tokens: 1, total_tokens: 1 },
          }),
        );
    };
    const adapter = createVllmAdapter({ engineUrl: baseUrl });
    try {
      expect(await adapter.listModels()).toEqual([{ name: "a" }, { name: "b" }]);
      expect(await adapter.health()).toBe(true);
      const embedding = await adapter.embed({ model: "e", input: "x" }, { signal: new AbortController().signal });
      expect(embedding.data[0]?.embedding).toEqual([0.5]);
    } finally {
      await adapter.close();
    }
  });
});
