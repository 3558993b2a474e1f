/**
 * Adapter for Ollama's native API through the `ollama` package: `/api/chat`, `/api/generate`,
 * `/api/embed`, `/api/tags`, `/api/version`. Requests are mapped in ollama-request.ts, stream
 * messages in ollama-chunks.ts.
 *
 * The package's own fetch is replaced by undici's over one keep-alive Agent, and each call gets
 * a client whose fetch also listens to the job's signal: the package only exposes `.abort()` on
 * an iterator once the response headers arrived, and not at all on `embed`, so a job cancelled
 * while the engine is still loading the model or evaluating the prompt must be aborted this way.
 */
import { type AbortableAsyncIterator, Ollama } from "ollama";
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming } from "openai/resources/chat/completions";
import type { Completion, CompletionCreateParamsStreaming } from "openai/resources/completions";
import type { CreateEmbeddingResponse, Embedding, EmbeddingCreateParams } from "openai/resources/embeddings";
import { Agent, fetch as undiciFetch } from "undici";
import type { EngineAdapter, EngineCallOptions, EngineError, EngineModelInfo } from "./engine.ts";
import { createEngineStream, type EngineStream } from "./engine-stream.ts";
import { type FailurePhase, mapStatusError, mapTransportError, protocolError, throwIfCancelled } from "./errors.ts";
import { OllamaChatChunker, OllamaCompletionChunker } from "./ollama-chunks.ts";
import { toOllamaChatRequest, toOllamaEmbedRequest, toOllamaGenerateRequest } from "./ollama-request.ts";

export interface OllamaAdapterOptions {
  /** Server root, e.g. `http://127.0.0.1:11434`. */
  engineUrl: string;
  /** Most connections kept open to the engine. */
  connections?: number;
}

/** Model loads and long prompts can keep Ollama silent for minutes; cancellation is the signal's job. */
const ENGINE_TIMEOUT_MS = 10 * 60_000;
const HEALTH_TIMEOUT_MS = 5_000;

/** The package throws this (not exported by its types) for HTTP error answers. */
function responseErrorStatus(error: unknown): number | undefined {
  if (error instanceof Error && error.name === "ResponseError") {
    const status = (error as { status_code?: unknown }).status_code;
    if (typeof status === "number") return status;
  }
  return undefined;
}

function mapOllamaError(error: unknown, signal: AbortSignal | undefined, phase: FailurePhase): EngineError {
  if (signal?.aborted) return mapTransportError(error, signal, phase);
  const status = responseErrorStatus(error);
  if (status !== undefined) return mapStatusError(status, error instanceof Error ? error.message : String(error));
  // Anything else mid-stream is an `{"error":…}` line, a cut connection or a truncated stream.
  return mapTransportError(error, signal, phase);
}

function hostOf(engineUrl: string): string {
  return engineUrl.replace(/\/+$/, "").replace(/\/api$/, "");
}

