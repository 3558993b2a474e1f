/**
 * A scripted EngineAdapter for runner agent tests: each call plays a list of steps (chunks with
 * optional delays, or a thrown error), counts how far its iterator was pulled, and keeps the
 * abort signal it was given so tests can check that cancels reach the engine.
 */
import type { ChatCompletionChunk } from "openai/resources/chat/completions";
import type { Completion } from "openai/resources/completions";
import type { CreateEmbeddingResponse, EmbeddingCreateParams } from "openai/resources/embeddings";
import type { EngineAdapter, EngineModelInfo } from "../../runners/engines/engine.ts";
import type { EngineKind, JobOperation } from "../../runners/protocol.ts";

export type ScriptStep<Chunk> = { chunk: Chunk; delayMs?: number } | { error: Error; delayMs?: number };

export interface EngineCall {
  operation: JobOperation;
  request: Record<string, unknown>;
  signal: AbortSignal;
  /** Chunks the agent has pulled (each `next()` that produced one). */
  yielded: number;
  /** True once the generator ran to its end, threw, or was returned. */
  settled: boolean;
}

export interface ScriptedEngineOptions {
  kind?: EngineKind;
  models?: string[];
}

export class ScriptedEngine implements EngineAdapter {
  readonly kind: EngineKind;
  models: string[];
  readonly calls: EngineCall[] = [];
  chatScript: (request: Record<string, unknown>) => ScriptStep<ChatCompletionChunk>[] = () => [];
  completionScript: (request: Record<string, unknown>) => ScriptStep<Completion>[] = () => [];
  embedScript: (request: Record<string, unknown>) => {
    response?: CreateEmbeddingResponse;
    error?: Error;
    delayMs?: number;
  } = () => ({});
  listModelsError: Error | undefined;

  constructor(options: ScriptedEngineOptions = {}) {
    this.kind = options.kind ?? "vllm";
    this.models = options.models ?? [];
  }

  async listModels(): Promise<EngineModelInfo[]> {
    if (this.listModelsError) throw this.listModelsError;
    return this.models.map((name) => ({ name }));
  }

  async health(): Promise<boolean> {
    return true;
  }

  chat(request: object, options: { signal: AbortSignal }): AsyncIterable<ChatCompletionChunk> {
    const requestRecord = { ...request } as Record<string, unknown>;
    return this.play("chat", requestRecord, options.signal, this.chatScript(requestRecord));
  }

  completion(request: object, options: { signal: AbortSignal }): AsyncIterable<Completion> {
    const requestRecord = { ...request } as Record<string, unknown>;
    return this.play("completion", requestRecord, options.signal, this.completionScript(requestRecord));
  }

  async embed(request: EmbeddingCreateParams, options: { signal: AbortSignal }): Promise<CreateEmbeddingResponse> {
    const requestRecord = { ...request } as Record<string, unknown>;
    const call: EngineCall = {
      operation: "embedding",
      request: requestRecord,
      signal: options.signal,
      yielded: 0,
      settled: false,
    };
    this.calls.push(call);
    const step = this.embedScript(requestRecord);
    try {
      await abortableDelay(step.delayMs ?? 0, options.signal);
      if (step.error) throw step.error;
      if (!step.response) throw new Error("no embedding scripted");
      return step.response;
    } finally {
      call.settled = true;
    }
  }

  async close(): Promise<void> {}

  lastCall(): EngineCall {
    const call = this.calls.at(-1);
    if (!call) throw new Error("the engine was never called");
    return call;
  }

  private async *play<Chunk>(
    operation: JobOperation,
    request: Record<string, unknown>,
    signal: AbortSignal,
    steps: ScriptStep<Chunk>[],
  ): AsyncGenerator<Chunk> {
    const call: EngineCall = { operation, request, signal, yielded: 0, settled: false };
    this.calls.push(call);
    try {
      for (const step of steps) {
        await abortableDelay(step.delayMs ?? 0, signal);
        if ("error" in step) throw step.error;
        call.yielded += 1;
        yield step.chunk;
      }
    } finally {
      call.settled = true;
    }
  }
}

function abortableDelay(delayMs: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new DOMException("aborted", "AbortError"));
  if (delayMs <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, delayMs);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new DOMException("aborted", "AbortError"));
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

// ───────────── chunk builders in OpenAI's shapes ─────────────

export function chatChunk(
  content: string,
  options: { index?: number; finishReason?: "stop" | "length"; id?: string } = {},
): ChatCompletionChunk {
  return {
    id: options.id ?? "chatcmpl-test",
    object: "chat.completion.chunk",
    created: 1_700_000_000,
    model: "engine-model",
    choices: [
      {
        index: options.index ?? 0,
        delta: { role: "assistant", content },
        finish_reason: options.finishReason ?? null,
        logprobs: null,
      },
    ],
  };
}

export function chatUsageChunk(promptTokens: number, completionTokens: number): ChatCompletionChunk {
  return {
    id: "chatcmpl-test",
    object: "chat.completion.chunk",
    created: 1_700_000_000,
    model: "engine-model",
    choices: [],
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    },
  };
}

export function completionChunk(
  text: string,
  options: { index?: number; usage?: { prompt: number; completion: number } } = {},
): Completion {
  return {
    id: "cmpl-test",
    object: "text_completion",
    created: 1_700_000_000,
    model: "engine-model",
    choices: [{ index: options.index ?? 0, text, finish_reason: null as unknown as "stop", logprobs: null }],
    ...(options.usage
      ? {
          usage: {
            prompt_tokens: options.usage.prompt,
            completion_tokens: options.usage.completion,
            total_tokens: options.usage.prompt + options.usage.completion,
          },
        }
      : {}),
  };
}

/** A stream of one chunk per word followed by a usage-only chunk. */
export function chatStream(words: string[], promptTokens: number, delayMs = 0): ScriptStep<ChatCompletionChunk>[] {
  return [
    ...words.map((word, position) => ({
      chunk: chatChunk(word, position === words.length - 1 ? { finishReason: "stop" } : {}),
      delayMs,
    })),
    { chunk: chatUsageChunk(promptTokens, words.length) },
  ];
}
