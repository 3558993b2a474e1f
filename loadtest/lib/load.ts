/**
 * Load generation over undici keep-alive pools on loopback: one timed request, a closed loop
 * (N workers back to back, bounded by time and count), an open loop (a fixed arrival rate with
 * a cap on requests in flight) and one SSE stream with per-chunk arrival times.
 */
import { Pool } from "undici";
import { classifyChatPayload, SseParser } from "./sse.ts";

export const MAX_ERROR_EXAMPLES = 5;

export interface Target {
  label: "engine" | "gateway";
  origin: string;
  pool: Pool;
  headers: Record<string, string>;
}

export function createTarget(
  label: Target["label"],
  origin: string,
  connections: number,
  apiKey?: string,
  /** How long to wait for response headers; a gateway sends SSE headers only with the first output. */
  headersTimeoutMs = 60_000,
): Target {
  const url = new URL(origin);
  if (url.hostname !== "127.0.0.1") throw new Error(`load targets must be on loopback (127.0.0.1), not ${url.host}`);
  const pool = new Pool(origin, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 600_000,
    connectTimeout: 10_000,
    headersTimeout: headersTimeoutMs,
    bodyTimeout: 30_000,
  });
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  return { label, origin, pool, headers };
}

export interface ChatBodyOptions {
  model: string;
  maxTokens: number;
  stream: boolean;
  prompt?: string;
}

/** The request body both paths get, byte for byte. `ignore_eos` makes the length exact. */
export function chatBody(options: ChatBodyOptions): string {
  return JSON.stringify({
    model: options.model,
    messages: [{ role: "user", content: options.prompt ?? "Write a short poem about load balancers." }],
    max_tokens: options.maxTokens,
    ignore_eos: true,
    stream: options.stream,
  });
}

export interface Outcome {
  ok: boolean;
  /** Request start to the last body byte, ms. */
  ms: number;
  error?: string;
}

/** One non-streaming POST, read to the end; ok when 200 and the body looks like an answer. */
export async function timedPost(target: Target, path: string, body: string, expect: string): Promise<Outcome> {
  const started = performance.now();
  try {
    const response = await target.pool.request({ method: "POST", path, headers: target.headers, body });
    const text = await response.body.text();
    const ms = performance.now() - started;
    if (response.statusCode !== 200)
      return { ok: false, ms, error: `${target.label}: HTTP ${response.statusCode} ${text.slice(0, 200)}` };
    if (!text.includes(expect))
      return { ok: false, ms, error: `${target.label}: unexpected body ${text.slice(0, 200)}` };
    return { ok: true, ms };
  } catch (error) {
    return { ok: false, ms: performance.now() - started, error: `${target.label}: ${describe(error)}` };
  }
}

export interface LoadRun {
  completed: number;
  failed: number;
  /** Latencies of successful requests, ms. */
  latencies: number[];
  elapsedMs: number;
  errorExamples: string[];
}

export function emptyRun(): LoadRun {
  return { completed: 0, failed: 0, latencies: [], elapsedMs: 0, errorExamples: [] };
}

export function record(run: LoadRun, outcome: Outcome): void {
  if (outcome.ok) {
    run.completed++;
    run.latencies.push(outcome.ms);
  } else {
    run.failed++;
    if (outcome.error && run.errorExamples.length < MAX_ERROR_EXAMPLES) run.errorExamples.push(outcome.error);
  }
}

/** Adds `part` into `total` (segments of one path across rounds). */
export function merge(total: LoadRun, part: LoadRun): void {
  total.completed += part.completed;
  total.failed += part.failed;
  for (const latency of part.latencies) total.latencies.push(latency);
  total.elapsedMs += part.elapsedMs;
  for (const example of part.errorExamples)
    if (total.errorExamples.length < MAX_ERROR_EXAMPLES) total.errorExamples.push(example);
}

