/**
 * Request dispatch for the one server that speaks both wire formats: vLLM's OpenAI API under
 * `/v1`, `/health`, `/version`, `/metrics`; Ollama's under `/` and `/api`; the simulator's own
 * controls under `/sim`. A lookup table, no framework: this server is a benchmark baseline.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { SimulatorContext } from "./context.ts";
import { FAULT_HEADER, faultForRequest, parseFault } from "./faults.ts";
import { canWrite, isJsonContentType, readJsonBody, sendBody, sendJson } from "./http-io.ts";
import { handleOllamaChat, handleOllamaGenerate } from "./ollama-generate.ts";
import { sendOllamaError, sendOllamaUnavailable } from "./ollama-http.ts";
import {
  handleDelete,
  handleEmbed,
  handleOllamaVersion,
  handlePs,
  handlePull,
  handleRoot,
  handleShow,
  handleTags,
} from "./ollama-routes.ts";
import type { SimulatorFault } from "./server.ts";
import { handleChatCompletions } from "./vllm-chat.ts";
import { handleCompletions } from "./vllm-completions.ts";
import { sendVllmError } from "./vllm-http.ts";
import { handleEmbeddings, handleHealth, handleListModels, handleMetrics, handleVersion } from "./vllm-routes.ts";

type Api = "vllm" | "ollama" | "sim";

interface Route {
  api: Api;
  /** Reads a JSON body first when set. */
  withBody: boolean;
  /** A generation request: subject to faults. */
  generation: boolean;
  handle(
    context: SimulatorContext,
    request: IncomingMessage,
    response: ServerResponse,
    body: unknown,
    fault: SimulatorFault | undefined,
  ): void | Promise<void>;
}

function route(api: Api, handle: Route["handle"], flags: { withBody?: boolean; generation?: boolean } = {}): Route {
  return { api, handle, withBody: flags.withBody ?? false, generation: flags.generation ?? false };
}

const generation = { withBody: true, generation: true };

/** "METHOD /path" → route. */
const ROUTES = new Map<string, Route>([
  ["GET /v1/models", route("vllm", (context, _request, response) => handleListModels(context, response))],
  ["GET /health", route("vllm", (_context, _request, response) => handleHealth(response))],
  ["GET /version", route("vllm", (_context, _request, response) => handleVersion(response))],
  ["GET /metrics", route("vllm", (context, _request, response) => handleMetrics(context, response))],
  ["POST /v1/chat/completions", route("vllm", handleChatCompletions, generation)],
  ["POST /v1/completions", route("vllm", handleCompletions, generation)],
  ["POST /v1/embeddings", route("vllm", handleEmbeddings, generation)],
  ["GET /", route("ollama", (_context, _request, response) => handleRoot(response))],
  ["HEAD /", route("ollama", (_context, _request, response) => handleRoot(response))],
  ["GET /api/version", route("ollama", (_context, _request, response) => handleOllamaVersion(response))],
  ["GET /api/tags", route("ollama", (context, _request, response) => handleTags(context, response))],
  ["GET /api/ps", route("ollama", (context, _request, response) => handlePs(context, response))],
  [
    "POST /api/show",
    route("ollama", (context, _request, response, body) => handleShow(context, response, body), { withBody: true }),
  ],
  [
    "POST /api/pull",
    route("ollama", (context, _request, response, body) => handlePull(context, response, body), { withBody: true }),
  ],
  [
    "DELETE /api/delete",
    route("ollama", (context, _request, response, body) => handleDelete(context, response, body), { withBody: true }),
  ],
  ["POST /api/chat", route("ollama", handleOllamaChat, generation)],
  ["POST /api/generate", route("ollama", handleOllamaGenerate, generation)],
  [
    "POST /api/embed",
    route(
      "ollama",
      (context, _request, response, body, fault) => handleEmbed(context, response, body, fault, false),
      generation,
    ),
  ],
  [
    "POST /api/embeddings",
    route(
      "ollama",
      (context, _request, response, body, fault) => handleEmbed(context, response, body, fault, true),
      generation,
    ),
  ],
  [
    "GET /sim/stats",
    route("sim", (context, _request, response) =>
      sendJson(response, 200, JSON.stringify(context.stats.snapshot(context.prefixCache.counters()))),
    ),
  ],
  ["POST /sim/fault", route("sim", handleSetFault, { withBody: true })],
]);

