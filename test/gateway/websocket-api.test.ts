/**
 * `GET /v1/ws` with a real `ws` client against a whole in-process network: the key is checked
 * at the upgrade, many requests share one socket with their frames tagged by id, cancel stops
 * the engine, and every kind of bad frame gets an error frame while the socket stays usable.
 */
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket, { type RawData } from "ws";
import type { OpenAiErrorBody } from "../../gateway/errors.ts";
import { expectOpenAiShape, validateOpenAi } from "../support/openai-schemas.ts";
import { eventually, startTestStack, type TestStack } from "../support/test-stack.ts";

const CHAT_MODEL = "qwen2.5-7b-instruct";
const BODY_LIMIT = 64 * 1024;

interface ChunkFrame {
  type: "chunk";
  id: string;
  chunk: {
    id: string;
    object: string;
    choices: {
      index: number;
      delta?: { role?: string; content?: string | null };
      text?: string;
      finish_reason: string | null;
    }[];
    usage?: Usage | null;
  };
}
interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}
interface ResponseFrame {
  type: "response";
  id: string;
  response: {
    id: string;
    object: string;
    usage: Usage;
    choices?: { message?: { content: string | null }; text?: string }[];
    data?: unknown[];
  };
}
interface DoneFrame {
  type: "done";
  id: string;
  usage?: Usage;
}
interface ErrorFrame extends OpenAiErrorBody {
  type: "error";
  id: string | null;
  status: number;
}
type ServerFrame = ChunkFrame | ResponseFrame | DoneFrame | ErrorFrame;

