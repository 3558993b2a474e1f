/**
 * Bad input over real HTTP: every way a client can get a request wrong, against every
 * generation endpoint, must come back as OpenAI's error envelope with the right 4xx, the
 * parameter it is about, and an `x-request-id` — never a 5xx, never a dropped connection, and
 * never a request that reaches an engine. After the whole matrix the gateway still serves.
 */
import { Readable } from "node:stream";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateOpenAi } from "../support/openai-schemas.ts";
import { startTestStack, TEST_API_KEY, type TestStack } from "../support/test-stack.ts";

const BODY_LIMIT = 64 * 1024;
const CHAT_MODEL = "qwen2.5-7b-instruct";
const CHAT_CONTEXT = 32_768;
const EMBEDDING_MODEL = "nomic-embed-text";

type Path = "/v1/chat/completions" | "/v1/completions" | "/v1/embeddings";
const PATHS: readonly Path[] = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"];

/** A request each endpoint accepts; the cases below break one thing at a time. */
const VALID: Record<Path, Record<string, unknown>> = {
  "/v1/chat/completions": { model: CHAT_MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 3 },
  "/v1/completions": { model: CHAT_MODEL, prompt: "Once upon a time", max_tokens: 3 },
  "/v1/embeddings": { model: EMBEDDING_MODEL, input: "hello" },
};

interface Expected {
  status: number;
  /** OpenAI `error.code`; checked when present (null included). */
  code?: string | null;
  /** OpenAI `error.param`; checked when present (null included). */
  param?: string | null;
  type?: string;
  /** A fragment the message must contain. */
  message?: RegExp;
}

interface BadCase extends Expected {
  name: string;
  method?: "GET" | "POST" | "PUT" | "DELETE" | "PATCH";
  path: string;
  /** Replaces the default `authorization` + `content-type: application/json` headers. */
  headers?: Record<string, string>;
  body?: string | (() => Readable);
}

const auth: Record<string, string> = { authorization: `Bearer ${TEST_API_KEY}` };
const jsonHeaders: Record<string, string> = { ...auth, "content-type": "application/json" };

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ settings: { bodyLimitBytes: BODY_LIMIT } });
});
afterAll(async () => {
  await stack?.close();
});

const withBody = (path: Path, changes: Record<string, unknown>, remove: string[] = []): string => {
  const body: Record<string, unknown> = { ...VALID[path], ...changes };
  for (const key of remove) delete body[key];
  return JSON.stringify(body);
};

/** The valid body, for cases that break something other than the body. */
const validText = (path: Path): string => JSON.stringify(VALID[path]);
const chat = (changes: Record<string, unknown>, remove: string[] = []) =>
  withBody("/v1/chat/completions", changes, remove);
const userMessage = { role: "user", content: "hi" };

