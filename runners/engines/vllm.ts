/**
 * Adapter for vLLM's OpenAI-compatible server (and the built-in simulator, which speaks the same
 * API). Chunks are vLLM's own OpenAI-shaped objects, passed through after a shape check.
 *
 * Transport: one undici Pool per adapter with keep-alive connections, so a busy runner does not
 * pay a TCP handshake per job. Aborting a job's signal destroys its socket at once, which is how
 * vLLM notices the client left and frees the sequence.
 */
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming } from "openai/resources/chat/completions";
import type { Completion, CompletionCreateParamsStreaming } from "openai/resources/completions";
import type { CreateEmbeddingResponse, EmbeddingCreateParams } from "openai/resources/embeddings";
import { type Dispatcher, Pool } from "undici";
import type { EngineAdapter, EngineCallOptions, EngineModelInfo } from "./engine.ts";
import { createEngineStream, type EngineStream, type UsageTracker } from "./engine-stream.ts";
import {
  engineErrorBody,
  isRecord,
  mapStatusBody,
  mapStatusError,
  mapTransportError,
  protocolError,
  throwIfCancelled,
} from "./errors.ts";
import { SseDecoder } from "./sse.ts";

export interface VllmAdapterOptions {
  /** Server root, e.g. `http://127.0.0.1:8000`; a trailing `/v1` is accepted too. */
  engineUrl: string;
  /** Sent as a bearer token (vLLM's `--api-key`). */
  apiKey?: string;
  kind?: "vllm" | "sim";
  /** Most connections kept open to the engine; roughly the concurrent jobs expected. */
  connections?: number;
}

const DEFAULT_CONNECTIONS = 64;
/** Long prompts can queue in vLLM for minutes before the first byte; cancellation is the caller's signal. */
const ENGINE_TIMEOUT_MS = 10 * 60_000;
const CONNECT_TIMEOUT_MS = 5_000;
const HEALTH_TIMEOUT_MS = 5_000;
/** An unfinished SSE line longer than this is garbage, not a slow event. */
const MAX_PENDING_EVENT_CHARS = 16 * 1024 * 1024;

/** Splits the configured URL into the pool's origin and a path prefix without `/v1`. */
export function parseEngineUrl(engineUrl: string): { origin: string; basePath: string } {
  const url = new URL(engineUrl);
  let basePath = url.pathname.replace(/\/+$/, "");
  if (basePath.endsWith("/v1")) basePath = basePath.slice(0, -3);
  return { origin: url.origin, basePath };
}

