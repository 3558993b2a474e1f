/** The simulator's vLLM (OpenAI-compatible) API over real HTTP. */
import type { ChatCompletion, ChatCompletionChunk } from "openai/resources/chat/completions";
import type { Completion } from "openai/resources/completions";
import type { CreateEmbeddingResponse } from "openai/resources/embeddings";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SimulatorHandle, startSimulator } from "../../runners/simulator/server.ts";
import { postJson, readSse } from "../fixtures/simulator/client.ts";
import { validateOpenAi } from "../support/openai-schemas.ts";

const MODEL = "Qwen/Qwen2.5-7B-Instruct";
const MESSAGES = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Say something." },
];

/**
 * vLLM sends a few nulls where OpenAI's spec wants a value or nothing (`system_fingerprint`,
 * `message.annotations`, `message.function_call`). The simulator keeps these vLLM quirks so the
 * gateway meets them in its tests; they are removed here before checking everything else.
 */
function withoutVllmNulls<Value extends object>(value: Value): Value {
  const copy = JSON.parse(JSON.stringify(value)) as {
    system_fingerprint?: unknown;
    choices?: { message?: Record<string, unknown> }[];
  };
  delete copy.system_fingerprint;
  for (const choice of copy.choices ?? []) {
    for (const key of ["annotations", "function_call"]) if (choice.message?.[key] === null) delete choice.message[key];
  }
  return copy as Value;
}

interface VllmError {
  error: { message: string; type: string; param: null; code: number };
}

let simulator: SimulatorHandle;

beforeAll(async () => {
  simulator = await startSimulator({ timeToFirstTokenMs: 2, perTokenLatencyMs: 0, prefillMsPerToken: 0 });
});

afterAll(async () => {
  await simulator.close();
});

function chat(body: Record<string, unknown>, headers?: Record<string, string>): Promise<Response> {
  return postJson(`${simulator.url}/v1/chat/completions`, { model: MODEL, messages: MESSAGES, ...body }, headers);
}

/** Content text per choice index, joined from stream deltas. */
function streamedTexts(chunks: ChatCompletionChunk[]): Map<number, string> {
  const texts = new Map<number, string>();
  for (const chunk of chunks) {
    for (const choice of chunk.choices)
      texts.set(choice.index, (texts.get(choice.index) ?? "") + (choice.delta.content ?? ""));
  }
  return texts;
}