function casesFor(path: Path): BadCase[] {
  const needed = path === "/v1/chat/completions" ? "messages" : path === "/v1/completions" ? "prompt" : "input";
  const otherModel = path === "/v1/embeddings" ? CHAT_MODEL : EMBEDDING_MODEL;
  return [
    { name: "malformed JSON", path, body: '{"model": "x",', status: 400, code: "invalid_json", param: null },
    {
      name: "JSON with a trailing comma",
      path,
      body: '{"model": "x",}',
      status: 400,
      code: "invalid_json",
      param: null,
    },
    {
      name: "empty body with a JSON content type",
      path,
      body: "",
      status: 400,
      code: "invalid_json",
      param: null,
      message: /empty/,
    },
    { name: "no body at all", path, headers: auth, body: undefined, status: 400, code: "invalid_type", param: null },
    { name: "a JSON array", path, body: "[]", status: 400, code: "invalid_type", param: null, message: /JSON object/ },
    { name: "a JSON string", path, body: '"hello"', status: 400, code: "invalid_type", param: null },
    { name: "a JSON number", path, body: "42", status: 400, code: "invalid_type", param: null },
    { name: "JSON null", path, body: "null", status: 400, code: "invalid_type", param: null },
    { name: "JSON true", path, body: "true", status: 400, code: "invalid_type", param: null },
    {
      name: "model missing",
      path,
      body: withBody(path, {}, ["model"]),
      status: 400,
      code: "missing_required_parameter",
      param: "model",
    },
    {
      name: "model a number",
      path,
      body: withBody(path, { model: 7 }),
      status: 400,
      code: "invalid_type",
      param: "model",
    },
    {
      name: "model an empty string",
      path,
      body: withBody(path, { model: "" }),
      status: 400,
      code: "invalid_value",
      param: "model",
    },
    {
      name: `${needed} missing`,
      path,
      body: withBody(path, {}, [needed]),
      status: 400,
      code: "missing_required_parameter",
      param: needed,
    },
    {
      name: "unknown model",
      path,
      body: withBody(path, { model: "gpt-17-ultra" }),
      status: 404,
      code: "model_not_found",
      param: "model",
      message: /gpt-17-ultra/,
    },
    {
      name: "a model of the wrong kind for the endpoint",
      path,
      body: withBody(path, { model: otherModel }),
      status: 400,
      code: "model_not_supported",
      param: "model",
    },
    {
      name: "a body over the limit (content-length)",
      path,
      body: withBody(path, { user: "x".repeat(BODY_LIMIT) }),
      status: 413,
      code: "request_too_large",
      message: new RegExp(String(BODY_LIMIT)),
    },
    {
      name: "a body over the limit (chunked, no content-length)",
      path,
      body: () =>
        Readable.from([Buffer.from('{"model":"x","user":"'), Buffer.alloc(BODY_LIMIT, "x"), Buffer.from('"}')]),
      status: 413,
      code: "request_too_large",
    },
    {
      name: "text/plain",
      path,
      headers: { ...auth, "content-type": "text/plain" },
      body: validText(path),
      status: 400,
      code: "invalid_content_type",
    },
    {
      name: "form-urlencoded",
      path,
      headers: { ...auth, "content-type": "application/x-www-form-urlencoded" },
      body: "model=x&prompt=y",
      status: 400,
      code: "invalid_content_type",
    },
    {
      name: "a body with no content type",
      path,
      headers: { ...auth },
      body: validText(path),
      status: 400,
      code: "invalid_content_type",
    },
    {
      name: "no Authorization header",
      path,
      headers: { "content-type": "application/json" },
      body: validText(path),
      status: 401,
      code: null,
      message: /didn't provide an API key/,
    },
    {
      name: "a wrong key",
      path,
      headers: { "content-type": "application/json", authorization: "Bearer sk-hn-not-a-real-key" },
      body: validText(path),
      status: 401,
      code: "invalid_api_key",
      param: null,
    },
    {
      name: "Basic instead of Bearer",
      path,
      headers: {
        "content-type": "application/json",
        authorization: `Basic ${Buffer.from(`user:${TEST_API_KEY}`).toString("base64")}`,
      },
      body: validText(path),
      status: 401,
    },
    {
      name: "'Bearer' with no token",
      path,
      headers: { "content-type": "application/json", authorization: "Bearer" },
      body: validText(path),
      status: 401,
    },
    {
      name: "a token with spaces in it",
      path,
      headers: { "content-type": "application/json", authorization: `Bearer ${TEST_API_KEY} extra` },
      body: validText(path),
      status: 401,
    },
    {
      name: "a garbled header (latin-1 bytes)",
      path,
      headers: { "content-type": "application/json", authorization: "Bearer \u00e9\u00ff\u00fe\u0080garbled" },
      body: validText(path),
      status: 401,
      code: "invalid_api_key",
    },
    {
      name: "a very long token",
      path,
      headers: { "content-type": "application/json", authorization: `Bearer ${"k".repeat(8_000)}` },
      body: validText(path),
      status: 401,
      code: "invalid_api_key",
    },
    {
      name: "a bad key is refused before the body is read (no 400 leak)",
      path,
      headers: { "content-type": "application/json", authorization: "Bearer sk-hn-wrong" },
      body: "{not json",
      status: 401,
    },
    {
      name: "GET",
      method: "GET",
      path,
      headers: auth,
      status: 404,
      code: "unknown_url",
      message: new RegExp(`GET ${path}`),
    },
    { name: "PUT", method: "PUT", path, status: 404, body: validText(path), code: "unknown_url" },
    { name: "DELETE", method: "DELETE", path, headers: auth, status: 404, code: "unknown_url" },
  ];
}

