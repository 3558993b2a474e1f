/**
 * The engine simulator: one HTTP server speaking vLLM's OpenAI-compatible API and Ollama's native
 * API, for places with no GPU (tests, the embedded stack, benchmarks, app developers). It models
 * time to first token, prefill cost, per-token latency under batching, a prefix KV cache,
 * cancellation on disconnect and injected faults. Built on `node:http` directly: it is the
 * baseline the gateway is benchmarked against.
 */
import { createServer, type Server } from "node:http";
import type { Socket } from "node:net";
import { createContext } from "./context.ts";
import { createRequestHandler } from "./routes.ts";
import { encoder } from "./tokenizer.ts";

export interface SimulatorOptions {
  /** Default "127.0.0.1". */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /**
   * Catalog ids to serve (default: every built-in model). On the vLLM API each is served under its
   * vllmRepoId and its catalog id; on the Ollama API under its ollamaTag, present from the start.
   */
  models?: string[];
  /** Base time to first token, default 20. */
  timeToFirstTokenMs?: number;
  /** Extra time to first token per uncached prompt token, default 0.05. */
  prefillMsPerToken?: number;
  /** Delay between output tokens, default 5 (0 = as fast as possible, still yielding to the event loop). */
  perTokenLatencyMs?: number;
  /** The per-token latency multiplier grows by this per extra concurrent request, default 0.01. */
  batchingSlowdown?: number;
  /** Default { blockTokens: 16, capacityBlocks: 4096 }; false disables prefix caching. */
  kvCache?: { blockTokens: number; capacityBlocks: number } | false;
  /**
   * Cap when a request names no max tokens (default 256). Without a cap an answer ends on its own
   * after a seeded-random 16 to 128 tokens with finish "stop".
   */
  defaultMaxTokens?: number;
  /** Default 768. */
  embeddingDimensions?: number;
}

export interface SimulatorCancelledJob {
  /** The request's `x-request-id` header when sent, else the response id (vLLM) or a fresh uuid (Ollama). */
  requestId: string;
  api: "vllm" | "ollama";
  /** The model name as the client sent it. */
  model: string;
  completionTokens: number;
  /** ms since epoch. */
  startedAt: number;
  cancelledAt: number;
}

export interface SimulatorStats {
  /** Generation requests admitted and not yet finished (prefill included). */
  activeRequests: number;
  /** Generation and embedding requests answered in full. */
  completedRequests: number;
  /** Requests whose client went away mid-generation. Injected failures count in none of these. */
  cancelledRequests: number;
  /** The most recent 1000. */
  cancelled: SimulatorCancelledJob[];
  kvCache: { hitBlocks: number; missBlocks: number; hitTokens: number; missTokens: number; hitRate: number };
}

export type SimulatorFault =
  /** Answer 503 to every generation request. */
  | { kind: "unavailable" }
  /** Stream N tokens, then destroy the socket. */
  | { kind: "fail-after-tokens"; tokens: number }
  /** Add delayMs to the time to first token. */
  | { kind: "slow-first-token"; delayMs: number };

export interface SimulatorHandle {
  /** "http://127.0.0.1:<port>" */
  url: string;
  port: number;
  stats(): SimulatorStats;
  /** Server-wide fault; a request's `x-simulator-fault` header (same JSON) overrides it. */
  setFault(fault: SimulatorFault | undefined): void;
  /** Closes all sockets; resolves when fully closed. */
  close(): Promise<void>;
}

/** Longer than clients' idle timeouts (undici: 4 s), so the server never closes a socket a client is about to reuse. */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

export async function startSimulator(options: SimulatorOptions = {}): Promise<SimulatorHandle> {
  // Loading the BPE table blocks the event loop for ~150 ms: do it before serving, not mid-request.
  encoder();
  const context = createContext(options);
  const server: Server = createServer({ noDelay: true, keepAlive: true }, createRequestHandler(context));
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000;
  // Generation can legitimately take minutes; cancellation comes from the client closing.
  server.requestTimeout = 0;
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  // A malformed request line answers 400 and never reaches a handler.
  server.on("clientError", (_error, socket: Socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    else socket.destroy();
  });

  const { host } = context.options;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(context.options.port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("simulator server has no TCP address");
  const urlHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;

  return {
    url: `http://${urlHost}:${address.port}`,
    port: address.port,
    stats: () => context.stats.snapshot(context.prefixCache.counters()),
    setFault: (fault) => {
      context.fault = fault;
    },
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Destroying sockets fires each running request's close handler, which stops its timers.
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
