import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
} from "openai/resources/chat/completions";
import type { Completion, CompletionCreateParams } from "openai/resources/completions";
import type { CreateEmbeddingResponse, EmbeddingCreateParams } from "openai/resources/embeddings";
import type { Model, ModelsPage } from "openai/resources/models";
import { describe, expect, it } from "vitest";
import { convertNullable, expectOpenAiShape, validateOpenAi } from "./openai-schemas.ts";

// Typed with the `openai` package's own types, so the samples are what the SDK itself accepts.
const chatCompletion: ChatCompletion = {
  id: "chatcmpl-9f2c1d",
  object: "chat.completion",
  created: 1_732_000_000,
  model: "qwen2.5-7b-instruct",
  system_fingerprint: "hypernode-0.1.0",
  choices: [
    {
      index: 0,
      message: { role: "assistant", content: "Paris is the capital of France.", refusal: null },
      logprobs: null,
      finish_reason: "stop",
    },
    {
      index: 1,
      message: {
        role: "assistant",
        content: null,
        refusal: null,
        tool_calls: [
          { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
        ],
      },
      logprobs: null,
      finish_reason: "tool_calls",
    },
  ],
  usage: { prompt_tokens: 17, completion_tokens: 8, total_tokens: 25 },
};

const streamChunk: ChatCompletionChunk = {
  id: "chatcmpl-9f2c1d",
  object: "chat.completion.chunk",
  created: 1_732_000_000,
  model: "qwen2.5-7b-instruct",
  choices: [{ index: 0, delta: { role: "assistant", content: "Paris" }, logprobs: null, finish_reason: null }],
  usage: null,
};

const usageOnlyChunk: ChatCompletionChunk = {
  id: "chatcmpl-9f2c1d",
  object: "chat.completion.chunk",
  created: 1_732_000_000,
  model: "qwen2.5-7b-instruct",
  choices: [],
  usage: { prompt_tokens: 17, completion_tokens: 8, total_tokens: 25 },
};

const embeddings: CreateEmbeddingResponse = {
  object: "list",
  model: "nomic-embed-text",
  data: [
    { object: "embedding", index: 0, embedding: [0.0123, -0.0456, 0.789] },
    { object: "embedding", index: 1, embedding: [0.5, 0.25, -0.125] },
  ],
  usage: { prompt_tokens: 4, total_tokens: 4 },
};

const errorEnvelope = {
  error: {
    message: "The model `gpt-9` does not exist or you do not have access to it.",
    type: "invalid_request_error",
    param: "model",
    code: "model_not_found",
  },
};

const textCompletion: Completion = {
  id: "cmpl-41ab",
  object: "text_completion",
  created: 1_732_000_000,
  model: "qwen2.5-7b-instruct",
  choices: [{ index: 0, text: " world", logprobs: null, finish_reason: "length" }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
};

const model: Model = { id: "qwen2.5-7b-instruct", object: "model", created: 1_732_000_000, owned_by: "qwen" };
const modelList: Pick<ModelsPage, "data"> & { object: "list" } = { object: "list", data: [model] };

describe("valid OpenAI shapes pass", () => {
  it("accepts a chat completion with text and tool-call choices", () => {
    expect(validateOpenAi("CreateChatCompletionResponse", chatCompletion)).toEqual([]);
    expect(() => expectOpenAiShape("CreateChatCompletionResponse", chatCompletion)).not.toThrow();
  });

  it("accepts a stream chunk whose finish_reason and usage are null", () => {
    expect(validateOpenAi("CreateChatCompletionStreamResponse", streamChunk)).toEqual([]);
  });

  it("accepts the usage-only final chunk with no choices", () => {
    expect(validateOpenAi("CreateChatCompletionStreamResponse", usageOnlyChunk)).toEqual([]);
  });

  it("accepts an embeddings response", () => {
    expect(validateOpenAi("CreateEmbeddingResponse", embeddings)).toEqual([]);
  });

  it("accepts the error envelope, with null param and code too", () => {
    expect(validateOpenAi("ErrorResponse", errorEnvelope)).toEqual([]);
    const withNulls = { error: { message: "Invalid API key", type: "invalid_request_error", param: null, code: null } };
    expect(validateOpenAi("ErrorResponse", withNulls)).toEqual([]);
  });

  it("accepts a text completion, a model and a model list", () => {
    expect(validateOpenAi("CreateCompletionResponse", textCompletion)).toEqual([]);
    expect(validateOpenAi("Model", model)).toEqual([]);
    expect(validateOpenAi("ListModelsResponse", modelList)).toEqual([]);
  });

  it("accepts typical requests", () => {
    const chatRequest: ChatCompletionCreateParams = {
      model: "qwen2.5-7b-instruct",
      messages: [
        { role: "system", content: "You are helpful." },
        { role: "user", content: "hello" },
      ],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 64,
      temperature: 0.2,
      stop: null,
    };
    const completionRequest: CompletionCreateParams = {
      model: "qwen2.5-7b-instruct",
      prompt: [1, 2, 3],
      max_tokens: 8,
    };
    const embeddingRequest: EmbeddingCreateParams = { model: "nomic-embed-text", input: ["a", "b"] };
    expect(validateOpenAi("CreateChatCompletionRequest", chatRequest)).toEqual([]);
    expect(validateOpenAi("CreateCompletionRequest", completionRequest)).toEqual([]);
    expect(validateOpenAi("CreateEmbeddingRequest", embeddingRequest)).toEqual([]);
  });
});

describe("invalid shapes fail with instance paths", () => {
  it("rejects a completion without choices", () => {
    const { choices: _removed, ...withoutChoices } = chatCompletion;
    const messages = validateOpenAi("CreateChatCompletionResponse", withoutChoices);
    expect(messages).toContainEqual(expect.stringContaining("must have required property 'choices'"));
    expect(() => expectOpenAiShape("CreateChatCompletionResponse", withoutChoices)).toThrow(/choices/);
  });

  it("rejects a wrong object value", () => {
    const messages = validateOpenAi("CreateChatCompletionResponse", {
      ...chatCompletion,
      object: "chat.completion.chunk",
    });
    expect(messages).toContainEqual(expect.stringContaining("/object must be equal to one of the allowed values"));
  });

  it("rejects a string created", () => {
    const messages = validateOpenAi("CreateChatCompletionStreamResponse", { ...streamChunk, created: "1732000000" });
    expect(messages).toContainEqual("/created must be integer");
  });

  it("rejects an unknown finish_reason and a non-null, non-object usage in a chunk", () => {
    const chunk = {
      ...streamChunk,
      choices: [{ index: 0, delta: {}, finish_reason: "done" }],
      usage: 5,
    };
    const messages = validateOpenAi("CreateChatCompletionStreamResponse", chunk);
    expect(messages).toContainEqual(expect.stringContaining("/choices/0/finish_reason"));
    expect(messages).toContainEqual(expect.stringContaining("/usage"));
  });

  it("rejects a non-nullable field set to null", () => {
    const messages = validateOpenAi("CreateEmbeddingResponse", { ...embeddings, model: null });
    expect(messages).toContainEqual("/model must be string");
  });
});

describe("convertNullable", () => {
  it("adds null to a plain type and its enum", () => {
    expect(convertNullable({ type: "string", enum: ["stop"], nullable: true })).toEqual({
      type: ["string", "null"],
      enum: ["stop", null],
    });
  });

  it("wraps refs and combinators in anyOf with null", () => {
    expect(convertNullable({ $ref: "#/components/schemas/CompletionUsage", nullable: true })).toEqual({
      anyOf: [{ $ref: "#/components/schemas/CompletionUsage" }, { type: "null" }],
    });
  });

  it("converts nested schemas and leaves non-nullable ones alone", () => {
    expect(convertNullable({ type: "object", properties: { nullable: { type: "integer", nullable: true } } })).toEqual({
      type: "object",
      properties: { nullable: { type: ["integer", "null"] } },
    });
  });
});
