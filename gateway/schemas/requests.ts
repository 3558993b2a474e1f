/**
 * JSON schemas for the `/v1` request bodies we accept. Hand-written rather than lifted from
 * OpenAI's spec so that errors name the exact parameter; unknown fields pass through to the
 * engine (vLLM accepts extras such as `top_k`), as OpenAI-compatible servers do.
 */

const nullable = (schema: Record<string, unknown>) => ({ anyOf: [schema, { type: "null" }] });

const stringOrStrings = { anyOf: [{ type: "string" }, { type: "array", items: { type: "string" } }] };

/** A prompt or embedding input: text, texts, token ids, or lists of token ids. */
const tokenizableInput = {
  anyOf: [
    { type: "string" },
    { type: "array", minItems: 1, items: { type: "string" } },
    { type: "array", minItems: 1, items: { type: "integer", minimum: 0 } },
    { type: "array", minItems: 1, items: { type: "array", minItems: 1, items: { type: "integer", minimum: 0 } } },
  ],
};

const contentPart = {
  type: "object",
  required: ["type"],
  properties: {
    type: { type: "string", enum: ["text", "image_url", "input_audio", "file", "refusal"] },
    text: { type: "string" },
  },
};

const toolCall = {
  type: "object",
  required: ["id", "type", "function"],
  properties: {
    id: { type: "string" },
    type: { const: "function" },
    function: {
      type: "object",
      required: ["name", "arguments"],
      properties: { name: { type: "string" }, arguments: { type: "string" } },
    },
  },
};

const message = {
  type: "object",
  required: ["role"],
  properties: {
    role: { type: "string", enum: ["system", "developer", "user", "assistant", "tool", "function"] },
    content: { anyOf: [{ type: "string" }, { type: "array", items: contentPart }, { type: "null" }] },
    name: { type: "string" },
    tool_calls: { type: "array", items: toolCall },
    tool_call_id: { type: "string" },
  },
};

const tool = {
  type: "object",
  required: ["type", "function"],
  properties: {
    type: { const: "function" },
    function: {
      type: "object",
      required: ["name"],
      properties: {
        name: { type: "string", pattern: "^[a-zA-Z0-9_-]{1,64}$" },
        description: { type: "string" },
        parameters: { type: "object" },
        strict: nullable({ type: "boolean" }),
      },
    },
  },
};

const maxTokens = nullable({ type: "integer", minimum: 1, maximum: 10_000_000 });

const sampling = {
  temperature: nullable({ type: "number", minimum: 0, maximum: 2 }),
  top_p: nullable({ type: "number", minimum: 0, maximum: 1 }),
  n: nullable({ type: "integer", minimum: 1, maximum: 128 }),
  seed: nullable({ type: "integer" }),
  presence_penalty: nullable({ type: "number", minimum: -2, maximum: 2 }),
  frequency_penalty: nullable({ type: "number", minimum: -2, maximum: 2 }),
  logit_bias: nullable({ type: "object", additionalProperties: { type: "number", minimum: -100, maximum: 100 } }),
  user: { type: "string", maxLength: 512 },
  stream: nullable({ type: "boolean" }),
  stream_options: nullable({
    type: "object",
    properties: { include_usage: { type: "boolean" }, continuous_usage_stats: { type: "boolean" } },
  }),
};

export const chatCompletionRequestSchema = {
  $id: "hypernode/chat-completion-request",
  type: "object",
  required: ["model", "messages"],
  properties: {
    model: { type: "string", minLength: 1, maxLength: 256 },
    messages: { type: "array", minItems: 1, maxItems: 4096, items: message },
    max_tokens: maxTokens,
    max_completion_tokens: maxTokens,
    stop: nullable({ anyOf: [{ type: "string" }, { type: "array", maxItems: 16, items: { type: "string" } }] }),
    logprobs: nullable({ type: "boolean" }),
    top_logprobs: nullable({ type: "integer", minimum: 0, maximum: 20 }),
    tools: { type: "array", maxItems: 128, items: tool },
    tool_choice: {
      anyOf: [
        { type: "string", enum: ["none", "auto", "required"] },
        {
          type: "object",
          required: ["type"],
          properties: { type: { const: "function" }, function: { type: "object", required: ["name"] } },
        },
      ],
    },
    parallel_tool_calls: { type: "boolean" },
    response_format: {
      type: "object",
      required: ["type"],
      properties: {
        type: { type: "string", enum: ["text", "json_object", "json_schema"] },
        json_schema: { type: "object" },
      },
    },
    ...sampling,
  },
} as const;

export const completionRequestSchema = {
  $id: "hypernode/completion-request",
  type: "object",
  required: ["model", "prompt"],
  properties: {
    model: { type: "string", minLength: 1, maxLength: 256 },
    prompt: tokenizableInput,
    max_tokens: maxTokens,
    stop: nullable(stringOrStrings),
    echo: nullable({ type: "boolean" }),
    suffix: nullable({ type: "string" }),
    best_of: nullable({ type: "integer", minimum: 1, maximum: 20 }),
    logprobs: nullable({ type: "integer", minimum: 0, maximum: 5 }),
    ...sampling,
  },
} as const;

export const embeddingRequestSchema = {
  $id: "hypernode/embedding-request",
  type: "object",
  required: ["model", "input"],
  properties: {
    model: { type: "string", minLength: 1, maxLength: 256 },
    input: tokenizableInput,
    encoding_format: { type: "string", enum: ["float", "base64"] },
    dimensions: { type: "integer", minimum: 1, maximum: 65_536 },
    user: { type: "string", maxLength: 512 },
  },
} as const;
