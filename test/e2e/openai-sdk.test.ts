/**
 * The official `openai` client against a started network (simulator → runner → gateway), with
 * every response and chunk checked against OpenAI's published schemas.
 */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectOpenAiShape } from "../support/openai-schemas.ts";
import { eventually, startTestStack, type TestStack } from "../support/test-stack.ts";

let stack: TestStack;
let client: OpenAI;

beforeAll(async () => {
  stack = await startTestStack();
  client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: stack.apiKey, maxRetries: 0 });
});
afterAll(async () => {
  await stack?.close();
});

const messages = [{ role: "user" as const, content: "Write one sentence about GPUs." }];

describe("openai SDK against the gateway", () => {
  it("answers a non-streaming chat completion with usage", async () => {
    const { data: completion, response } = await client.chat.completions
      .create({ model: "qwen2.5-7b-instruct", messages, max_tokens: 12, seed: 7 })
      .withResponse();
    expectOpenAiShape("CreateChatCompletionResponse", completion);
    expect(completion.model).toBe("qwen2.5-7b-instruct");
    expect(completion.choices[0]?.message.content?.length).toBeGreaterThan(0);
    expect(completion.choices[0]?.finish_reason).toBe("length");
    expect(completion.usage?.completion_tokens).toBe(12);
    expect(completion.usage?.total_tokens).toBe((completion.usage?.prompt_tokens ?? 0) + 12);
    const requestId = response.headers.get("x-request-id");
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(completion.id).toBe(`chatcmpl-${requestId?.replaceAll("-", "")}`);
  });

  it("streams chat chunks with a final usage chunk when include_usage is set", async () => {
    const stream = await client.chat.completions.create({
      model: "qwen2.5-7b-instruct",
      messages,
      max_tokens: 10,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) {
      expectOpenAiShape("CreateChatCompletionStreamResponse", chunk);
      chunks.push(chunk);
    }
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage?.completion_tokens).toBe(10);
    const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("");
    expect(text.length).toBeGreaterThan(0);
    expect(chunks.some((chunk) => chunk.choices[0]?.finish_reason === "length")).toBe(true);
  });

  it("streams without a usage chunk when include_usage is off", async () => {
    const stream = await client.chat.completions.create({
      model: "qwen2.5-7b-instruct",
      messages,
      max_tokens: 5,
      stream: true,
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks.every((chunk) => chunk.choices.length > 0 && !chunk.usage)).toBe(true);
  });

  it("serves legacy completions, stream and not", async () => {
    const completion = await client.completions.create({
      model: "qwen2.5-7b-instruct",
      prompt: "Once upon a time",
      max_tokens: 8,
    });
    expectOpenAiShape("CreateCompletionResponse", completion);
    expect(completion.usage?.completion_tokens).toBe(8);
    const stream = await client.completions.create({
      model: "qwen2.5-7b-instruct",
      prompt: "Once upon a time",
      max_tokens: 4,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(4);
  });

  it("serves embeddings", async () => {
    const embeddings = await client.embeddings.create({
      model: "nomic-embed-text",
      input: ["first text", "second text"],
    });
    expectOpenAiShape("CreateEmbeddingResponse", embeddings);
    expect(embeddings.data).toHaveLength(2);
    expect(embeddings.data[0]?.embedding.length).toBeGreaterThan(0);
    expect(embeddings.usage.prompt_tokens).toBeGreaterThan(0);
  });

  it("carries a large embeddings batch through the runner tunnel", async () => {
    // 400 × 768 floats is several MiB of JSON in one tunnel frame, above the client body limit.
    const input = Array.from({ length: 400 }, (_, index) => `document number ${index} about GPUs and tokens`);
    const embeddings = await client.embeddings.create({ model: "nomic-embed-text", input });
    expect(embeddings.data).toHaveLength(400);
    expect(embeddings.data[399]?.index).toBe(399);
  });

  it("lists only models a runner has ready, and retrieves one", async () => {
    const page = await client.models.list();
    expectOpenAiShape("ListModelsResponse", { object: "list", data: page.data });
    const ids = page.data.map((model) => model.id);
    expect(ids).toContain("qwen2.5-7b-instruct");
    const model = await client.models.retrieve("qwen2.5-7b-instruct");
    expectOpenAiShape("Model", model);
    await expect(client.models.retrieve("no-such-model")).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("surfaces a bad key, an unknown model and a bad body as the SDK's error classes", async () => {
    const badKey = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: "sk-hn-wrong", maxRetries: 0 });
    await expect(badKey.chat.completions.create({ model: "qwen2.5-7b-instruct", messages })).rejects.toBeInstanceOf(
      OpenAI.AuthenticationError,
    );
    const unknown = client.chat.completions.create({ model: "gpt-17-ultra", messages });
    await expect(unknown).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(unknown).rejects.toMatchObject({ code: "model_not_found", param: "model" });
    const bad = client.chat.completions.create({ model: "qwen2.5-7b-instruct", messages: [], max_tokens: 5 });
    await expect(bad).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(bad).rejects.toMatchObject({ param: "messages" });
  });

  it("records both token counts on the finished job", async () => {
    const { response } = await client.chat.completions
      .create({ model: "qwen2.5-7b-instruct", messages, max_tokens: 6 })
      .withResponse();
    const jobId = response.headers.get("x-request-id") ?? "";
    const record = await eventually(() => stack.gateway.services.jobs.record(jobId));
    expect(record.outcome).toBe("completed");
    expect(record.engineUsage?.completionTokens).toBe(6);
    expect(record.localUsage.completionTokens).toBe(6);
    expect(record.localUsage.promptTokens).toBe(record.engineUsage?.promptTokens);
    expect(record.countsAgree).toBe(true);
    expect(record.receipt?.receipt.completionTokens).toBe(6);
  });
});
