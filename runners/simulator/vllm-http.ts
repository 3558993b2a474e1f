/** vLLM's wire details shared by its endpoints: error envelope, ids, usage and SSE chunks. */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { GenerationRun } from "./generation.ts";
import { canWrite, headerValue, sendJson } from "./http-io.ts";

function errorType(status: number): string {
  if (status === 404) return "NotFoundError";
  if (status === 405) return "MethodNotAllowedError";
  if (status === 503) return "ServiceUnavailableError";
  if (status >= 500) return "InternalServerError";
  return "BadRequestError";
}

export function vllmErrorJson(status: number, message: string): string {
  return JSON.stringify({ error: { message, type: errorType(status), param: null, code: status } });
}

export function sendVllmError(response: ServerResponse, status: number, message: string): void {
  sendJson(response, status, vllmErrorJson(status, message));
}

/** `<prefix>-<X-Request-Id or a fresh uuid hex>`, as vLLM names requests. */
export function vllmRequestId(prefix: string, request: IncomingMessage): string {
  return `${prefix}-${headerValue(request, "x-request-id") ?? randomUUID().replaceAll("-", "")}`;
}

export interface VllmUsage {
  prompt_tokens: number;
  total_tokens: number;
  completion_tokens: number;
  prompt_tokens_details: { cached_tokens: number } | null;
}

export function vllmUsage(run: GenerationRun): VllmUsage {
  return {
    prompt_tokens: run.promptTokens,
    total_tokens: run.promptTokens + run.completionTokens,
    completion_tokens: run.completionTokens,
    prompt_tokens_details: { cached_tokens: run.cachedTokens },
  };
}

export interface StreamUsageSettings {
  /** stream_options.include_usage: `"usage":null` on every chunk, then a usage-only chunk. */
  includeUsage: boolean;
  /** stream_options.continuous_usage_stats: the running usage on every chunk. */
  continuousUsage: boolean;
}

/**
 * Writes one response's SSE chunks. The chunk envelope (id, object, created, model) is built
 * once; each token only adds its choice fragment, so the hot path is a few string joins.
 */
export class VllmChunkStream {
  private readonly envelope: string;

  constructor(
    private readonly response: ServerResponse,
    private readonly run: GenerationRun,
    envelope: { id: string; object: string; created: number; model: string },
    private readonly usage: StreamUsageSettings,
  ) {
    this.envelope = `{"id":${JSON.stringify(envelope.id)},"object":${JSON.stringify(envelope.object)},"created":${envelope.created},"model":${JSON.stringify(envelope.model)},"choices":`;
    response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
    // Headers leave now, as vLLM's do, so the client sees the stream open before the first token.
    response.flushHeaders();
  }

  /** One chunk carrying one choice fragment (already JSON). */
  writeChoice(choiceJson: string): boolean {
    let usage = "";
    if (this.usage.continuousUsage) usage = `,"usage":${this.runningUsageJson()}`;
    else if (this.usage.includeUsage) usage = ',"usage":null';
    return this.write(`${this.envelope}[${choiceJson}]${usage}}`);
  }

  /** The usage-only chunk, then `[DONE]`, then the end of the response. */
  finish(): void {
    if (this.usage.includeUsage || this.usage.continuousUsage)
      this.write(`${this.envelope}[],"usage":${JSON.stringify(vllmUsage(this.run))}}`);
    if (!canWrite(this.response)) return;
    this.response.end("data: [DONE]\n\n");
  }

  /** Same JSON as `vllmUsage`, written by hand: this runs for every token of every adapter stream. */
  private runningUsageJson(): string {
    const { promptTokens, completionTokens, cachedTokens } = this.run;
    return `{"prompt_tokens":${promptTokens},"total_tokens":${promptTokens + completionTokens},"completion_tokens":${completionTokens},"prompt_tokens_details":{"cached_tokens":${cachedTokens}}}`;
  }

  private write(json: string): boolean {
    if (!canWrite(this.response)) return true;
    return this.response.write(`data: ${json}\n\n`);
  }
}