const CHAT_CASES: BadCase[] = [
  {
    name: "messages an empty array",
    path: "",
    body: chat({ messages: [] }),
    status: 400,
    code: "empty_array",
    param: "messages",
  },
  {
    name: "messages a string",
    path: "",
    body: chat({ messages: "hi" }),
    status: 400,
    code: "invalid_type",
    param: "messages",
  },
  {
    name: "messages an object",
    path: "",
    body: chat({ messages: userMessage }),
    status: 400,
    code: "invalid_type",
    param: "messages",
  },
  {
    name: "a message that is a string",
    path: "",
    body: chat({ messages: ["hi"] }),
    status: 400,
    code: "invalid_type",
    param: "messages[0]",
  },
  {
    name: "a message without role",
    path: "",
    body: chat({ messages: [userMessage, { content: "hi" }] }),
    status: 400,
    code: "missing_required_parameter",
    param: "messages[1].role",
  },
  {
    name: "a bad role",
    path: "",
    body: chat({ messages: [{ role: "wizard", content: "hi" }] }),
    status: 400,
    code: "invalid_value",
    param: "messages[0].role",
    message: /'user'/,
  },
  {
    name: "content a number",
    path: "",
    body: chat({ messages: [{ role: "user", content: 42 }] }),
    status: 400,
    code: "invalid_type",
    param: "messages[0].content",
  },
  {
    name: "a content part of an unknown type",
    path: "",
    body: chat({ messages: [{ role: "user", content: [{ type: "hologram" }] }] }),
    status: 400,
    code: "invalid_value",
    param: "messages[0].content[0].type",
  },
  {
    name: 'max_tokens the string "12"',
    path: "",
    body: chat({ max_tokens: "12" }),
    status: 400,
    code: "invalid_type",
    param: "max_tokens",
  },
  {
    name: "max_tokens negative",
    path: "",
    body: chat({ max_tokens: -5 }),
    status: 400,
    code: "invalid_value",
    param: "max_tokens",
  },
  {
    name: "max_tokens zero",
    path: "",
    body: chat({ max_tokens: 0 }),
    status: 400,
    code: "invalid_value",
    param: "max_tokens",
  },
  {
    name: "max_tokens 1.5",
    path: "",
    body: chat({ max_tokens: 1.5 }),
    status: 400,
    code: "invalid_type",
    param: "max_tokens",
  },
  {
    name: "max_tokens 10^12",
    path: "",
    body: chat({ max_tokens: 1e12 }),
    status: 400,
    code: "invalid_value",
    param: "max_tokens",
  },
  {
    name: "max_tokens equal to the context length",
    path: "",
    body: chat({ max_tokens: CHAT_CONTEXT }),
    status: 400,
    code: "context_length_exceeded",
    param: "max_tokens",
    message: /32768/,
  },
  {
    name: "max_completion_tokens above the context length",
    path: "",
    body: chat({ max_completion_tokens: CHAT_CONTEXT + 1 }, ["max_tokens"]),
    status: 400,
    code: "context_length_exceeded",
    param: "max_completion_tokens",
  },
  {
    name: "temperature 5",
    path: "",
    body: chat({ temperature: 5 }),
    status: 400,
    code: "invalid_value",
    param: "temperature",
  },
  {
    name: "temperature a string",
    path: "",
    body: chat({ temperature: "hot" }),
    status: 400,
    code: "invalid_type",
    param: "temperature",
  },
  { name: "top_p 1.5", path: "", body: chat({ top_p: 1.5 }), status: 400, code: "invalid_value", param: "top_p" },
  { name: "n 0", path: "", body: chat({ n: 0 }), status: 400, code: "invalid_value", param: "n" },
  {
    name: "stop with 20 items",
    path: "",
    body: chat({ stop: Array.from({ length: 20 }, (_, index) => `s${index}`) }),
    status: 400,
    code: "array_above_max_length",
    param: "stop",
  },
  { name: "stop a number", path: "", body: chat({ stop: 3 }), status: 400, code: "invalid_type", param: "stop" },
  {
    name: "tools an object",
    path: "",
    body: chat({ tools: { type: "function" } }),
    status: 400,
    code: "invalid_type",
    param: "tools",
  },
  {
    name: "a tool without function",
    path: "",
    body: chat({ tools: [{ type: "function" }] }),
    status: 400,
    code: "missing_required_parameter",
    param: "tools[0].function",
  },
  {
    name: "a tool function without name",
    path: "",
    body: chat({ tools: [{ type: "function", function: { description: "x" } }] }),
    status: 400,
    code: "missing_required_parameter",
    param: "tools[0].function.name",
  },
  {
    name: "a tool function with an invalid name",
    path: "",
    body: chat({ tools: [{ type: "function", function: { name: "no spaces allowed" } }] }),
    status: 400,
    code: "invalid_value",
    param: "tools[0].function.name",
  },
  {
    name: "a tool of another type",
    path: "",
    body: chat({ tools: [{ type: "retrieval", function: { name: "f" } }] }),
    status: 400,
    code: "invalid_value",
    param: "tools[0].type",
  },
  {
    name: "tool_choice 'sometimes'",
    path: "",
    body: chat({ tool_choice: "sometimes" }),
    status: 400,
    param: "tool_choice",
  },
  { name: 'stream "yes"', path: "", body: chat({ stream: "yes" }), status: 400, code: "invalid_type", param: "stream" },
  {
    name: "stream_options without stream",
    path: "",
    body: chat({ stream_options: { include_usage: true } }),
    status: 400,
    code: "invalid_value",
    param: "stream_options",
  },
  {
    name: "stream_options with stream false",
    path: "",
    body: chat({ stream: false, stream_options: { include_usage: true } }),
    status: 400,
    code: "invalid_value",
    param: "stream_options",
  },
  {
    name: "stream_options.include_usage a string",
    path: "",
    body: chat({ stream: true, stream_options: { include_usage: "yes" } }),
    status: 400,
    code: "invalid_type",
    param: "stream_options.include_usage",
  },
  {
    name: "response_format of an unknown type",
    path: "",
    body: chat({ response_format: { type: "yaml" } }),
    status: 400,
    code: "invalid_value",
    param: "response_format.type",
  },
].map((entry) => ({ ...entry, path: "/v1/chat/completions" }));