const KNOWN_PATHS = new Set([...ROUTES.keys()].map((key) => key.slice(key.indexOf(" ") + 1)));

function handleSetFault(
  context: SimulatorContext,
  _request: IncomingMessage,
  response: ServerResponse,
  body: unknown,
): void {
  const parsed = parseFault(body);
  if (!parsed.ok) {
    sendJson(response, 400, JSON.stringify({ error: parsed.message }));
    return;
  }
  context.fault = parsed.fault;
  sendJson(response, 200, JSON.stringify({ fault: parsed.fault ?? null }));
}

function apiOfPath(path: string): Api {
  if (path.startsWith("/sim/")) return "sim";
  return path === "/" || path.startsWith("/api/") ? "ollama" : "vllm";
}

function sendError(api: Api, response: ServerResponse, status: number, message: string): void {
  if (api === "vllm") sendVllmError(response, status, message);
  else if (api === "ollama") sendOllamaError(response, status, message);
  else sendJson(response, status, JSON.stringify({ error: message }));
}

function sendUnavailable(api: Api, response: ServerResponse): void {
  if (api === "ollama") sendOllamaUnavailable(response);
  else sendVllmError(response, 503, "The engine is unavailable (simulated fault).");
}

export function createRequestHandler(
  context: SimulatorContext,
): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    dispatch(context, request, response).catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      sendError(apiOfPath(request.url ?? "/"), response, 500, `internal simulator error: ${message}`);
    });
  };
}

async function dispatch(context: SimulatorContext, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = request.url ?? "/";
  const queryStart = url.indexOf("?");
  const path = queryStart === -1 ? url : url.slice(0, queryStart);
  const matched = ROUTES.get(`${request.method ?? "GET"} ${path}`);
  if (matched === undefined) {
    answerUnknown(request, response, path);
    return;
  }
  let body: unknown;
  if (matched.withBody) {
    // vLLM (FastAPI) insists on JSON; Ollama (gin) parses whatever arrives.
    if (matched.api === "vllm" && !isJsonContentType(request.headers["content-type"])) {
      request.resume();
      sendError(
        "vllm",
        response,
        415,
        `unsupported content type ${JSON.stringify(request.headers["content-type"])}; expected application/json`,
      );
      return;
    }
    const read = await readJsonBody(request, response);
    if (!read.ok) {
      sendError(matched.api, response, read.status, read.message);
      return;
    }
    body = read.body;
    // /sim/fault also takes `null` (clear); its own parser checks the shape.
    if (matched.api !== "sim" && (typeof body !== "object" || body === null || Array.isArray(body))) {
      sendError(matched.api, response, 400, "request body must be a JSON object");
      return;
    }
  }
  let fault: SimulatorFault | undefined;
  if (matched.generation) {
    const parsedFault = faultForRequest(request.headers[FAULT_HEADER], context.fault);
    if (!parsedFault.ok) {
      sendError(matched.api, response, 400, parsedFault.message);
      return;
    }
    fault = parsedFault.fault;
    if (fault?.kind === "unavailable") {
      sendUnavailable(matched.api, response);
      return;
    }
  }
  if (!canWrite(response)) return;
  await matched.handle(context, request, response, body, fault);
}

function answerUnknown(request: IncomingMessage, response: ServerResponse, path: string): void {
  request.resume();
  const knownPath = KNOWN_PATHS.has(path);
  if (apiOfPath(path) === "ollama") {
    // gin's plain-text answers.
    sendBody(
      response,
      knownPath ? 405 : 404,
      "text/plain",
      knownPath ? "405 method not allowed" : "404 page not found",
    );
    return;
  }
  sendJson(response, knownPath ? 405 : 404, JSON.stringify({ detail: knownPath ? "Method Not Allowed" : "Not Found" }));
}