/** `concurrency` workers issuing requests back to back until the time is up (or `maxRequests`). */
export async function closedLoop(options: {
  concurrency: number;
  durationMs: number;
  maxRequests?: number;
  once: () => Promise<Outcome>;
}): Promise<LoadRun> {
  const run = emptyRun();
  const started = performance.now();
  const deadline = started + options.durationMs;
  const limit = options.maxRequests ?? Number.POSITIVE_INFINITY;
  let issued = 0;
  const worker = async () => {
    while (performance.now() < deadline && issued < limit) {
      issued++;
      record(run, await options.once());
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  run.elapsedMs = performance.now() - started;
  return run;
}

/**
 * Requests at a fixed rate for a fixed time, whatever the server's pace (requests beyond the
 * pool's connections wait in its queue). At most `maxPending` may be outstanding: an arrival
 * beyond that is not sent and counts as a failure, because the server has not kept up.
 */
export async function openLoop(options: {
  ratePerSecond: number;
  durationMs: number;
  maxPending: number;
  once: () => Promise<Outcome>;
  onTick?: (elapsedMs: number) => void;
}): Promise<LoadRun> {
  const run = emptyRun();
  const started = performance.now();
  let due = 0;
  let inFlight = 0;
  const pending = new Set<Promise<void>>();
  const tickMs = 5;
  while (performance.now() - started < options.durationMs) {
    const elapsed = performance.now() - started;
    const target = Math.floor((elapsed / 1000) * options.ratePerSecond);
    while (due < target) {
      due++;
      if (inFlight >= options.maxPending) {
        record(run, { ok: false, ms: 0, error: `not sent: ${options.maxPending} requests already outstanding` });
        continue;
      }
      inFlight++;
      const promise: Promise<void> = options.once().then((outcome) => {
        inFlight--;
        record(run, outcome);
        pending.delete(promise);
      });
      pending.add(promise);
    }
    options.onTick?.(elapsed);
    await new Promise((resolve) => setTimeout(resolve, tickMs));
  }
  await Promise.all(pending);
  run.elapsedMs = performance.now() - started;
  return run;
}

export interface StreamOutcome {
  ok: boolean;
  /** performance.now() when the request was sent (to line streams up against each other). */
  startedAtMs: number;
  error?: string;
  /** Request start to the first chunk carrying text, ms. */
  ttftMs: number | undefined;
  /** Arrival time of every data event but [DONE], ms since the request started. */
  arrivals: number[];
  done: boolean;
}

/** One SSE chat stream; the first chunks are parsed until text shows up, the rest only counted. */
export async function timedStream(
  target: Target,
  path: string,
  body: string,
  expectedChunks: number,
  signal?: AbortSignal,
): Promise<StreamOutcome> {
  const started = performance.now();
  const outcome: StreamOutcome = { ok: false, startedAtMs: started, ttftMs: undefined, arrivals: [], done: false };
  try {
    const response = await target.pool.request({ method: "POST", path, headers: target.headers, body, signal });
    if (response.statusCode !== 200) {
      outcome.error = `${target.label}: HTTP ${response.statusCode} ${(await response.body.text()).slice(0, 200)}`;
      return outcome;
    }
    const stream = response.body;
    stream.setEncoding("utf8");
    const parser = new SseParser();
    // 'data' events rather than async iteration: a thousand streams at 50 chunks/s each make the
    // client's per-chunk cost matter, and a slow client would show up as the server's stalls.
    await new Promise<void>((resolve, reject) => {
      stream.on("data", (piece: string) => {
        const now = performance.now() - started;
        for (const event of parser.push(piece)) {
          if (event.data === "[DONE]") {
            outcome.done = true;
            continue;
          }
          outcome.arrivals.push(now);
          if (event.data.startsWith('{"error"'))
            outcome.error = `${target.label}: error event ${event.data.slice(0, 200)}`;
          else if (outcome.ttftMs === undefined && classifyChatPayload(event.data) === "content") outcome.ttftMs = now;
        }
      });
      stream.once("end", resolve);
      stream.once("error", reject);
    });
    if (parser.finish()) outcome.error ??= `${target.label}: stream ended inside an event`;
    if (!outcome.done) outcome.error ??= `${target.label}: stream ended without [DONE]`;
    else if (outcome.arrivals.length < expectedChunks)
      outcome.error ??= `${target.label}: ${outcome.arrivals.length} chunks, expected at least ${expectedChunks}`;
    outcome.ok = outcome.error === undefined;
    return outcome;
  } catch (error) {
    outcome.error = `${target.label}: ${describe(error)}`;
    return outcome;
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" ? `${code} ${error.message}` : error.message;
  }
  return String(error);
}