const completion = (changes: Record<string, unknown>, remove: string[] = []) =>
  withBody("/v1/completions", changes, remove);
const COMPLETION_CASES: BadCase[] = [
  {
    name: "prompt an object",
    path: "",
    body: completion({ prompt: { text: "hi" } }),
    status: 400,
    code: "invalid_type",
    param: "prompt",
  },
  {
    name: "prompt an empty array",
    path: "",
    body: completion({ prompt: [] }),
    status: 400,
    code: "empty_array",
    param: "prompt",
  },
  {
    name: "prompt negative token ids",
    path: "",
    body: completion({ prompt: [1, -2] }),
    status: 400,
    param: "prompt[1]",
  },
  {
    name: 'max_tokens the string "12"',
    path: "",
    body: completion({ max_tokens: "12" }),
    status: 400,
    code: "invalid_type",
    param: "max_tokens",
  },
  {
    name: "max_tokens zero",
    path: "",
    body: completion({ max_tokens: 0 }),
    status: 400,
    code: "invalid_value",
    param: "max_tokens",
  },
  {
    name: "max_tokens at the context length",
    path: "",
    body: completion({ max_tokens: CHAT_CONTEXT }),
    status: 400,
    code: "context_length_exceeded",
    param: "max_tokens",
  },
  { name: 'echo "yes"', path: "", body: completion({ echo: "yes" }), status: 400, code: "invalid_type", param: "echo" },
  {
    name: "logprobs 9",
    path: "",
    body: completion({ logprobs: 9 }),
    status: 400,
    code: "invalid_value",
    param: "logprobs",
  },
  {
    name: "temperature 5",
    path: "",
    body: completion({ temperature: 5 }),
    status: 400,
    code: "invalid_value",
    param: "temperature",
  },
  {
    name: "stream_options without stream",
    path: "",
    body: completion({ stream_options: { include_usage: true } }),
    status: 400,
    code: "invalid_value",
    param: "stream_options",
  },
].map((entry) => ({ ...entry, path: "/v1/completions" }));

