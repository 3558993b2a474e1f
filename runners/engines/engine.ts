/**
 * What the runner agent needs from an inference engine. Each adapter (vLLM, Ollama, simulator)
 * speaks its engine's real wire format and answers in OpenAI's shapes.
 *
 * Chat and completion calls always stream from the engine, whatever the client asked for, so
 * that a cancelled job still knows how many tokens it produced. Usage rules for the yielded
 * chunks: `usage`, when set on any chunk, is the running total so far (prompt tokens and
 * completion tokens produced up to and including that chunk); the stream ends with a usage-only
 * chunk (`choices: []`) carrying the final counts whenever the engine reports them. Content
 * chunks are in OpenAI's shape for the operation; the agent, not the adapter, decides what the
 * client sees.
 */
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming } from "openai/resources/chat/completions";
import type { Completion, CompletionCreateParamsStreaming } from "openai/resources/completions";
import type { CreateEmbeddingResponse, EmbeddingCreateParams } from "openai/resources/embeddings";
import type { EngineKind } from "../protocol.ts";

export interface EngineCallOptions {
  /** Aborting it must stop the engine's work (close the HTTP request) promptly. */
  signal: AbortSignal;
}

export interface EngineModelInfo {
  /** Name the engine serves the model under (vLLM model id, Ollama tag). */
  name: string;
}

export interface EngineAdapter {
  readonly kind: EngineKind;
  /** Models the engine has ready. */
  listModels(options?: Partial<EngineCallOptions>): Promise<EngineModelInfo[]>;
  /** True when the engine answers. */
  health(options?: Partial<EngineCallOptions>): Promise<boolean>;
  chat(request: ChatCompletionCreateParamsStreaming, options: EngineCallOptions): AsyncIterable<ChatCompletionChunk>;
  completion(request: CompletionCreateParamsStreaming, options: EngineCallOptions): AsyncIterable<Completion>;
  embed(request: EmbeddingCreateParams, options: EngineCallOptions): Promise<CreateEmbeddingResponse>;
  /** Releases pooled connections. */
  close(): Promise<void>;
}

/** Error an adapter throws; `status` is the engine's HTTP status when it answered. */
export class EngineError extends Error {
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message);
    this.name = "EngineError";
  }
}

export type EngineErrorCode =
  /** Could not connect, connection reset, engine down. */
  | "RUNNER_ERR_ENGINE_UNAVAILABLE"
  /** The engine rejected the request as invalid (4xx): the client's fault, not retryable. */
  | "RUNNER_ERR_ENGINE_BAD_REQUEST"
  /** The engine does not serve that model. */
  | "RUNNER_ERR_MODEL_NOT_FOUND"
  /** The engine answered 5xx or broke mid-stream. */
  | "RUNNER_ERR_ENGINE_FAILED"
  /** The engine's answer was not in its documented format. */
  | "RUNNER_ERR_ENGINE_PROTOCOL"
  /** The job was cancelled. */
  | "RUNNER_ERR_CANCELLED";