/** A `ws` client that records every frame and lets a test wait for the one it expects. */
class WsClient {
  readonly frames: ServerFrame[] = [];
  closed: { code: number; reason: string } | undefined;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly socket: WebSocket) {
    socket.on("message", (data: RawData) => {
      this.frames.push(JSON.parse(data.toString()) as ServerFrame);
      this.wake();
    });
    socket.on("close", (code: number, reason: Buffer) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  static async open(url: string, key: string): Promise<WsClient> {
    const socket = new WebSocket(`${url.replace(/^http/, "ws")}/v1/ws`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const client = new WsClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("error", reject);
    });
    return client;
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === "string" || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  }

  /** Frames for one request id, in arrival order. */
  framesFor(id: string): ServerFrame[] {
    return this.frames.filter((frame) => frame.id === id);
  }

  /** Waits for the first frame from `from` on that matches. */
  async waitFor<T extends ServerFrame>(
    match: (frame: ServerFrame) => frame is T,
    from = 0,
    timeoutMs = 5_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.slice(from).find(match);
      if (found) return found;
      if (this.closed)
        throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) before the frame came`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.slice(from)).slice(0, 500)}`,
        );
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.waiters.add(wake);
      });
    }
  }

  /** The terminal frame (response, done or error) for a request id. */
  finished(id: string, from = 0, timeoutMs = 5_000): Promise<ResponseFrame | DoneFrame | ErrorFrame> {
    return this.waitFor(
      (frame): frame is ResponseFrame | DoneFrame | ErrorFrame => frame.id === id && frame.type !== "chunk",
      from,
      timeoutMs,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const closed = new Promise<void>((resolve) => this.socket.once("close", () => resolve()));
    this.socket.close();
    await closed;
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

const isError =
  (id: string | null) =>
  (frame: ServerFrame): frame is ErrorFrame =>
    frame.type === "error" && frame.id === id;

let stack: TestStack;
const clients: WsClient[] = [];

async function connect(): Promise<WsClient> {
  const client = await WsClient.open(stack.url, stack.apiKey);
  clients.push(client);
  return client;
}

beforeAll(async () => {
  stack = await startTestStack({ simulator: { perTokenLatencyMs: 10 }, settings: { bodyLimitBytes: BODY_LIMIT } });
});
afterAll(async () => {
  await Promise.allSettled(clients.map((client) => client.close()));
  await stack?.close();
});

const chatBody = (content: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  model: CHAT_MODEL,
  messages: [{ role: "user", content }],
  max_tokens: 3,
  seed: 11,
  ...extra,
});
/**
 * A request that really runs to its cap: the simulator ends an answer on its own after 16 to
 * 128 tokens unless vLLM's `ignore_eos` (an extra field the gateway passes through) is set.
 */
const longBody = (content: string, maxTokens: number, extra: Record<string, unknown> = {}) =>
  chatBody(content, { max_tokens: maxTokens, ignore_eos: true, ...extra });

/** The text an SSE stream of the same request produces, for comparing order. */
async function sseText(body: Record<string, unknown>): Promise<string> {
  const response = await request(`${stack.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({ ...body, stream: true }),
  });
  const text = await response.body.text();
  expect(response.statusCode).toBe(200);
  let output = "";
  for (const line of text.split("\n")) {
    if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
    const chunk = JSON.parse(line.slice(6)) as ChunkFrame["chunk"];
    output += chunk.choices[0]?.delta?.content ?? "";
  }
  return output;
}

/** Asserts the socket still serves: a valid non-streaming request gets its response frame. */
async function expectUsable(client: WsClient, id: string): Promise<void> {
  const from = client.frames.length;
  client.send({ type: "request", id, path: "/v1/chat/completions", body: chatBody("still there?", { max_tokens: 2 }) });
  const frame = await client.finished(id, from);
  expect(frame.type, JSON.stringify(frame)).toBe("response");
}

describe("WebSocket API: authentication at the upgrade", () => {
  const upgrade = (headers: Record<string, string>) =>
    new Promise<{ status: number; body: string; opened: boolean }>((resolve, reject) => {
      const socket = new WebSocket(`${stack.url.replace(/^http/, "ws")}/v1/ws`, { headers });
      let opened = false;
      socket.once("open", () => {
        opened = true;
        socket.close();
        resolve({ status: 101, body: "", opened });
      });
      socket.once("unexpected-response", (req, response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (part: string) => {
          body += part;
        });
        response.on("end", () => {
          req.destroy();
          resolve({ status: response.statusCode ?? 0, body, opened });
        });
      });
      socket.once("error", reject);
    });

  it.each([
    ["a wrong key", { authorization: "Bearer sk-hn-not-a-key" }, "invalid_api_key"],
    ["no key", {}, null],
    ["a Basic header", { authorization: "Basic c2staG4tdGVzdDp4" }, null],
  ])("refuses %s with 401 and never opens a socket", async (_name, headers, code) => {
    const result = await upgrade(headers);
    expect(result.opened).toBe(false);
    expect(result.status).toBe(401);
    const body = JSON.parse(result.body) as OpenAiErrorBody;
    expect(validateOpenAi("ErrorResponse", body)).toEqual([]);
    expect(body.error.code).toBe(code);
  });

  it("answers a plain HTTP GET (no upgrade) with 426 in OpenAI's envelope", async () => {
    const response = await request(`${stack.url}/v1/ws`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    const body = (await response.body.json()) as OpenAiErrorBody;
    expect(response.statusCode).toBe(426);
    expect(response.headers.upgrade).toBe("websocket");
    expect(response.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(validateOpenAi("ErrorResponse", body)).toEqual([]);
    expect(body.error.code).toBe("upgrade_required");
    // Without a key it is a 401 first, as for every /v1 route.
    const anonymous = await request(`${stack.url}/v1/ws`);
    expect(anonymous.statusCode).toBe(401);
    await anonymous.body.dump();
  });

  it("opens with the right key", async () => {
    const result = await upgrade({ authorization: `Bearer ${stack.apiKey}` });
    expect(result).toMatchObject({ status: 101, opened: true });
  });
});

describe("WebSocket API: many requests on one socket", () => {
  it("streams concurrent requests, each with its own chunks in order and a done", async () => {
    const client = await connect();
    const requests = [
      {
        id: "req-a",
        body: chatBody("Tell me about GPUs.", { max_tokens: 6, stream: true, stream_options: { include_usage: true } }),
      },
      { id: "req-b", body: chatBody("Tell me about CPUs.", { max_tokens: 9, stream: true }) },
      {
        id: "req-c",
        body: chatBody("Tell me about TPUs.", {
          max_tokens: 12,
          stream: true,
          stream_options: { include_usage: true },
        }),
      },
      {
        id: "req-d",
        body: chatBody("Tell me about NPUs.", {
          max_tokens: 15,
          stream: true,
          stream_options: { include_usage: false },
        }),
      },
    ];
    for (const { id, body } of requests) client.send({ type: "request", id, path: "/v1/chat/completions", body });
    const ends = await Promise.all(requests.map(({ id }) => client.finished(id)));

    const responseIds = new Set<string>();
    for (const [index, { id, body }] of requests.entries()) {
      expect(ends[index]?.type, JSON.stringify(ends[index])).toBe("done");
      const frames = client.framesFor(id);
      // done is the last frame for the id, and nothing else is an error or response.
      expect(frames.at(-1)?.type).toBe("done");
      const chunks = frames.slice(0, -1) as ChunkFrame[];
      expect(chunks.every((frame) => frame.type === "chunk")).toBe(true);
      for (const frame of chunks) expectOpenAiShape("CreateChatCompletionStreamResponse", frame.chunk);
      // All chunks of one request share one response id, distinct from every other request's.
      const chunkIds = new Set(chunks.map((frame) => frame.chunk.id));
      expect(chunkIds.size).toBe(1);
      const [responseId] = chunkIds;
      expect(responseIds.has(String(responseId))).toBe(false);
      responseIds.add(String(responseId));
      // Order: role first, finish_reason once on the last content chunk, usage (when asked) after it.
      const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
      const content = includeUsage ? chunks.slice(0, -1) : chunks;
      expect(content[0]?.chunk.choices[0]?.delta?.role).toBe("assistant");
      expect(
        content
          .filter((frame) => frame.chunk.choices[0]?.finish_reason)
          .map((frame) => frame.chunk.choices[0]?.finish_reason),
      ).toEqual(["length"]);
      expect(content.at(-1)?.chunk.choices[0]?.finish_reason).toBe("length");
      const done = frames.at(-1) as DoneFrame;
      if (includeUsage) {
        const usageChunk = chunks.at(-1)?.chunk;
        expect(usageChunk?.choices).toEqual([]);
        expect(usageChunk?.usage?.completion_tokens).toBe(body.max_tokens);
        expect(done.usage).toEqual(usageChunk?.usage);
        expect(done.usage?.total_tokens).toBe((done.usage?.prompt_tokens ?? 0) + (done.usage?.completion_tokens ?? 0));
      } else {
        expect(done.usage).toBeUndefined();
        expect(chunks.some((frame) => frame.chunk.usage)).toBe(false);
      }
      // The same request over SSE yields the same text: the WS relay kept the chunk order.
      const text = content.map((frame) => frame.chunk.choices[0]?.delta?.content ?? "").join("");
      expect(text.length).toBeGreaterThan(0);
      expect(text).toBe(await sseText({ ...body, stream_options: undefined }));
    }
    // They really ran side by side: every request had output before the first one finished.
    const firstDone = client.frames.findIndex((frame) => frame.type === "done");
    for (const { id } of requests)
      expect(client.frames.slice(0, firstDone).some((frame) => frame.id === id && frame.type === "chunk")).toBe(true);
  });

  it("answers a non-streaming request with one response frame", async () => {
    const client = await connect();
    client.send({
      type: "request",
      id: "whole",
      path: "/v1/chat/completions",
      body: chatBody("Hello there.", { max_tokens: 5 }),
    });
    const frame = await client.finished("whole");
    expect(frame.type).toBe("response");
    const response = (frame as ResponseFrame).response;
    expectOpenAiShape("CreateChatCompletionResponse", response);
    expect(response.usage.completion_tokens).toBe(5);
    expect(client.framesFor("whole")).toHaveLength(1);
  });

  it("serves /v1/completions (streamed) and /v1/embeddings over the same socket", async () => {
    const client = await connect();
    client.send({
      type: "request",
      id: "cmpl",
      path: "/v1/completions",
      body: { model: CHAT_MODEL, prompt: "Once", max_tokens: 4, stream: true },
    });
    client.send({
      type: "request",
      id: "emb",
      path: "/v1/embeddings",
      body: { model: "nomic-embed-text", input: ["one", "two"] },
    });
    const [completion, embedding] = await Promise.all([client.finished("cmpl"), client.finished("emb")]);
    expect(completion.type).toBe("done");
    const chunks = client.framesFor("cmpl").filter((frame): frame is ChunkFrame => frame.type === "chunk");
    expect(chunks.length).toBeGreaterThan(0);
    // OpenAI's spec types a legacy completion's finish_reason as non-null, yet its streams send
    // null until the last chunk (as SSE here does too); check everything else against the spec.
    for (const frame of chunks) {
      const choices = frame.chunk.choices.map((choice) => ({
        ...choice,
        finish_reason: choice.finish_reason ?? "length",
      }));
      expectOpenAiShape("CreateCompletionResponse", { ...frame.chunk, choices });
    }
    expect(chunks.map((frame) => frame.chunk.choices[0]?.finish_reason ?? null).filter(Boolean)).toEqual(["length"]);
    expect(embedding.type).toBe("response");
    expectOpenAiShape("CreateEmbeddingResponse", (embedding as ResponseFrame).response);
    expect((embedding as ResponseFrame).response.data).toHaveLength(2);
  });
});

describe("WebSocket API: cancel", () => {
  const chunkCount = (client: WsClient, id: string) =>
    client.framesFor(id).filter((frame) => frame.type === "chunk").length;

  it("stops a long streaming request down to the engine, and bills what was produced", async () => {
    const client = await connect();
    const cancelledBefore = stack.simulator.stats().cancelledRequests;
    const body = longBody("Write a novel.", 5_000, { stream: true, stream_options: { include_usage: true } });
    client.send({ type: "request", id: "long", path: "/v1/chat/completions", body });
    const first = await client.waitFor((frame): frame is ChunkFrame => frame.id === "long" && frame.type === "chunk");
    await eventually(() => (chunkCount(client, "long") >= 3 ? true : undefined), 3_000);
    const cancelledAt = Date.now();
    client.send({ type: "cancel", id: "long" });

    // The engine sees the cancel promptly (at 10 ms a token, 5000 tokens would take 50 s).
    await eventually(() => (stack.simulator.stats().cancelledRequests > cancelledBefore ? true : undefined), 2_000);
    const stats = stack.simulator.stats();
    expect(stats.cancelledRequests).toBe(cancelledBefore + 1);
    const record = stats.cancelled.at(-1);
    expect((record?.cancelledAt ?? Number.POSITIVE_INFINITY) - cancelledAt).toBeLessThan(1_000);
    expect(record?.completionTokens).toBeLessThan(100);

    // The request ends with exactly one terminal frame, a done carrying the billed usage, and
    // no chunk follows it.
    const end = await client.finished("long");
    expect(end.type).toBe("done");
    const frames = client.framesFor("long");
    expect(frames.at(-1)).toBe(end);
    expect(frames.filter((frame) => frame.type !== "chunk")).toHaveLength(1);
    const contentChunks = frames.filter(
      (frame): frame is ChunkFrame => frame.type === "chunk" && Boolean(frame.chunk.choices[0]?.delta?.content),
    );
    expect(contentChunks.length).toBeLessThan(100);
    const usage = (end as DoneFrame).usage;
    expect(usage?.completion_tokens).toBeGreaterThanOrEqual(contentChunks.length);
    expect(usage?.completion_tokens).toBeLessThan(100);
    // The gateway books it as cancelled, charging what the client was told.
    const jobId = first.chunk.id
      .replace(/^chatcmpl-/, "")
      .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, "$1-$2-$3-$4-$5");
    const job = await eventually(() => stack.gateway.services.jobs.record(jobId));
    expect(job.outcome).toBe("cancelled");
    expect(job.tokenUsage.completionTokens).toBe(usage?.completion_tokens);
    await expectUsable(client, "after-cancel");
  });

  it("stops a long non-streaming request", async () => {
    const client = await connect();
    const cancelledBefore = stack.simulator.stats().cancelledRequests;
    const activeBefore = stack.simulator.stats().activeRequests;
    client.send({
      type: "request",
      id: "long-whole",
      path: "/v1/chat/completions",
      body: longBody("Write a saga.", 5_000),
    });
    await eventually(() => (stack.simulator.stats().activeRequests > activeBefore ? true : undefined), 2_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    client.send({ type: "cancel", id: "long-whole" });
    await eventually(() => (stack.simulator.stats().cancelledRequests > cancelledBefore ? true : undefined), 2_000);
    // One terminal frame frees the id; no (partial) response and no chunks.
    const end = await client.finished("long-whole");
    expect(end.type).toBe("done");
    expect(client.framesFor("long-whole")).toEqual([end]);
    await expectUsable(client, "after-cancel-whole");
  });

  it("cancels only the named request, and ignores a cancel for an unknown id", async () => {
    const client = await connect();
    client.send({ type: "cancel", id: "never-sent" });
    client.send({
      type: "request",
      id: "keep",
      path: "/v1/chat/completions",
      body: longBody("Keep going.", 20, { stream: true }),
    });
    client.send({
      type: "request",
      id: "drop",
      path: "/v1/chat/completions",
      body: longBody("Stop soon.", 2_000, { stream: true }),
    });
    await client.waitFor((frame): frame is ChunkFrame => frame.id === "drop" && frame.type === "chunk");
    client.send({ type: "cancel", id: "drop" });
    const kept = await client.finished("keep");
    expect(kept.type).toBe("done");
    const keptChunks = client.framesFor("keep").filter((frame): frame is ChunkFrame => frame.type === "chunk");
    expect(keptChunks.at(-1)?.chunk.choices[0]?.finish_reason).toBe("length");
    await client.finished("drop");
    expect(client.frames.some((frame) => frame.id === "never-sent")).toBe(false);
  });

  it("cancels every running request when the socket closes", async () => {
    const client = await connect();
    const cancelledBefore = stack.simulator.stats().cancelledRequests;
    for (const id of ["gone-1", "gone-2"]) {
      client.send({
        type: "request",
        id,
        path: "/v1/chat/completions",
        body: longBody(`Endless ${id}.`, 5_000, { stream: true }),
      });
    }
    await Promise.all(
      ["gone-1", "gone-2"].map((id) =>
        client.waitFor((frame): frame is ChunkFrame => frame.id === id && frame.type === "chunk"),
      ),
    );
    await client.close();
    await eventually(
      () => (stack.simulator.stats().cancelledRequests >= cancelledBefore + 2 ? true : undefined),
      2_000,
    );
  });
});

describe("WebSocket API: bad frames", () => {
  const validBody = chatBody("hi");
  const cases: {
    name: string;
    frame: unknown;
    id: string | null;
    status: number;
    code?: string | null;
    param?: string | null;
  }[] = [
    { name: "non-JSON text", frame: "this is not json", id: null, status: 400, code: "invalid_json" },
    { name: "truncated JSON", frame: '{"type":"request","id":"t"', id: null, status: 400, code: "invalid_json" },
    {
      name: "a binary frame",
      frame: Buffer.from(JSON.stringify({ type: "request", id: "bin", path: "/v1/chat/completions", body: validBody })),
      id: null,
      status: 400,
    },
    { name: "a JSON array", frame: "[1,2,3]", id: null, status: 400 },
    { name: "a JSON string", frame: '"request"', id: null, status: 400 },
    { name: "JSON null", frame: "null", id: null, status: 400 },
    {
      name: "a frame without id",
      frame: { type: "request", path: "/v1/chat/completions", body: validBody },
      id: null,
      status: 400,
      param: "id",
    },
    {
      name: "a numeric id",
      frame: { type: "request", id: 7, path: "/v1/chat/completions", body: validBody },
      id: null,
      status: 400,
      param: "id",
    },
    {
      name: "an empty id",
      frame: { type: "request", id: "", path: "/v1/chat/completions", body: validBody },
      id: null,
      status: 400,
      param: "id",
    },
    {
      name: "an id over 128 characters",
      frame: { type: "request", id: "x".repeat(129), path: "/v1/chat/completions", body: validBody },
      id: null,
      status: 400,
      param: "id",
    },
    {
      name: "an unknown type",
      frame: { type: "subscribe", id: "sub" },
      id: "sub",
      status: 400,
      code: "invalid_value",
      param: "type",
    },
    { name: "no type", frame: { id: "notype" }, id: "notype", status: 400, param: "type" },
    {
      name: "a type smuggled in __proto__",
      frame: '{"__proto__":{"type":"request"},"id":"proto"}',
      id: "proto",
      status: 400,
      param: "type",
    },
    {
      name: "a path that is not a generation path",
      frame: { type: "request", id: "path", path: "/v1/models", body: validBody },
      id: "path",
      status: 400,
      code: "invalid_value",
      param: "path",
    },
    {
      name: "a path traversal",
      frame: { type: "request", id: "trav", path: "/v1/chat/completions/../../admin/runners", body: validBody },
      id: "trav",
      status: 400,
      param: "path",
    },
    {
      name: "no path",
      frame: { type: "request", id: "nopath", body: validBody },
      id: "nopath",
      status: 400,
      param: "path",
    },
    {
      name: "a path named like an Object method",
      frame: { type: "request", id: "ctor", path: "constructor", body: validBody },
      id: "ctor",
      status: 400,
      param: "path",
    },
    {
      name: "no body",
      frame: { type: "request", id: "nobody", path: "/v1/chat/completions" },
      id: "nobody",
      status: 400,
      code: "invalid_type",
      param: null,
    },
    {
      name: "a body that is an array",
      frame: { type: "request", id: "arr", path: "/v1/chat/completions", body: [] },
      id: "arr",
      status: 400,
      code: "invalid_type",
    },
    {
      name: "empty messages",
      frame: { type: "request", id: "empty", path: "/v1/chat/completions", body: { ...validBody, messages: [] } },
      id: "empty",
      status: 400,
      code: "empty_array",
      param: "messages",
    },
    {
      name: "a bad role",
      frame: {
        type: "request",
        id: "role",
        path: "/v1/chat/completions",
        body: chatBody("x", { messages: [{ role: "robot", content: "x" }] }),
      },
      id: "role",
      status: 400,
      param: "messages[0].role",
    },
    {
      name: 'max_tokens "12"',
      frame: { type: "request", id: "mt", path: "/v1/chat/completions", body: { ...validBody, max_tokens: "12" } },
      id: "mt",
      status: 400,
      code: "invalid_type",
      param: "max_tokens",
    },
    {
      name: "stream_options without stream",
      frame: {
        type: "request",
        id: "so",
        path: "/v1/chat/completions",
        body: { ...validBody, stream_options: { include_usage: true } },
      },
      id: "so",
      status: 400,
      param: "stream_options",
    },
    {
      name: "an unknown model",
      frame: {
        type: "request",
        id: "model",
        path: "/v1/chat/completions",
        body: { ...validBody, model: "gpt-17-ultra" },
      },
      id: "model",
      status: 404,
      code: "model_not_found",
      param: "model",
    },
    {
      name: "a chat model for embeddings",
      frame: { type: "request", id: "kind", path: "/v1/embeddings", body: { model: CHAT_MODEL, input: "x" } },
      id: "kind",
      status: 400,
      code: "model_not_supported",
      param: "model",
    },
  ];

  it.each(cases.map((entry) => [entry.name, entry] as const))(
    "answers %s with an error frame and keeps the socket usable",
    async (_name, entry) => {
      const client = await connect();
      const from = client.frames.length;
      client.send(entry.frame);
      const error = await client.waitFor(isError(entry.id), from);
      expect(error.status).toBe(entry.status);
      expect(validateOpenAi("ErrorResponse", { error: error.error }), JSON.stringify(error)).toEqual([]);
      if (entry.code !== undefined) expect(error.error.code, JSON.stringify(error)).toBe(entry.code);
      if (entry.param !== undefined) expect(error.error.param, JSON.stringify(error)).toBe(entry.param);
      await expectUsable(client, `ok-${client.frames.length}`);
      // The bad frame produced exactly one frame, and nothing ran for it.
      expect(client.frames.filter((frame) => frame.type === "error")).toHaveLength(1);
      await client.close();
    },
  );

  it("refuses a duplicate id while the first request runs, and the first still finishes", async () => {
    const client = await connect();
    client.send({
      type: "request",
      id: "dup",
      path: "/v1/chat/completions",
      body: longBody("First.", 25, { stream: true }),
    });
    await client.waitFor((frame): frame is ChunkFrame => frame.id === "dup" && frame.type === "chunk");
    client.send({
      type: "request",
      id: "dup",
      path: "/v1/chat/completions",
      body: chatBody("Second.", { max_tokens: 2 }),
    });
    const error = await client.waitFor(isError("dup"));
    expect(error.status).toBe(400);
    expect(error.error.param).toBe("id");
    expect(error.error.message).toMatch(/already running/);
    const end = await client.waitFor((frame): frame is DoneFrame => frame.id === "dup" && frame.type === "done");
    expect(end.type).toBe("done");
    // Exactly one request ran under the id: one finish_reason, no response frame.
    const chunks = client.framesFor("dup").filter((frame): frame is ChunkFrame => frame.type === "chunk");
    expect(chunks.filter((frame) => frame.chunk.choices[0]?.finish_reason === "length")).toHaveLength(1);
    expect(client.framesFor("dup").some((frame) => frame.type === "response")).toBe(false);
    // Once finished, the id may be used again.
    const from = client.frames.length;
    client.send({
      type: "request",
      id: "dup",
      path: "/v1/chat/completions",
      body: chatBody("Third.", { max_tokens: 2 }),
    });
    expect((await client.finished("dup", from)).type).toBe("response");
  });

  it("keeps serving after a burst of garbage on one socket", async () => {
    const client = await connect();
    for (const entry of cases) client.send(entry.frame);
    await eventually(
      () => (client.frames.filter((frame) => frame.type === "error").length >= cases.length ? true : undefined),
      5_000,
    );
    expect(client.frames.filter((frame) => frame.type === "error")).toHaveLength(cases.length);
    expect(client.frames.every((frame) => frame.type === "error")).toBe(true);
    await expectUsable(client, "after-burst");
  });

  it("answers a frame over the body limit with a 413 error frame, and the socket carries on", async () => {
    const bystander = await connect();
    const client = await connect();
    client.send({
      type: "request",
      id: "huge",
      path: "/v1/chat/completions",
      body: chatBody("x".repeat(BODY_LIMIT + 1)),
    });
    const error = await eventually(() => client.frames.find((frame) => frame.type === "error"), 2_000);
    expect(error).toMatchObject({ status: 413, error: { code: "request_too_large" } });
    expect(client.closed).toBeUndefined();
    await expectUsable(client, "after-huge");
    await expectUsable(bystander, "bystander");
  });
});
