/**
 * The transport-independent start of a `/v1` generation request: resolve and check the
 * model, create the job, and wait until output begins. HTTP routes and the WebSocket API both
 * come through here, so they refuse and accept exactly the same requests.
 */
import { randomUUID } from "node:crypto";
import type { ApiKeyRecord } from "../../billing/api-keys.ts";
import { promptTokenUpperBound } from "../../billing/metering.ts";
import type { ModelCatalog, ModelTemplate } from "../../models/catalog.ts";
import type { JobOperation } from "../../runners/protocol.ts";
import { invalidRequest, modelNotFound } from "../errors.ts";
import type { GenerationPath } from "../schemas/validation.ts";
import type { Job } from "./job.ts";
import type { JobService } from "./job-service.ts";

const OPERATION_BY_PATH: Record<GenerationPath, JobOperation> = {
  "/v1/chat/completions": "chat",
  "/v1/completions": "completion",
  "/v1/embeddings": "embedding",
};

/** OpenAI's default completion cap for the legacy completions endpoint. */
const LEGACY_COMPLETION_DEFAULT_MAX_TOKENS = 16;

export interface GenerationRequest {
  path: GenerationPath;
  body: Record<string, unknown>;
  apiKey: ApiKeyRecord;
  /** Job id; defaults to a fresh UUID (HTTP passes the request id so x-request-id is the job id). */
  jobId?: string;
}

export interface StartedGeneration {
  job: Job;
  stream: boolean;
  includeUsage: boolean;
}

export interface GenerationDependencies {
  catalog: ModelCatalog;
  jobs: JobService;
}

/** Creates the job without starting it, so the caller can attach cancellation first. */
export function prepareGeneration(dependencies: GenerationDependencies, request: GenerationRequest): StartedGeneration {
  const { body, path } = request;
  const operation = OPERATION_BY_PATH[path];
  const model = dependencies.catalog.resolve(body.model as string);
  if (!model) throw modelNotFound(body.model as string);
  if (operation === "embedding" && model.kind !== "embedding") {
    throw invalidRequest(
      `${model.id} is a chat model; /v1/embeddings needs an embedding model.`,
      "model",
      "model_not_supported",
    );
  }
  if (operation !== "embedding" && model.kind !== "chat") {
    throw invalidRequest(`${model.id} is an embedding model; use /v1/embeddings.`, "model", "model_not_supported");
  }
  const completionCap = completionTokenCap(operation, body, model);
  const stream = operation !== "embedding" && body.stream === true;
  const streamOptions = body.stream_options as { include_usage?: boolean } | null | undefined;
  if (!stream && streamOptions) {
    throw invalidRequest(
      "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
      "stream_options",
      "invalid_value",
    );
  }
  const bound = promptTokenBound(body);
  const job = dependencies.jobs.create({
    id: request.jobId ?? randomUUID(),
    operation,
    model,
    body,
    stream,
    accountId: request.apiKey.accountId,
    apiKeyId: request.apiKey.id,
    // One walk of the body: the hold's bound, and a ~4-bytes-a-token estimate of it for routing load.
    estimatedTokens: Math.ceil(bound / 4) + completionCap,
    promptTokenBound: bound,
    completionCap,
  });
  return { job, stream, includeUsage: stream && streamOptions?.include_usage === true };
}

/** The completion cap a request runs under; refuses caps the model's context cannot hold. */
function completionTokenCap(operation: JobOperation, body: Record<string, unknown>, model: ModelTemplate): number {
  if (operation === "embedding") return 0;
  const requested = (body.max_completion_tokens ?? body.max_tokens) as number | null | undefined;
  if (requested !== undefined && requested !== null && requested >= model.contextLength) {
    const param =
      body.max_completion_tokens === undefined || body.max_completion_tokens === null
        ? "max_tokens"
        : "max_completion_tokens";
    throw invalidRequest(
      `This model's maximum context length is ${model.contextLength} tokens. However, you requested ${requested} completion tokens, which leaves no room for the prompt. Please reduce '${param}'.`,
      param,
      "context_length_exceeded",
    );
  }
  return requested ?? (operation === "completion" ? LEGACY_COMPLETION_DEFAULT_MAX_TOKENS : model.defaultMaxTokens);
}

/**
 * Prompt tokens cannot exceed this (see `promptTokenUpperBound`): text counts by its UTF-8
 * bytes, token-id prompts by their length, tool definitions by their JSON.
 */
function promptTokenBound(body: Record<string, unknown>): number {
  const texts: string[] = [];
  let tokenIds = 0;
  const collect = (value: unknown): void => {
    if (typeof value === "string") texts.push(value);
    else if (typeof value === "number") tokenIds++;
    else if (Array.isArray(value)) for (const item of value) collect(item);
    else if (typeof value === "object" && value !== null) for (const field of Object.values(value)) collect(field);
  };
  collect(body.messages);
  collect(body.prompt);
  collect(body.input);
  if (body.tools !== undefined) texts.push(JSON.stringify(body.tools));
  const messages = Array.isArray(body.messages) ? body.messages.length : 1;
  return promptTokenUpperBound(texts, messages) + tokenIds;
}