export function createVllmAdapter(options: VllmAdapterOptions): EngineAdapter {
  const { origin, basePath } = parseEngineUrl(options.engineUrl);
  const pool = new Pool(origin, {
    connections: options.connections ?? DEFAULT_CONNECTIONS,
    keepAliveTimeout: 4_000,
    keepAliveMaxTimeout: 10 * 60_000,
    headersTimeout: ENGINE_TIMEOUT_MS,
    bodyTimeout: ENGINE_TIMEOUT_MS,
    connect: { timeout: CONNECT_TIMEOUT_MS },
  });
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  const streamHeaders = { ...headers, accept: "text/event-stream" };

  async function send(
    method: "GET" | "POST",
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
    requestHeaders: Record<string, string> = headers,
  ): Promise<Dispatcher.ResponseData> {
    throwIfCancelled(signal);
    let response: Dispatcher.ResponseData;
    try {
      response = await pool.request({
        method,
        path: `${basePath}${path}`,
        headers: requestHeaders,
        body: body === undefined ? null : JSON.stringify(body),
        signal: signal ?? null,
      });
    } catch (error) {
      throw mapTransportError(error, signal, "connect");
    }
    if (response.statusCode >= 400) {
      let text = "";
      try {
        text = await response.body.text();
      } catch (error) {
        throw mapTransportError(error, signal, "connect");
      }
      throw mapStatusBody(response.statusCode, text);
    }
    return response;
  }

  async function receiveJson(method: "GET" | "POST", path: string, body: unknown, signal: AbortSignal | undefined) {
    const response = await send(method, path, body, signal);
    let text: string;
    try {
      text = await response.body.text();
    } catch (error) {
      throw mapTransportError(error, signal, "stream");
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw protocolError(`${path} answered non-JSON: ${text.slice(0, 200)}`);
    }
  }

  async function* streamChunks<Chunk extends ChatCompletionChunk | Completion>(
    path: string,
    request: ChatCompletionCreateParamsStreaming | CompletionCreateParamsStreaming,
    signal: AbortSignal,
    tracker: UsageTracker,
  ): AsyncGenerator<Chunk> {
    // Always stream with per-chunk usage: a job cancelled half-way still knows its counts.
    const payload = {
      ...request,
      stream: true,
      stream_options: { ...request.stream_options, include_usage: true, continuous_usage_stats: true },
    };
    const response = await send("POST", path, payload, signal, streamHeaders);
    const contentType = String(response.headers["content-type"] ?? "");
    if (contentType.includes("application/json")) {
      response.body.destroy();
      throw protocolError(`${path} answered JSON where an event stream was asked for`);
    }
    const body = response.body;
    // Streaming decode: a network chunk may end inside a multi-byte character.
    const textDecoder = new TextDecoder("utf-8");
    const decoder = new SseDecoder();
    let finished = false;
    try {
      for await (const bytes of body as AsyncIterable<Uint8Array>) {
        // After [DONE] the rest is drained, not yielded, so the connection can be reused.
        if (finished) continue;
        for (const data of decoder.push(textDecoder.decode(bytes, { stream: true }))) {
          if (data === "[DONE]") {
            finished = true;
            break;
          }
          yield parseChunk<Chunk>(data, tracker);
        }
        if (decoder.pendingLength > MAX_PENDING_EVENT_CHARS) throw protocolError("stream event too long");
      }
      if (!finished) {
        for (const data of decoder.finish()) {
          if (data === "[DONE]") {
            finished = true;
            break;
          }
          yield parseChunk<Chunk>(data, tracker);
        }
      }
    } catch (error) {
      // A connection dropped while draining after [DONE] lost nothing: the answer was complete.
      if (finished) return;
      throw mapTransportError(error, signal, "stream");
    } finally {
      // Reached when the consumer stops early too: closing the socket stops the engine's work.
      if (!body.readableEnded) body.destroy();
    }
    if (!finished) {
      throw mapTransportError(new Error("the engine closed the stream before [DONE]"), signal, "stream");
    }
  }

  return {
    kind: options.kind ?? "vllm",

    async listModels(callOptions?: Partial<EngineCallOptions>): Promise<EngineModelInfo[]> {
      const answer = await receiveJson("GET", "/v1/models", undefined, callOptions?.signal);
      if (!isRecord(answer) || !Array.isArray(answer.data)) throw protocolError("/v1/models without a data array");
      return answer.data.flatMap((model: unknown) =>
        isRecord(model) && typeof model.id === "string" ? [{ name: model.id }] : [],
      );
    },

    async health(callOptions?: Partial<EngineCallOptions>): Promise<boolean> {
      const timeout = AbortSignal.timeout(HEALTH_TIMEOUT_MS);
      const signal = callOptions?.signal ? AbortSignal.any([callOptions.signal, timeout]) : timeout;
      try {
        const response = await send("GET", "/health", undefined, signal);
        await response.body.dump();
        return true;
      } catch {
        return false;
      }
    },

    chat(
      request: ChatCompletionCreateParamsStreaming,
      callOptions: EngineCallOptions,
    ): EngineStream<ChatCompletionChunk> {
      return createEngineStream((tracker) =>
        streamChunks<ChatCompletionChunk>("/v1/chat/completions", request, callOptions.signal, tracker),
      );
    },

    completion(request: CompletionCreateParamsStreaming, callOptions: EngineCallOptions): EngineStream<Completion> {
      return createEngineStream((tracker) =>
        streamChunks<Completion>("/v1/completions", request, callOptions.signal, tracker),
      );
    },

    async embed(request: EmbeddingCreateParams, callOptions: EngineCallOptions): Promise<CreateEmbeddingResponse> {
      const answer = await receiveJson("POST", "/v1/embeddings", request, callOptions.signal);
      if (!isRecord(answer) || !Array.isArray(answer.data)) throw protocolError("/v1/embeddings without a data array");
      return answer as unknown as CreateEmbeddingResponse;
    },

    async close(): Promise<void> {
      // Destroy, not close: an abandoned stream must not keep the runner from shutting down.
      await pool.destroy();
    },
  };
}

/** Parses one SSE event into a chunk, surfacing in-stream error events as EngineErrors. */
function parseChunk<Chunk extends ChatCompletionChunk | Completion>(data: string, tracker: UsageTracker): Chunk {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    throw protocolError(`invalid JSON in stream event: ${data.slice(0, 200)}`);
  }
  const errorBody = engineErrorBody(parsed);
  if (errorBody) {
    // vLLM reports failures found after the headers went out as an event with the HTTP code.
    throw mapStatusError(errorBody.code ?? 500, errorBody.message);
  }
  if (!isRecord(parsed) || !Array.isArray(parsed.choices))
    throw protocolError(`stream event without choices: ${data.slice(0, 200)}`);
  for (const choice of parsed.choices) {
    if (!isRecord(choice)) throw protocolError("stream choice is not an object");
    if (hasOutput(choice)) tracker.countPiece();
  }
  const usage = parsed.usage;
  if (isRecord(usage)) {
    tracker.report(
      typeof usage.prompt_tokens === "number" ? usage.prompt_tokens : undefined,
      typeof usage.completion_tokens === "number" ? usage.completion_tokens : undefined,
    );
  }
  return parsed as unknown as Chunk;
}

function hasOutput(choice: Record<string, unknown>): boolean {
  if (typeof choice.text === "string") return choice.text !== "";
  const delta = choice.delta;
  if (!isRecord(delta)) return false;
  return (typeof delta.content === "string" && delta.content !== "") || Array.isArray(delta.tool_calls);
}