export function createOllamaAdapter(options: OllamaAdapterOptions): EngineAdapter {
  const host = hostOf(options.engineUrl);
  const agent = new Agent({
    connections: options.connections ?? 64,
    keepAliveTimeout: 4_000,
    headersTimeout: ENGINE_TIMEOUT_MS,
    bodyTimeout: ENGINE_TIMEOUT_MS,
    connect: { timeout: 5_000 },
  });

  /** A client whose requests end when `callSignal` aborts, over the shared keep-alive agent. */
  function clientFor(callSignal: AbortSignal | undefined): Ollama {
    const fetchThroughAgent = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const signals = [init?.signal, callSignal].filter(
        (signal): signal is AbortSignal => signal instanceof AbortSignal,
      );
      const response = await undiciFetch(input instanceof Request ? input.url : String(input), {
        method: init?.method ?? "GET",
        // The package always sends a plain header object and a string body.
        headers: init?.headers as Record<string, string> | undefined,
        body: typeof init?.body === "string" ? init.body : null,
        signal: signals.length > 0 ? AbortSignal.any(signals) : null,
        dispatcher: agent,
      });
      // undici's Response is the WHATWG Response the package expects; only the type packages differ.
      return response as unknown as Response;
    };
    return new Ollama({ host, fetch: fetchThroughAgent });
  }

  /** Runs one streamed Ollama call, hooking the job's signal to the iterator's abort. */
  async function* streamFrom<Message extends object, Chunk>(
    open: (client: Ollama) => Promise<AbortableAsyncIterator<Message>>,
    mapMessage: (message: Message) => Chunk[],
    signal: AbortSignal,
  ): AsyncGenerator<Chunk> {
    throwIfCancelled(signal);
    let iterator: AbortableAsyncIterator<Message>;
    try {
      iterator = await open(clientFor(signal));
    } catch (error) {
      throw mapOllamaError(error, signal, "connect");
    }
    const abort = () => iterator.abort();
    signal.addEventListener("abort", abort, { once: true });
    let answered = false;
    let finished = false;
    try {
      for await (const message of iterator) {
        answered = true;
        for (const chunk of mapMessage(message)) yield chunk;
        if ((message as { done?: unknown }).done === true) finished = true;
      }
    } catch (error) {
      throw mapOllamaError(error, signal, answered ? "stream" : "connect");
    } finally {
      signal.removeEventListener("abort", abort);
      // The consumer stopped early (or the engine broke): close the request so Ollama stops too.
      if (!finished) iterator.abort();
    }
  }

  return {
    kind: "ollama",

    async listModels(callOptions?: Partial<EngineCallOptions>): Promise<EngineModelInfo[]> {
      throwIfCancelled(callOptions?.signal);
      try {
        const answer = await clientFor(callOptions?.signal).list();
        if (!Array.isArray(answer?.models)) throw protocolError("/api/tags without a models array");
        // "x:latest" is what `ollama pull x` lists; Ollama accepts the bare name, which is how
        // catalogs (and users) spell it.
        return answer.models.map((model) => ({ name: (model.name ?? model.model).replace(/:latest$/, "") }));
      } catch (error) {
        throw mapOllamaError(error, callOptions?.signal, "connect");
      }
    },

    async health(callOptions?: Partial<EngineCallOptions>): Promise<boolean> {
      const timeout = AbortSignal.timeout(HEALTH_TIMEOUT_MS);
      const signal = callOptions?.signal ? AbortSignal.any([callOptions.signal, timeout]) : timeout;
      try {
        const answer = await clientFor(signal).version();
        return typeof answer?.version === "string";
      } catch {
        return false;
      }
    },

    chat(
      request: ChatCompletionCreateParamsStreaming,
      callOptions: EngineCallOptions,
    ): EngineStream<ChatCompletionChunk> {
      return createEngineStream((tracker) => {
        const chunker = new OllamaChatChunker(request.model, tracker);
        return streamFrom(
          // Mapping runs inside the stream so a refused parameter surfaces where the caller iterates.
          async (client) => client.chat(toOllamaChatRequest(request)),
          (message) => chunker.map(message),
          callOptions.signal,
        );
      });
    },

    completion(request: CompletionCreateParamsStreaming, callOptions: EngineCallOptions): EngineStream<Completion> {
      return createEngineStream((tracker) => {
        const chunker = new OllamaCompletionChunker(request.model, tracker);
        return streamFrom(
          async (client) => client.generate(toOllamaGenerateRequest(request)),
          (message) => chunker.map(message),
          callOptions.signal,
        );
      });
    },

    async embed(request: EmbeddingCreateParams, callOptions: EngineCallOptions): Promise<CreateEmbeddingResponse> {
      const embedRequest = toOllamaEmbedRequest(request);
      throwIfCancelled(callOptions.signal);
      let answer: Awaited<ReturnType<Ollama["embed"]>>;
      try {
        answer = await clientFor(callOptions.signal).embed(embedRequest);
      } catch (error) {
        throw mapOllamaError(error, callOptions.signal, "connect");
      }
      if (!Array.isArray(answer?.embeddings)) throw protocolError("/api/embed without an embeddings array");
      const base64 = request.encoding_format === "base64";
      const data = answer.embeddings.map(
        (vector, index): Embedding => ({
          object: "embedding",
          index,
          // OpenAI's base64 form is the little-endian float32 bytes; the SDK's type only names the float form.
          embedding: base64
            ? (Buffer.from(new Float32Array(vector).buffer).toString("base64") as unknown as number[])
            : vector,
        }),
      );
      // Ollama always counts embedded tokens; 0 only if an engine build leaves the field out.
      const promptTokens = typeof answer.prompt_eval_count === "number" ? answer.prompt_eval_count : 0;
      return {
        object: "list",
        data,
        model: request.model,
        usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
      };
    },

    async close(): Promise<void> {
      await agent.destroy();
    },
  };
}