const embedding = (changes: Record<string, unknown>) => withBody("/v1/embeddings", changes);
const EMBEDDING_CASES: BadCase[] = [
  {
    name: "input a number",
    path: "",
    body: embedding({ input: 5 }),
    status: 400,
    code: "invalid_type",
    param: "input",
  },
  {
    name: "input an empty array",
    path: "",
    body: embedding({ input: [] }),
    status: 400,
    code: "empty_array",
    param: "input",
  },
  {
    name: "input with an empty token list",
    path: "",
    body: embedding({ input: [[]] }),
    status: 400,
    code: "empty_array",
    param: "input[0]",
  },
  {
    name: "input mixing strings and objects",
    path: "",
    body: embedding({ input: ["a", { text: "b" }] }),
    status: 400,
    code: "invalid_type",
    param: "input[1]",
  },
  {
    name: "encoding_format 'hex'",
    path: "",
    body: embedding({ encoding_format: "hex" }),
    status: 400,
    code: "invalid_value",
    param: "encoding_format",
  },
  {
    name: "dimensions 0",
    path: "",
    body: embedding({ dimensions: 0 }),
    status: 400,
    code: "invalid_value",
    param: "dimensions",
  },
  {
    name: 'dimensions "12"',
    path: "",
    body: embedding({ dimensions: "12" }),
    status: 400,
    code: "invalid_type",
    param: "dimensions",
  },
].map((entry) => ({ ...entry, path: "/v1/embeddings" }));

const OTHER_CASES: BadCase[] = [
  {
    name: "an unknown /v1 URL",
    method: "POST",
    path: "/v1/chat/completion",
    body: chat({}),
    status: 404,
    code: "unknown_url",
  },
  {
    name: "an unknown URL without a key",
    method: "GET",
    path: "/v2/models",
    headers: {},
    status: 404,
    code: "unknown_url",
  },
  {
    name: "a path traversal attempt",
    method: "GET",
    path: "/v1/../../etc/passwd",
    headers: {},
    status: 404,
    code: "unknown_url",
  },
  { name: "GET /v1/models without a key", method: "GET", path: "/v1/models", headers: {}, status: 401 },
  {
    name: "GET /v1/models/{id} without a key",
    method: "GET",
    path: "/v1/models/gpt-17-ultra",
    headers: {},
    status: 401,
  },
  {
    name: "GET an unknown model",
    method: "GET",
    path: "/v1/models/gpt-17-ultra",
    headers: auth,
    status: 404,
    code: "model_not_found",
    param: "model",
  },
  { name: "admin with an API key instead of the admin token", method: "GET", path: "/admin/runners", status: 401 },
];

interface Sent {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  text: string;
}

async function send(entry: Pick<BadCase, "method" | "path" | "headers" | "body">): Promise<Sent> {
  const response = await request(`${stack.url}${entry.path}`, {
    method: entry.method ?? "POST",
    headers: entry.headers ?? jsonHeaders,
    body: typeof entry.body === "function" ? entry.body() : entry.body,
  });
  const text = await response.body.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.statusCode, headers: response.headers, body, text };
}

