/**
 * Request bodies of vLLM's OpenAI-compatible endpoints, with vLLM's own range checks and error
 * messages. Shapes are checked with zod; unknown fields pass, as vLLM tolerates extra fields.
 */
import { z } from "zod";
import { MAXIMUM_TOP_LOGPROBS } from "./logprobs.ts";

const optionalInteger = z.number().int().nullish();
const MAXIMUM_CHOICES = 128;
const tokenIds = z.array(z.number().int().min(0)).min(1);
/** string | string[] | token ids | token id lists, as `prompt` and `input` accept. */
const textOrTokens = z.union([z.string(), z.array(z.string()).min(1), tokenIds, z.array(tokenIds).min(1)]);

const samplingFields = {
  model: z.string(),
  stream: z.boolean().nullish(),
  stream_options: z
    .looseObject({ include_usage: z.boolean().nullish(), continuous_usage_stats: z.boolean().nullish() })
    .nullish(),
  n: optionalInteger,
  max_tokens: optionalInteger,
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  seed: optionalInteger,
  stop: z.union([z.string(), z.array(z.string())]).nullish(),
  ignore_eos: z.boolean().nullish(),
};

const contentPart = z.looseObject({ type: z.string(), text: z.string().nullish() });

export const chatMessageSchema = z.looseObject({
  role: z.enum(["system", "developer", "user", "assistant", "tool", "function"]),
  content: z.union([z.string(), z.array(contentPart)]).nullish(),
  name: z.string().nullish(),
  tool_calls: z
    .array(z.looseObject({ function: z.looseObject({ name: z.string(), arguments: z.string() }) }))
    .nullish(),
  tool_call_id: z.string().nullish(),
});

const toolSchema = z.looseObject({
  type: z.literal("function"),
  function: z.looseObject({
    name: z.string().min(1),
    description: z.string().nullish(),
    parameters: z.record(z.string(), z.unknown()).nullish(),
  }),
});

const responseFormatSchema = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("text") }),
  z.looseObject({ type: z.literal("json_object") }),
  z.looseObject({
    type: z.literal("json_schema"),
    json_schema: z.looseObject({ name: z.string().nullish(), schema: z.record(z.string(), z.unknown()).nullish() }),
  }),
]);

export const chatRequestSchema = z.looseObject({
  ...samplingFields,
  messages: z.array(chatMessageSchema).min(1),
  max_completion_tokens: optionalInteger,
  logprobs: z.boolean().nullish(),
  top_logprobs: optionalInteger,
  tools: z.array(toolSchema).nullish(),
  tool_choice: z
    .union([
      z.enum(["none", "auto", "required"]),
      z.looseObject({ type: z.literal("function"), function: z.looseObject({ name: z.string() }) }),
    ])
    .nullish(),
  response_format: responseFormatSchema.nullish(),
});

export const completionRequestSchema = z.looseObject({
  ...samplingFields,
  prompt: textOrTokens,
  logprobs: optionalInteger,
});

export const embeddingRequestSchema = z.looseObject({
  model: z.string(),
  input: textOrTokens,
  encoding_format: z.enum(["float", "base64"]).nullish(),
  dimensions: optionalInteger,
});

export type ChatRequest = z.infer<typeof chatRequestSchema>;
export type ChatMessage = z.infer<typeof chatMessageSchema>;
export type CompletionRequest = z.infer<typeof completionRequestSchema>;
export type EmbeddingRequest = z.infer<typeof embeddingRequestSchema>;

/** zod issues as one line: "messages: Invalid input: expected array, received undefined". */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join(".") : "body"}: ${issue.message}`)
    .join("; ");
}

type SamplingRequest = Pick<ChatRequest, "n" | "max_tokens" | "temperature" | "top_p" | "stream" | "stream_options">;

/** vLLM's checks on sampling parameters; the message when one fails. */
export function samplingProblem(
  request: SamplingRequest & { max_completion_tokens?: number | null | undefined },
): string | undefined {
  if (request.n !== undefined && request.n !== null && request.n < 1) return `n must be at least 1, got ${request.n}.`;
  // Not a vLLM limit: a guard so one request cannot make the simulator plan millions of choices.
  if (request.n !== undefined && request.n !== null && request.n > MAXIMUM_CHOICES) {
    return `n must be at most ${MAXIMUM_CHOICES}, got ${request.n}.`;
  }
  for (const field of ["max_tokens", "max_completion_tokens"] as const) {
    const value = request[field];
    if (value !== undefined && value !== null && value < 1) return `${field} must be at least 1, got ${value}.`;
  }
  if (request.temperature !== undefined && request.temperature !== null && request.temperature < 0) {
    return `temperature must be non-negative, got ${request.temperature}.`;
  }
  if (request.top_p !== undefined && request.top_p !== null && (request.top_p <= 0 || request.top_p > 1)) {
    return `top_p must be in (0, 1], got ${request.top_p}.`;
  }
  if (request.stream_options && !request.stream) return "Stream options can only be defined when `stream=True`.";
  return undefined;
}

export function logprobsProblem(requested: number | null | undefined): string | undefined {
  if (requested === undefined || requested === null) return undefined;
  if (requested < 0) return `logprobs must be non-negative, got ${requested}.`;
  if (requested > MAXIMUM_TOP_LOGPROBS) {
    return `Requested sample logprobs of ${requested}, which is greater than max allowed: ${MAXIMUM_TOP_LOGPROBS}`;
  }
  return undefined;
}

/** vLLM's context-window check; the message when prompt + completion do not fit. */
export function contextProblem(
  contextLength: number,
  promptTokens: number,
  maxTokens: number | undefined,
): string | undefined {
  if (promptTokens >= contextLength) {
    return `This model's maximum context length is ${contextLength} tokens. However, your request has ${promptTokens} input tokens. Please reduce the length of the input messages.`;
  }
  if (maxTokens !== undefined && promptTokens + maxTokens > contextLength) {
    return `'max_tokens' or 'max_completion_tokens' is too large: ${maxTokens}. This model's maximum context length is ${contextLength} tokens and your request has ${promptTokens} input tokens (${maxTokens} > ${contextLength} - ${promptTokens}).`;
  }
  return undefined;
}
