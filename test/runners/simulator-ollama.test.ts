/** The simulator's Ollama native API over real HTTP. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SimulatorHandle, startSimulator } from "../../runners/simulator/server.ts";
import { postJson, readNdjson } from "../fixtures/simulator/client.ts";

const TAG = "qwen2.5:7b-instruct";

interface ChatLine {
  model: string;
  created_at: string;
  message: {
    role: string;
    content: string;
    tool_calls?: { function: { name: string; arguments: Record<string, unknown> } }[];
  };
  done: boolean;
  done_reason?: string;
  total_duration?: number;
  load_duration?: number;
  prompt_eval_count?: number;
  prompt_eval_duration?: number;
  eval_count?: number;
  eval_duration?: number;
}

interface GenerateLine extends Omit<ChatLine, "message"> {
  response: string;
  context?: number[];
}

interface ModelEntry {
  name: string;
  model: string;
  size: number;
  digest: string;
  details: { family: string; parameter_size: string; quantization_level: string; format: string };
}

let simulator: SimulatorHandle;

beforeAll(async () => {
  // Only two models present at start, so pulling has something to add.
  simulator = await startSimulator({
    models: ["qwen2.5-7b-instruct", "nomic-embed-text"],
    timeToFirstTokenMs: 5,
    perTokenLatencyMs: 1,
    prefillMsPerToken: 0,
  });
});

afterAll(async () => {
  await simulator.close();
});

function api(path: string, body: unknown, headers?: Record<string, string>): Promise<Response> {
  return postJson(`${simulator.url}${path}`, body, headers);
}

const MESSAGES = [{ role: "user", content: "Tell me a story." }];

describe("POST /api/chat", () => {
  it("streams NDJSON token lines then a final line with counts and durations", async () => {
    const response = await api("/api/chat", { model: TAG, messages: MESSAGES, options: { num_predict: 5 } });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("application/x-ndjson");
    const lines = await readNdjson<ChatLine>(response);
    expect(lines).toHaveLength(6);
    for (const line of lines.slice(0, 5)) {
      expect(line).toEqual({
        model: TAG,
        created_at: expect.any(String),
        message: { role: "assistant", content: expect.any(String) },
        done: false,
      });
      expect(Number.isNaN(Date.parse(line.created_at))).toBe(false);
    }
    const final = lines[5];
    expect(final?.done).toBe(true);
    expect(final?.done_reason).toBe("length");
    expect(final?.message).toEqual({ role: "assistant", content: "" });
    expect(final?.eval_count).toBe(5);
    expect(final?.prompt_eval_count).toBeGreaterThan(0);
    // Durations are nanoseconds: time to first token is at least the configured 5 ms.
    expect(final?.prompt_eval_duration).toBeGreaterThanOrEqual(4_000_000);
    expect(final?.total_duration).toBeGreaterThanOrEqual(
      (final?.prompt_eval_duration ?? 0) + (final?.eval_duration ?? 0),
    );
    expect(final?.load_duration).toBeGreaterThanOrEqual(0);
  });

  it("answers stream:false with the whole message, done_reason stop when the answer ends itself", async () => {
    const response = await api("/api/chat", { model: TAG, messages: MESSAGES, stream: false, options: { seed: 3 } });
    const reply = (await response.json()) as ChatLine;
    expect(reply.done).toBe(true);
    expect(reply.done_reason).toBe("stop");
    expect(reply.eval_count).toBeGreaterThanOrEqual(16);
    expect(reply.eval_count).toBeLessThanOrEqual(128);
    const streamed = await readNdjson<ChatLine>(
      await api("/api/chat", { model: TAG, messages: MESSAGES, options: { seed: 3 } }),
    );
    expect(streamed.map((line) => line.message.content).join("")).toBe(reply.message.content);
  });

  it("honours seed, stop and temperature 0 in options", async () => {
    const text = async (options: Record<string, unknown>): Promise<string> =>
      (
        (await (
          await api("/api/chat", {
            model: TAG,
            messages: MESSAGES,
            stream: false,
            options: { num_predict: 20, ...options },
          })
        ).json()) as ChatLine
      ).message.content;
    const seeded = await text({ seed: 42 });
    expect(await text({ seed: 42 })).toBe(seeded);
    expect(await text({ seed: 43 })).not.toBe(seeded);
    expect(await text({ temperature: 0 })).toBe(await text({ temperature: 0 }));
    const stopWord = ` ${seeded.split(" ").filter((word) => /^[a-z]+$/.test(word))[3]}`;
    const stopped = (await (
      await api("/api/chat", {
        model: TAG,
        messages: MESSAGES,
        stream: false,
        options: { num_predict: 20, seed: 42, stop: [stopWord] },
      })
    ).json()) as ChatLine;
    expect(stopped.message.content).toBe(seeded.slice(0, seeded.indexOf(stopWord)));
    expect(stopped.done_reason).toBe("stop");
  });

  it("returns a JSON object for format json and for a schema", async () => {
    const json = (await (
      await api("/api/chat", { model: TAG, messages: MESSAGES, stream: false, format: "json" })
    ).json()) as ChatLine;
    expect(JSON.parse(json.message.content)).toEqual(expect.any(Object));
    const schema = {
      type: "object",
      properties: { answer: { type: "string" }, confidence: { type: "number" } },
      required: ["answer", "confidence"],
    };
    const shaped = (await (
      await api("/api/chat", { model: TAG, messages: MESSAGES, stream: false, format: schema })
    ).json()) as ChatLine;
    const parsed = JSON.parse(shaped.message.content) as { answer: unknown; confidence: unknown };
    expect(typeof parsed.answer).toBe("string");
    expect(typeof parsed.confidence).toBe("number");
  });

  it("calls a tool with arguments as an object, streamed or not", async () => {
    const tools = [
      {
        type: "function",
        function: {
          name: "get_weather",
          parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
        },
      },
    ];
    const whole = (await (
      await api("/api/chat", { model: TAG, messages: MESSAGES, tools, stream: false, options: { seed: 1 } })
    ).json()) as ChatLine;
    expect(whole.message.tool_calls).toEqual([
      { function: { name: "get_weather", arguments: { city: expect.any(String) } } },
    ]);
    expect(whole.done_reason).toBe("stop");
    const lines = await readNdjson<ChatLine>(
      await api("/api/chat", { model: TAG, messages: MESSAGES, tools, options: { seed: 1 } }),
    );
    const withCalls = lines.filter((line) => line.message.tool_calls !== undefined);
    expect(withCalls).toHaveLength(1);
    expect(withCalls[0]?.message.tool_calls).toEqual(whole.message.tool_calls);
    expect(lines.at(-1)?.done).toBe(true);
    const afterTool = (await (
      await api("/api/chat", {
        model: TAG,
        tools,
        stream: false,
        messages: [
          ...MESSAGES,
          { role: "assistant", content: "", tool_calls: whole.message.tool_calls },
          { role: "tool", content: "sunny" },
        ],
      })
    ).json()) as ChatLine;
    expect(afterTool.message.tool_calls).toBeUndefined();
    expect(afterTool.message.content.length).toBeGreaterThan(0);
  });

  it("loads the model for an empty message list", async () => {
    const reply = (await (await api("/api/chat", { model: TAG, messages: [] })).json()) as ChatLine;
    expect(reply.done).toBe(true);
    expect(reply.done_reason).toBe("load");
  });
});

describe("POST /api/generate", () => {
  it("answers in `response`, with counts and the context tokens", async () => {
    const reply = (await (
      await api("/api/generate", {
        model: TAG,
        prompt: "Why is the sky blue?",
        stream: false,
        options: { num_predict: 4 },
      })
    ).json()) as GenerateLine;
    expect(reply.response.length).toBeGreaterThan(0);
    expect(reply.done_reason).toBe("length");
    expect(reply.eval_count).toBe(4);
    expect(reply.context).toHaveLength((reply.prompt_eval_count ?? 0) + 4);
    const lines = await readNdjson<GenerateLine>(
      await api("/api/generate", { model: TAG, prompt: "Why is the sky blue?", options: { num_predict: 3 } }),
    );
    expect(lines).toHaveLength(4);
    expect(lines[0]).toEqual({ model: TAG, created_at: expect.any(String), response: expect.any(String), done: false });
    expect(lines[3]?.done).toBe(true);
  });
});

describe("POST /api/embed", () => {
  it("embeds a string or a list, with counts", async () => {
    const reply = (await (
      await api("/api/embed", { model: "nomic-embed-text", input: ["hello world", "hello"] })
    ).json()) as {
      model: string;
      embeddings: number[][];
      total_duration: number;
      load_duration: number;
      prompt_eval_count: number;
    };
    expect(reply.model).toBe("nomic-embed-text");
    expect(reply.embeddings).toHaveLength(2);
    expect(reply.embeddings[0]).toHaveLength(768);
    expect(Math.hypot(...(reply.embeddings[0] ?? []))).toBeCloseTo(1, 4);
    expect(reply.prompt_eval_count).toBe(3);
    expect(reply.total_duration).toBeGreaterThan(0);
    expect(reply.load_duration).toEqual(expect.any(Number));
    const single = (await (
      await api("/api/embed", { model: "nomic-embed-text:latest", input: "hello world" })
    ).json()) as { embeddings: number[][] };
    expect(single.embeddings[0]).toEqual(reply.embeddings[0]);
  });
});

describe("model management", () => {
  it("lists present models in /api/tags with Ollama's fields", async () => {
    const tags = (await (await fetch(`${simulator.url}/api/tags`)).json()) as { models: ModelEntry[] };
    const names = tags.models.map((model) => model.name);
    expect(names).toEqual(expect.arrayContaining([TAG, "nomic-embed-text:latest"]));
    expect(names).toHaveLength(2);
    const qwen = tags.models.find((model) => model.name === TAG);
    expect(qwen?.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(qwen?.size).toBeGreaterThan(1e9);
    expect(qwen?.details).toMatchObject({ format: "gguf", family: "qwen2", parameter_size: "7B" });
  });

  it("pulls a catalog model with progress, then lists it and serves it", async () => {
    const tag = "llama3.2:3b-instruct-fp16";
    expect((await api("/api/chat", { model: tag, messages: MESSAGES })).status).toBe(404);
    const lines = await readNdjson<{
      status?: string;
      digest?: string;
      total?: number;
      completed?: number;
      error?: string;
    }>(await api("/api/pull", { model: tag }));
    const statuses = lines.map((line) => line.status);
    expect(statuses[0]).toBe("pulling manifest");
    expect(statuses.slice(-3)).toEqual(["verifying sha256 digest", "writing manifest", "success"]);
    const progress = lines.filter((line) => line.completed !== undefined);
    expect(progress.length).toBeGreaterThanOrEqual(3);
    for (const line of progress) {
      expect(line.status).toMatch(/^pulling [0-9a-f]{12}$/);
      expect(line.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(line.completed).toBeLessThanOrEqual(line.total ?? 0);
    }
    const first = progress.filter((line) => line.digest === progress[0]?.digest).map((line) => line.completed ?? 0);
    expect(first).toEqual([...first].sort((left, right) => left - right));
    const tags = (await (await fetch(`${simulator.url}/api/tags`)).json()) as { models: ModelEntry[] };
    expect(tags.models.map((model) => model.name)).toContain(tag);
    expect(
      (await api("/api/chat", { model: tag, messages: MESSAGES, stream: false, options: { num_predict: 1 } })).status,
    ).toBe(200);
  });

  it("fails a pull of a name outside the catalog", async () => {
    const lines = await readNdjson<{ status?: string; error?: string }>(
      await api("/api/pull", { model: "no-such-model:1b" }),
    );
    expect(lines.at(-1)).toEqual({ error: "pull model manifest: file does not exist" });
    const whole = await api("/api/pull", { model: "no-such-model:1b", stream: false });
    expect(whole.status).toBe(500);
    expect(await whole.json()).toEqual({ error: "pull model manifest: file does not exist" });
  });

  it("answers stream:false pulls with one success object", async () => {
    const reply = await api("/api/pull", { model: "mistral:7b-instruct", stream: false });
    expect(await reply.json()).toEqual({ status: "success" });
  });

  it("shows details, model_info with the context length, and capabilities", async () => {
    const shown = (await (await api("/api/show", { model: TAG })).json()) as {
      details: ModelEntry["details"];
      model_info: Record<string, unknown>;
      capabilities: string[];
    };
    expect(shown.details.family).toBe("qwen2");
    expect(shown.model_info["qwen2.context_length"]).toBe(32768);
    expect(shown.capabilities).toEqual(expect.arrayContaining(["completion", "tools"]));
    const embedding = (await (await api("/api/show", { model: "nomic-embed-text" })).json()) as {
      capabilities: string[];
    };
    expect(embedding.capabilities).toEqual(["embedding"]);
    expect((await api("/api/show", { model: "nothing" })).status).toBe(404);
  });

  it("lists recently used models in /api/ps and deletes models", async () => {
    await api("/api/generate", { model: TAG, prompt: "hi", stream: false, options: { num_predict: 1 } });
    const ps = (await (await fetch(`${simulator.url}/api/ps`)).json()) as {
      models: (ModelEntry & { expires_at: string; size_vram: number })[];
    };
    const loaded = ps.models.find((model) => model.name === TAG);
    expect(Date.parse(loaded?.expires_at ?? "")).toBeGreaterThan(Date.now());
    expect(loaded?.size_vram).toBeGreaterThan(0);
    const removed = await fetch(`${simulator.url}/api/delete`, {
      method: "DELETE",
      body: JSON.stringify({ model: "mistral:7b-instruct" }),
    });
    expect(removed.status).toBe(200);
    const again = await fetch(`${simulator.url}/api/delete`, {
      method: "DELETE",
      body: JSON.stringify({ model: "mistral:7b-instruct" }),
    });
    expect(again.status).toBe(404);
    expect(((await again.json()) as { error: string }).error).toContain("not found");
  });

  it("answers /api/version and the root probe", async () => {
    expect(((await (await fetch(`${simulator.url}/api/version`)).json()) as { version: string }).version).toMatch(
      /^\d+\.\d+\.\d+$/,
    );
    expect(await (await fetch(`${simulator.url}/`)).text()).toBe("Ollama is running");
  });
});

describe("Ollama errors", () => {
  it("answers an unknown model with 404 and Ollama's message", async () => {
    const response = await api("/api/chat", { model: "ghost", messages: MESSAGES });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: 'model "ghost" not found, try pulling it first' });
    expect((await api("/api/generate", { model: "ghost", prompt: "x" })).status).toBe(404);
    expect((await api("/api/embed", { model: "ghost", input: "x" })).status).toBe(404);
  });

  it("answers bad bodies with 400 and an error string", async () => {
    const cases: [string, unknown][] = [
      ["/api/chat", "{broken"],
      ["/api/chat", { messages: MESSAGES }],
      ["/api/chat", { model: TAG, messages: "hello" }],
      ["/api/chat", { model: TAG, messages: MESSAGES, options: { num_predict: "many" } }],
      ["/api/generate", { model: 7 }],
      ["/api/embed", { model: "nomic-embed-text", input: 5 }],
      ["/api/pull", {}],
      ["/api/chat", [1, 2, 3]],
    ];
    for (const [path, body] of cases) {
      const response = await api(path, body);
      expect(response.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(await response.json()).toEqual({ error: expect.any(String) });
    }
    const huge = await api("/api/chat", {
      model: TAG,
      messages: [{ role: "user", content: "x".repeat(4 * 1024 * 1024 + 1) }],
    });
    expect(huge.status).toBe(413);
    expect(await huge.json()).toEqual({ error: expect.stringContaining("exceeds") });
    const missingModel = await api("/api/chat", { messages: MESSAGES });
    expect(await missingModel.json()).toEqual({ error: "model is required" });
  });

  it("accepts any content type, as Ollama does", async () => {
    const response = await fetch(`${simulator.url}/api/generate`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: JSON.stringify({ model: TAG, prompt: "hi", stream: false, options: { num_predict: 1 } }),
    });
    expect(response.status).toBe(200);
  });

  it("refuses an embedding model on chat", async () => {
    const response = await api("/api/chat", { model: "nomic-embed-text", messages: MESSAGES });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toContain("does not support chat");
  });
});