function expectOpenAiError(sent: Sent, expected: Expected): void {
  expect(sent.status, sent.text).toBe(expected.status);
  expect(sent.status).toBeLessThan(500);
  expect(String(sent.headers["content-type"])).toMatch(/^application\/json/);
  expect(sent.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  expect(validateOpenAi("ErrorResponse", sent.body), sent.text).toEqual([]);
  const error = (sent.body as { error: { code: string | null; param: string | null; type: string; message: string } })
    .error;
  expect(error.message.length).toBeGreaterThan(0);
  expect(error.type).toBe(expected.type ?? "invalid_request_error");
  if (expected.code !== undefined) expect(error.code, sent.text).toBe(expected.code);
  if (expected.param !== undefined) expect(error.param, sent.text).toBe(expected.param);
  if (expected.message) expect(error.message).toMatch(expected.message);
}

let engineRequestsBefore = 0;
const engineRequests = () => {
  const stats = stack.simulator.stats();
  return stats.activeRequests + stats.completedRequests + stats.cancelledRequests;
};

describe("bad input on the /v1 generation endpoints", () => {
  it("starts from a gateway that serves each endpoint", async () => {
    for (const path of PATHS) {
      const sent = await send({ path, body: validText(path) });
      expect(sent.status, sent.text).toBe(200);
    }
    engineRequestsBefore = engineRequests();
  });

  const matrix = [...PATHS.flatMap(casesFor), ...CHAT_CASES, ...COMPLETION_CASES, ...EMBEDDING_CASES, ...OTHER_CASES];
  it.each(matrix.map((entry) => [`${entry.method ?? "POST"} ${entry.path}: ${entry.name}`, entry] as const))(
    "%s",
    async (_name, entry) => {
      expectOpenAiError(await send(entry), entry);
    },
  );

  it("let none of the bad requests reach an engine", () => {
    expect(engineRequests()).toBe(engineRequestsBefore);
  });

  it("answers a burst of bad requests in parallel without a 5xx", async () => {
    const burst = matrix.filter((entry) => typeof entry.body !== "function").slice(0, 40);
    const results = await Promise.all(burst.map((entry) => send(entry)));
    for (const [index, sent] of results.entries()) expectOpenAiError(sent, burst[index] as BadCase);
  });

  it("ignores a client-chosen x-request-id: the id is always the gateway's own", async () => {
    const sent = await send({
      path: "/v1/chat/completions",
      headers: { ...jsonHeaders, "x-request-id": "attacker-chosen" },
      body: chat({ messages: [] }),
    });
    expect(sent.headers["x-request-id"]).not.toBe("attacker-chosen");
    expect(sent.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("prototype pollution attempts", () => {
  const polluted = () => ({}) as Record<string, unknown>;

  it.each([
    [
      "a top-level __proto__",
      `{"__proto__":{"polluted":"yes"},"model":"${CHAT_MODEL}","messages":[{"role":"user","content":"hi"}],"max_tokens":2}`,
    ],
    [
      "a nested __proto__",
      `{"model":"${CHAT_MODEL}","messages":[{"role":"user","content":"hi","__proto__":{"polluted":"yes"}}],"max_tokens":2}`,
    ],
    [
      "constructor.prototype",
      `{"constructor":{"prototype":{"polluted":"yes"}},"model":"${CHAT_MODEL}","messages":[{"role":"user","content":"hi"}]}`,
    ],
  ])("refuses a body with %s as a 400 and pollutes nothing", async (_name, body) => {
    const sent = await send({ path: "/v1/chat/completions", body });
    expectOpenAiError(sent, { status: 400, code: "invalid_json", param: null });
    expect(polluted().polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("polluted");
  });

  it("survives __proto__ and constructor headers", async () => {
    const sent = await send({
      path: "/v1/chat/completions",
      headers: { ...jsonHeaders, __proto__: "polluted", constructor: "polluted", "x-hn-prototype": "polluted" },
      body: validText("/v1/chat/completions"),
    });
    expect(sent.status, sent.text).toBe(200);
    expect(polluted().polluted).toBeUndefined();
  });
});

describe("after the matrix", () => {
  it("still serves valid requests on every endpoint, streaming included", async () => {
    for (const path of PATHS) {
      const sent = await send({ path, body: validText(path) });
      expect(sent.status, sent.text).toBe(200);
      expect(sent.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
      const schema =
        path === "/v1/chat/completions"
          ? "CreateChatCompletionResponse"
          : path === "/v1/completions"
            ? "CreateCompletionResponse"
            : "CreateEmbeddingResponse";
      expect(validateOpenAi(schema, sent.body), sent.text).toEqual([]);
    }
    const streamed = await send({
      path: "/v1/chat/completions",
      body: chat({ stream: true, stream_options: { include_usage: true } }),
    });
    expect(streamed.status).toBe(200);
    expect(String(streamed.headers["content-type"])).toMatch(/^text\/event-stream/);
    expect(streamed.text.trimEnd().endsWith("data: [DONE]")).toBe(true);
  });
});
