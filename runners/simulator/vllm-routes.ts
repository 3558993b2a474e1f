/** vLLM's non-generation endpoints: models, health, version, metrics and embeddings. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { SimulatorContext } from "./context.ts";
import { embedTokens, float32Base64 } from "./embeddings.ts";
import { canWrite, sendBody, sendJson, waitUnlessClosed } from "./http-io.ts";
import type { SimulatorFault } from "./server.ts";
import { encodeText } from "./tokenizer.ts";
import { sendVllmError, vllmRequestId } from "./vllm-http.ts";
import { describeIssues, embeddingRequestSchema } from "./vllm-schemas.ts";

/** The vLLM release whose API the simulator follows. */
export const SIMULATED_VLLM_VERSION = "0.10.1.1";

export function handleListModels(context: SimulatorContext, response: ServerResponse): void {
  const data = [];
  for (const model of context.vllmModels) {
    for (const name of [model.vllmRepoId, model.id]) {
      data.push({
        id: name,
        object: "model",
        created: context.startedAtSeconds,
        owned_by: "vllm",
        root: model.vllmRepoId,
        parent: null,
        max_model_len: model.contextLength,
        permission: [],
      });
    }
  }
  sendJson(response, 200, JSON.stringify({ object: "list", data }));
}

export function handleHealth(response: ServerResponse): void {
  if (!canWrite(response)) return;
  // vLLM answers a bare 200 with no body and no content type.
  response.writeHead(200, { "content-length": 0 });
  response.end();
}

export function handleVersion(response: ServerResponse): void {
  sendJson(response, 200, JSON.stringify({ version: SIMULATED_VLLM_VERSION }));
}

/** A few of vLLM's Prometheus series, enough for dashboards and runner telemetry. */
export function handleMetrics(context: SimulatorContext, response: ServerResponse): void {
  const { stats, prefixCache } = context;
  const counters = prefixCache.counters();
  const lines = [
    "# HELP vllm:num_requests_running Number of requests in model execution batches.",
    "# TYPE vllm:num_requests_running gauge",
    `vllm:num_requests_running ${stats.activeRequests}`,
    "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
    "# TYPE vllm:num_requests_waiting gauge",
    "vllm:num_requests_waiting 0",
    "# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.",
    "# TYPE vllm:prefix_cache_queries_total counter",
    `vllm:prefix_cache_queries_total ${counters.hitTokens + counters.missTokens}`,
    "# HELP vllm:prefix_cache_hits_total Prefix cache hits, in terms of number of cached tokens.",
    "# TYPE vllm:prefix_cache_hits_total counter",
    `vllm:prefix_cache_hits_total ${counters.hitTokens}`,
    "# HELP vllm:request_success_total Count of successfully processed requests.",
    "# TYPE vllm:request_success_total counter",
    `vllm:request_success_total ${stats.completedRequests}`,
    "",
  ];
  sendBody(response, 200, "text/plain; version=0.0.4; charset=utf-8", lines.join("\n"));
}

export async function handleEmbeddings(
  context: SimulatorContext,
  request: IncomingMessage,
  response: ServerResponse,
  body: unknown,
  fault: SimulatorFault | undefined,
): Promise<void> {
  const parsed = embeddingRequestSchema.safeParse(body);
  if (!parsed.success) {
    sendVllmError(response, 400, describeIssues(parsed.error));
    return;
  }
  const embedding = parsed.data;
  const model = context.vllmModelsByName.get(embedding.model);
  if (model === undefined) {
    sendVllmError(response, 404, `The model \`${embedding.model}\` does not exist.`);
    return;
  }
  if (model.kind !== "embedding") {
    sendVllmError(response, 400, "The model does not support Embeddings API");
    return;
  }
  const fullDimensions = context.options.embeddingDimensions;
  const dimensions = embedding.dimensions ?? fullDimensions;
  if (dimensions < 1 || dimensions > fullDimensions) {
    sendVllmError(response, 400, `dimensions must be between 1 and ${fullDimensions}, got ${dimensions}.`);
    return;
  }
  const input = embedding.input;
  const inputs: ArrayLike<number>[] =
    typeof input === "string"
      ? [encodeText(input)]
      : typeof input[0] === "number"
        ? [input as number[]]
        : (input as (string | number[])[]).map((entry) => (typeof entry === "string" ? encodeText(entry) : entry));
  let promptTokens = 0;
  for (const tokens of inputs) {
    if (tokens.length > model.contextLength) {
      sendVllmError(
        response,
        400,
        `This model's maximum context length is ${model.contextLength} tokens. However, you requested ${tokens.length} tokens in the input for embedding generation. Please reduce the length of the input.`,
      );
      return;
    }
    promptTokens += tokens.length;
  }
  // An embedding costs a prefill and nothing more.
  const { options } = context;
  const slowStart = fault?.kind === "slow-first-token" ? fault.delayMs : 0;
  await waitUnlessClosed(response, options.timeToFirstTokenMs + options.prefillMsPerToken * promptTokens + slowStart);
  if (!canWrite(response)) return;
  const base64 = embedding.encoding_format === "base64";
  const data = inputs.map((tokens, index) => {
    const vector = embedTokens(model.id, tokens, fullDimensions, dimensions);
    return { index, object: "embedding", embedding: base64 ? float32Base64(vector) : Array.from(vector) };
  });
  context.stats.completedRequests++;
  sendJson(
    response,
    200,
    JSON.stringify({
      id: vllmRequestId("embd", request),
      object: "list",
      created: Math.floor(Date.now() / 1000),
      model: embedding.model,
      data,
      usage: {
        prompt_tokens: promptTokens,
        total_tokens: promptTokens,
        completion_tokens: 0,
        prompt_tokens_details: null,
      },
    }),
  );
}