describe("vLLM metadata endpoints", () => {
  it("lists every model under its repo id and its catalog id, in vLLM's shape", async () => {
    const response = await fetch(`${simulator.url}/v1/models`);
    expect(response.status).toBe(200);
    const list = (await response.json()) as { object: string; data: Record<string, unknown>[] };
    expect(list.object).toBe("list");
    const ids = list.data.map((model) => model.id);
    expect(ids).toContain("Qwen/Qwen2.5-7B-Instruct");
    expect(ids).toContain("qwen2.5-7b-instruct");
    expect(ids).toContain("nomic-ai/nomic-embed-text-v1.5");
    const entry = list.data.find((model) => model.id === "qwen2.5-7b-instruct");
    expect(entry).toEqual({
      id: "qwen2.5-7b-instruct",
      object: "model",
      created: expect.any(Number),
      owned_by: "vllm",
      root: "Qwen/Qwen2.5-7B-Instruct",
      parent: null,
      max_model_len: 32768,
      permission: [],
    });
    expect(validateOpenAi("ListModelsResponse", list)).toEqual([]);
  });

  it("answers /health with an empty 200 and /version with a version", async () => {
    const health = await fetch(`${simulator.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe("");
    const version = (await (await fetch(`${simulator.url}/version`)).json()) as { version: string };
    expect(version.version).toMatch(/^\d+\.\d+/);
  });
});

describe("POST /v1/chat/completions", () => {
  it("answers a non-streaming request in OpenAI's shape with usage", async () => {
    const response = await chat({ max_tokens: 5 });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("application/json");
    const completion = (await response.json()) as ChatCompletion;
    expect(completion.id).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
    expect(completion.object).toBe("chat.completion");
    expect(completion.model).toBe(MODEL);
    expect(completion.choices).toHaveLength(1);
    const [choice] = completion.choices;
    expect(choice?.message.role).toBe("assistant");
    expect(choice?.finish_reason).toBe("length");
    expect(completion.usage?.completion_tokens).toBe(5);
    expect(completion.usage?.total_tokens).toBe((completion.usage?.prompt_tokens ?? 0) + 5);
    expect(completion.usage?.prompt_tokens_details?.cached_tokens).toEqual(expect.any(Number));
    expect(validateOpenAi("CreateChatCompletionResponse", withoutVllmNulls(completion))).toEqual([]);
  });

  it("echoes the model name as requested, catalog id included", async () => {
    const completion = (await (await chat({ model: "qwen2.5-7b-instruct", max_tokens: 1 })).json()) as ChatCompletion;
    expect(completion.model).toBe("qwen2.5-7b-instruct");
  });

  it("uses X-Request-Id in the response id, as vLLM does", async () => {
    const completion = (await (await chat({ max_tokens: 1 }, { "x-request-id": "job-42" })).json()) as ChatCompletion;
    expect(completion.id).toBe("chatcmpl-job-42");
  });

  it("streams SSE: role chunk, one token per content chunk, finish chunk, [DONE]", async () => {
    const response = await chat({ max_tokens: 4, stream: true });
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const { events, sawDone, raw } = await readSse<ChatCompletionChunk>(response);
    expect(sawDone).toBe(true);
    expect(raw.endsWith("data: [DONE]\n\n")).toBe(true);
    expect(events[0]?.choices[0]?.delta).toEqual({ role: "assistant", content: "" });
    const content = events.slice(1, -1);
    expect(content).toHaveLength(4);
    for (const chunk of content) {
      expect(chunk.choices[0]?.delta.content).toMatch(/^[ ,.]/);
      expect(chunk.choices[0]?.finish_reason).toBeNull();
    }
    expect(events.at(-1)?.choices[0]?.finish_reason).toBe("length");
    for (const chunk of events) {
      expect(chunk.id).toBe(events[0]?.id);
      expect(chunk.object).toBe("chat.completion.chunk");
      expect("usage" in chunk).toBe(false);
      expect(validateOpenAi("CreateChatCompletionStreamResponse", chunk)).toEqual([]);
    }
  });

  it("with include_usage puts usage:null on every chunk and ends with a usage-only chunk", async () => {
    const { events } = await readSse<ChatCompletionChunk>(
      await chat({ max_tokens: 3, stream: true, stream_options: { include_usage: true } }),
    );
    const last = events.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage?.completion_tokens).toBe(3);
    expect(last?.usage?.total_tokens).toBe((last?.usage?.prompt_tokens ?? 0) + 3);
    for (const chunk of events.slice(0, -1)) expect(chunk.usage).toBeNull();
  });

  it("with continuous_usage_stats carries the running usage on every chunk", async () => {
    const { events } = await readSse<ChatCompletionChunk>(
      await chat({
        max_tokens: 3,
        stream: true,
        stream_options: { include_usage: true, continuous_usage_stats: true },
      }),
    );
    const counts = events.map((chunk) => chunk.usage?.completion_tokens);
    // role chunk, three tokens, finish chunk, final usage chunk
    expect(counts).toEqual([0, 1, 2, 3, 3, 3]);
    for (const chunk of events) expect(chunk.usage?.prompt_tokens).toBe(events[0]?.usage?.prompt_tokens);
  });

  it("n=2 interleaves two choices by index, each with its own text", async () => {
    const { events } = await readSse<ChatCompletionChunk>(await chat({ max_tokens: 6, stream: true, n: 2, seed: 7 }));
    const indexes = events.map((chunk) => chunk.choices[0]?.index);
    expect(indexes.slice(0, 4)).toEqual([0, 1, 0, 1]);
    const texts = streamedTexts(events);
    expect(texts.size).toBe(2);
    expect(texts.get(0)).not.toBe(texts.get(1));
    const finishes = events
      .filter((chunk) => chunk.choices[0]?.finish_reason !== null)
      .map((chunk) => chunk.choices[0]?.index);
    expect(finishes.sort()).toEqual([0, 1]);
    const whole = (await (await chat({ max_tokens: 6, n: 2, seed: 7 })).json()) as ChatCompletion;
    expect(whole.choices.map((choice) => choice.message.content)).toEqual([texts.get(0), texts.get(1)]);
    expect(whole.usage?.completion_tokens).toBe(12);
  });

  it("is deterministic for a seed, different across seeds, and choice 0 does not depend on n", async () => {
    const text = async (body: Record<string, unknown>): Promise<string | null | undefined> =>
      ((await (await chat({ max_tokens: 12, ...body })).json()) as ChatCompletion).choices[0]?.message.content;
    const first = await text({ seed: 1234 });
    expect(await text({ seed: 1234 })).toBe(first);
    expect(await text({ seed: 1235 })).not.toBe(first);
    expect(await text({ seed: 1234, n: 3 })).toBe(first);
    expect(await text({ seed: 1234, stream: false, temperature: 0.7 })).toBe(first);
  });

  it("ends at a stop string with finish stop, never showing the stop text", async () => {
    const full =
      ((await (await chat({ max_tokens: 40, seed: 99 })).json()) as ChatCompletion).choices[0]?.message.content ?? "";
    const words = full.split(" ").filter((word) => /^[a-z]+$/.test(word));
    const stopWord = ` ${words[4]}`;
    const expected = full.slice(0, full.indexOf(stopWord));
    const stopped = (await (
      await chat({ max_tokens: 40, seed: 99, stop: [stopWord, "never-appears"] })
    ).json()) as ChatCompletion & {
      choices: { stop_reason: string | null }[];
    };
    expect(stopped.choices[0]?.message.content).toBe(expected);
    expect(stopped.choices[0]?.finish_reason).toBe("stop");
    expect(stopped.choices[0]?.stop_reason).toBe(stopWord);
    const { events } = await readSse<ChatCompletionChunk>(
      await chat({ max_tokens: 40, seed: 99, stop: stopWord, stream: true }),
    );
    expect(streamedTexts(events).get(0)).toBe(expected);
    expect(events.at(-1)?.choices[0]?.finish_reason).toBe("stop");
  });

  it("ends on its own with finish stop after 16 to 128 tokens when no max_tokens is given", async () => {
    const completion = (await (await chat({ seed: 5 })).json()) as ChatCompletion;
    expect(completion.choices[0]?.finish_reason).toBe("stop");
    expect(completion.usage?.completion_tokens).toBeGreaterThanOrEqual(16);
    expect(completion.usage?.completion_tokens).toBeLessThanOrEqual(128);
  });

  it("honours max_completion_tokens", async () => {
    const completion = (await (await chat({ max_completion_tokens: 2 })).json()) as ChatCompletion;
    expect(completion.usage?.completion_tokens).toBe(2);
    expect(completion.choices[0]?.finish_reason).toBe("length");
  });

  it("returns plausible logprobs in OpenAI's shape", async () => {
    const completion = (await (
      await chat({ max_tokens: 3, logprobs: true, top_logprobs: 2 })
    ).json()) as ChatCompletion;
    const entries = completion.choices[0]?.logprobs?.content ?? [];
    expect(entries).toHaveLength(3);
    expect(entries.map((entry) => entry.token).join("")).toBe(completion.choices[0]?.message.content);
    for (const entry of entries) {
      expect(entry.logprob).toBeLessThanOrEqual(0);
      expect(entry.bytes).toEqual([...Buffer.from(entry.token)]);
      expect(entry.top_logprobs).toHaveLength(2);
      expect(entry.top_logprobs[0]?.token).toBe(entry.token);
      expect(entry.top_logprobs[1]?.logprob).toBeLessThan(entry.logprob);
    }
    const { events } = await readSse<ChatCompletionChunk>(await chat({ max_tokens: 2, logprobs: true, stream: true }));
    expect(events[1]?.choices[0]?.logprobs?.content?.[0]?.token).toBe(events[1]?.choices[0]?.delta.content);
  });

  const weatherTool = {
    type: "function",
    function: {
      name: "get_weather",
      description: "Weather for a city",
      parameters: {
        type: "object",
        properties: { city: { type: "string" }, days: { type: "integer" } },
        required: ["city", "days"],
      },
    },
  };
  const timeTool = { type: "function", function: { name: "get_time", parameters: { type: "object", properties: {} } } };

  it("calls the named tool with JSON arguments, finish_reason tool_calls", async () => {
    const completion = (await (
      await chat({
        tools: [timeTool, weatherTool],
        tool_choice: { type: "function", function: { name: "get_weather" } },
        seed: 3,
      })
    ).json()) as ChatCompletion;
    const [choice] = completion.choices;
    expect(choice?.finish_reason).toBe("tool_calls");
    const toolCall = choice?.message.tool_calls?.[0];
    expect(toolCall?.type).toBe("function");
    expect(toolCall?.id).toMatch(/^chatcmpl-tool-/);
    if (toolCall?.type !== "function") throw new Error("expected a function tool call");
    expect(toolCall.function.name).toBe("get_weather");
    const args = JSON.parse(toolCall.function.arguments) as { city: unknown; days: unknown };
    expect(typeof args.city).toBe("string");
    expect(Number.isInteger(args.days)).toBe(true);
    expect(validateOpenAi("CreateChatCompletionResponse", withoutVllmNulls(completion))).toEqual([]);
  });

  it("streams a required tool call as tool_call deltas that join into the same call", async () => {
    const body = { tools: [weatherTool], tool_choice: "required", seed: 11 };
    const whole = (await (await chat(body)).json()) as ChatCompletion;
    const { events } = await readSse<ChatCompletionChunk>(await chat({ ...body, stream: true }));
    const deltas = events.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
    expect(deltas[0]?.id).toMatch(/^chatcmpl-tool-/);
    expect(deltas[0]?.function?.name).toBe("get_weather");
    expect(deltas.slice(1).every((delta) => delta.id === undefined && delta.index === 0)).toBe(true);
    const streamedArguments = deltas.map((delta) => delta.function?.arguments ?? "").join("");
    const wholeCall = whole.choices[0]?.message.tool_calls?.[0];
    expect(wholeCall?.type === "function" ? wholeCall.function.arguments : undefined).toBe(streamedArguments);
    expect(events.at(-1)?.choices[0]?.finish_reason).toBe("tool_calls");
    for (const chunk of events) expect(validateOpenAi("CreateChatCompletionStreamResponse", chunk)).toEqual([]);
  });

  it("with tool_choice auto calls a tool after a user turn and answers in words after a tool result", async () => {
    const first = (await (await chat({ tools: [weatherTool] })).json()) as ChatCompletion;
    expect(first.choices[0]?.finish_reason).toBe("tool_calls");
    const call = first.choices[0]?.message.tool_calls?.[0];
    const followUp = (await (
      await chat({
        tools: [weatherTool],
        messages: [
          ...MESSAGES,
          { role: "assistant", content: null, tool_calls: [call] },
          { role: "tool", tool_call_id: call?.id, content: "sunny" },
        ],
      })
    ).json()) as ChatCompletion;
    expect(followUp.choices[0]?.finish_reason).toBe("stop");
    expect(followUp.choices[0]?.message.tool_calls).toEqual([]);
    const none = (await (
      await chat({ tools: [weatherTool], tool_choice: "none", max_tokens: 3 })
    ).json()) as ChatCompletion;
    expect(none.choices[0]?.message.content).not.toBe("");
  });

  it("returns a JSON object for response_format json_object and json_schema", async () => {
    const objectMode = (await (await chat({ response_format: { type: "json_object" } })).json()) as ChatCompletion;
    expect(JSON.parse(objectMode.choices[0]?.message.content ?? "")).toEqual(expect.any(Object));
    expect(objectMode.choices[0]?.finish_reason).toBe("stop");
    const schema = {
      type: "object",
      properties: {
        name: { type: "string" },
        age: { type: "integer" },
        tags: { type: "array", items: { type: "string" } },
      },
      required: ["name", "age", "tags"],
    };
    const schemaMode = (await (
      await chat({ response_format: { type: "json_schema", json_schema: { name: "person", schema } } })
    ).json()) as ChatCompletion;
    const person = JSON.parse(schemaMode.choices[0]?.message.content ?? "") as {
      name: unknown;
      age: unknown;
      tags: unknown;
    };
    expect(typeof person.name).toBe("string");
    expect(Number.isInteger(person.age)).toBe(true);
    expect(Array.isArray(person.tags)).toBe(true);
  });
});

describe("POST /v1/completions", () => {
  it("completes a string prompt, whole and streamed", async () => {
    const response = await postJson(`${simulator.url}/v1/completions`, {
      model: MODEL,
      prompt: "Once upon a time",
      max_tokens: 4,
      seed: 2,
    });
    const completion = (await response.json()) as Completion;
    expect(completion.id).toMatch(/^cmpl-/);
    expect(completion.object).toBe("text_completion");
    expect(completion.choices[0]?.finish_reason).toBe("length");
    expect(completion.usage?.prompt_tokens).toBe(4);
    expect(completion.usage?.completion_tokens).toBe(4);
    expect(validateOpenAi("CreateCompletionResponse", withoutVllmNulls(completion))).toEqual([]);
    const streamed = await readSse<Completion>(
      await postJson(`${simulator.url}/v1/completions`, {
        model: MODEL,
        prompt: "Once upon a time",
        max_tokens: 4,
        seed: 2,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    expect(streamed.sawDone).toBe(true);
    expect(streamed.events.map((chunk) => chunk.choices[0]?.text ?? "").join("")).toBe(completion.choices[0]?.text);
    expect(streamed.events.at(-1)?.usage?.completion_tokens).toBe(4);
  });

  it("answers a list of prompts with a choice per prompt and summed usage", async () => {
    const completion = (await (
      await postJson(`${simulator.url}/v1/completions`, {
        model: MODEL,
        prompt: ["first prompt", "second one here"],
        max_tokens: 2,
        n: 2,
      })
    ).json()) as Completion;
    expect(completion.choices.map((choice) => choice.index)).toEqual([0, 1, 2, 3]);
    expect(completion.usage?.prompt_tokens).toBe(2 + 3);
    expect(completion.usage?.completion_tokens).toBe(8);
  });

  it("defaults max_tokens to 16 like vLLM", async () => {
    const completion = (await (
      await postJson(`${simulator.url}/v1/completions`, { model: MODEL, prompt: "hi" })
    ).json()) as Completion;
    expect(completion.usage?.completion_tokens).toBe(16);
  });
});

describe("POST /v1/embeddings", () => {
  const embed = (body: Record<string, unknown>): Promise<Response> =>
    postJson(`${simulator.url}/v1/embeddings`, { model: "nomic-embed-text", ...body });

  it("embeds strings into unit vectors of the configured size", async () => {
    const result = (await (
      await embed({ input: ["the cat sat", "the cat sat on the mat", "stock market news"] })
    ).json()) as CreateEmbeddingResponse;
    expect(result.object).toBe("list");
    expect(result.data).toHaveLength(3);
    const vectors = result.data.map((entry) => entry.embedding);
    for (const vector of vectors) {
      expect(vector).toHaveLength(768);
      expect(Math.hypot(...vector)).toBeCloseTo(1, 4);
    }
    const cosine = (left: number[], right: number[]): number =>
      left.reduce((sum, value, index) => sum + value * (right[index] ?? 0), 0);
    expect(cosine(vectors[0] ?? [], vectors[1] ?? [])).toBeGreaterThan(cosine(vectors[0] ?? [], vectors[2] ?? []));
    expect(result.usage.prompt_tokens).toBe(3 + 6 + 3);
    expect(validateOpenAi("CreateEmbeddingResponse", result)).toEqual([]);
  });

  it("honours dimensions, base64 encoding and token-array input", async () => {
    const floats = (await (await embed({ input: [9906, 1917], dimensions: 8 })).json()) as CreateEmbeddingResponse;
    expect(floats.data[0]?.embedding).toHaveLength(8);
    expect(floats.usage.prompt_tokens).toBe(2);
    const encoded = (await (await embed({ input: [9906, 1917], dimensions: 8, encoding_format: "base64" })).json()) as {
      data: { embedding: string }[];
    };
    const bytes = Buffer.from(encoded.data[0]?.embedding ?? "", "base64");
    const decoded = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
    expect(decoded).toEqual(floats.data[0]?.embedding);
    expect((await embed({ input: "x", dimensions: 4096 })).status).toBe(400);
  });

  it("refuses chat models on embeddings and embedding models on chat", async () => {
    expect((await embed({ model: MODEL, input: "x" })).status).toBe(400);
    expect((await chat({ model: "nomic-embed-text" })).status).toBe(400);
  });
});

describe("vLLM errors", () => {
  async function expectError(response: Response, status: number, type: string, message?: RegExp): Promise<void> {
    expect(response.status).toBe(status);
    const body = (await response.json()) as VllmError;
    expect(body).toEqual({ error: { message: expect.any(String), type, param: null, code: status } });
    if (message) expect(body.error.message).toMatch(message);
  }

  it("answers bad JSON, a missing field, wrong types and bad ranges with 400 BadRequestError", async () => {
    await expectError(
      await postJson(`${simulator.url}/v1/chat/completions`, "{not json"),
      400,
      "BadRequestError",
      /JSON/,
    );
    await expectError(
      await postJson(`${simulator.url}/v1/chat/completions`, { model: MODEL }),
      400,
      "BadRequestError",
      /messages/,
    );
    await expectError(await chat({ messages: "hello" }), 400, "BadRequestError", /messages/);
    await expectError(await chat({ max_tokens: "ten" }), 400, "BadRequestError", /max_tokens/);
    await expectError(await chat({ max_tokens: 0 }), 400, "BadRequestError", /max_tokens must be at least 1/);
    await expectError(await chat({ n: 0 }), 400, "BadRequestError", /n must be at least 1/);
    await expectError(await chat({ n: 100_000 }), 400, "BadRequestError", /n must be at most/);
    await expectError(await chat({ stream_options: { include_usage: true } }), 400, "BadRequestError", /stream/);
    await expectError(await chat({ tool_choice: "required" }), 400, "BadRequestError", /tools/);
    await expectError(await postJson(`${simulator.url}/v1/chat/completions`, [1, 2]), 400, "BadRequestError");
  });

  it("refuses a request beyond the context window", async () => {
    await expectError(await chat({ max_tokens: 40_000 }), 400, "BadRequestError", /maximum context length is 32768/);
    const longPrompt = "hello ".repeat(33_000);
    await expectError(
      await chat({ messages: [{ role: "user", content: longPrompt }] }),
      400,
      "BadRequestError",
      /maximum context length/,
    );
  });

  it("answers an unknown model with 404 NotFoundError", async () => {
    await expectError(await chat({ model: "no-such-model" }), 404, "NotFoundError", /no-such-model/);
    await expectError(
      await postJson(`${simulator.url}/v1/completions`, { model: "qwen2.5:7b", prompt: "x" }),
      404,
      "NotFoundError",
    );
  });

  it("refuses a non-JSON content type and a body over 4 MiB", async () => {
    const form = await fetch(`${simulator.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "hello",
    });
    expect(form.status).toBe(415);
    expect(((await form.json()) as VllmError).error.code).toBe(415);
    const huge = JSON.stringify({
      model: MODEL,
      messages: [{ role: "user", content: "x".repeat(4 * 1024 * 1024 + 10) }],
    });
    await expectError(await postJson(`${simulator.url}/v1/chat/completions`, huge), 413, "BadRequestError", /exceeds/);
    // A chunked upload with no content-length is cut off at the limit too.
    const oversizedStream = new ReadableStream<Uint8Array>({
      start(controller) {
        const block = new TextEncoder().encode("x".repeat(1024 * 1024));
        for (let index = 0; index < 5; index++) controller.enqueue(block);
        controller.close();
      },
    });
    const chunked = await fetch(`${simulator.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: oversizedStream,
      duplex: "half",
    } as RequestInit & { duplex: "half" });
    expect(chunked.status).toBe(413);
    await chunked.body?.cancel();
    // The server is still fine afterwards.
    expect((await chat({ max_tokens: 1 })).status).toBe(200);
  });

  it("answers unknown routes like FastAPI", async () => {
    const response = await fetch(`${simulator.url}/v1/nothing`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ detail: "Not Found" });
    expect((await fetch(`${simulator.url}/v1/chat/completions`)).status).toBe(405);
  });
});
