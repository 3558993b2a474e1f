/** Ollama's wire details: `{"error": "..."}` bodies and RFC 3339 timestamps. */
import type { ServerResponse } from "node:http";
import { sendJson } from "./http-io.ts";

/** The Ollama release whose API the simulator follows. */
export const SIMULATED_OLLAMA_VERSION = "0.11.4";

export function sendOllamaError(response: ServerResponse, status: number, message: string): void {
  sendJson(response, status, JSON.stringify({ error: message }));
}

/** What Ollama answers when it cannot take more work. */
export function sendOllamaUnavailable(response: ServerResponse): void {
  sendOllamaError(response, 503, "server busy, please try again.  maximum pending requests exceeded");
}

let cachedTimestampMs = 0;
let cachedTimestamp = "";

/** `created_at` for every line: formatting a date per token is wasted work within one millisecond. */
export function ollamaTimestamp(): string {
  const now = Date.now();
  if (now !== cachedTimestampMs) {
    cachedTimestampMs = now;
    cachedTimestamp = new Date(now).toISOString();
  }
  return cachedTimestamp;
}
