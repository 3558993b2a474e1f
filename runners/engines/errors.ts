/**
 * Mapping of transport failures and engine answers to {@link EngineError}s, shared by the
 * adapters so that vLLM, Ollama and the simulator fail the same way for the same cause.
 */
import { EngineError } from "./engine.ts";

/** Socket-level codes meaning "nobody answered": the job may run on another runner. */
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "EPIPE",
  "ETIMEDOUT",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_DESTROYED",
]);

const TIMEOUT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

/** Where in the exchange a failure happened: before the engine answered, or while it streamed. */
export type FailurePhase = "connect" | "stream";

export function cancelledError(): EngineError {
  return new EngineError("RUNNER_ERR_CANCELLED", "the job was cancelled", false);
}

/** Throws the cancellation error when the signal has already fired, so no request is sent. */
export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelledError();
}

/**
 * Socket error codes found on the error, its `cause` chain and an AggregateError's members
 * (Node reports a refused dual-stack connect as an AggregateError; fetch wraps in `cause`).
 */
export function networkErrorCodes(error: unknown, depth = 0): string[] {
  if (depth > 4 || typeof error !== "object" || error === null) return [];
  const codes: string[] = [];
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") codes.push(code);
  codes.push(...networkErrorCodes((error as { cause?: unknown }).cause, depth + 1));
  const members = (error as { errors?: unknown }).errors;
  if (Array.isArray(members)) {
    for (const member of members) codes.push(...networkErrorCodes(member, depth + 1));
  }
  return codes;
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const codes = networkErrorCodes(error);
    const cause = (error as { cause?: unknown }).cause;
    const causeMessage = cause instanceof Error && cause.message !== error.message ? `: ${cause.message}` : "";
    const codeSuffix = codes.length > 0 ? ` (${[...new Set(codes)].join(", ")})` : "";
    return `${error.message}${causeMessage}${codeSuffix}`;
  }
  return String(error);
}

/**
 * Maps an error thrown by the HTTP client. Aborts by the job's signal become CANCELLED whatever
 * the client threw; unreachable engines become UNAVAILABLE before the answer began, FAILED after
 * (the answer broke mid-way). Already-mapped EngineErrors pass through.
 */
export function mapTransportError(error: unknown, signal: AbortSignal | undefined, phase: FailurePhase): EngineError {
  if (signal?.aborted) return cancelledError();
  if (error instanceof EngineError) return error;
  const codes = networkErrorCodes(error);
  const engineLabel = "inference engine";
  if (codes.some((code) => TIMEOUT_CODES.has(code))) {
    return new EngineError("RUNNER_ERR_ENGINE_FAILED", `${engineLabel} timed out: ${describeError(error)}`, true);
  }
  if (codes.some((code) => UNREACHABLE_CODES.has(code))) {
    return phase === "connect"
      ? new EngineError("RUNNER_ERR_ENGINE_UNAVAILABLE", `${engineLabel} unreachable: ${describeError(error)}`, true)
      : new EngineError(
          "RUNNER_ERR_ENGINE_FAILED",
          `${engineLabel} connection lost mid-stream: ${describeError(error)}`,
          true,
        );
  }
  return new EngineError(
    "RUNNER_ERR_ENGINE_FAILED",
    `${engineLabel} request failed${phase === "stream" ? " mid-stream" : ""}: ${describeError(error)}`,
    true,
  );
}

const MODEL_MISSING_PATTERN = /model\b.*\b(does not exist|not found)|no such model|unknown model/i;

/**
 * Maps an engine's HTTP error answer. 404 or a "model … not found" message is MODEL_NOT_FOUND,
 * retryable because another runner may serve it. An auth failure or 429 is the runner's or the
 * engine's condition, not the client's, so it is retryable elsewhere rather than a 400.
 */
export function mapStatusError(status: number, engineMessage: string): EngineError {
  const message = engineMessage.trim() === "" ? `engine answered HTTP ${status}` : engineMessage;
  if (status === 404 || (status >= 400 && status < 500 && MODEL_MISSING_PATTERN.test(message))) {
    return new EngineError("RUNNER_ERR_MODEL_NOT_FOUND", message, true, status);
  }
  if (status === 401 || status === 403) {
    return new EngineError(
      "RUNNER_ERR_ENGINE_FAILED",
      `engine refused the runner's credentials: ${message}`,
      true,
      status,
    );
  }
  if (status === 408 || status === 429) {
    return new EngineError("RUNNER_ERR_ENGINE_UNAVAILABLE", `engine busy: ${message}`, true, status);
  }
  if (status >= 400 && status < 500) {
    return new EngineError("RUNNER_ERR_ENGINE_BAD_REQUEST", message, false, status);
  }
  return new EngineError("RUNNER_ERR_ENGINE_FAILED", message, true, status);
}

/** Not retryable: the client asked for something this engine cannot do, anywhere. */
export function unsupportedParameter(parameter: string, detail: string): EngineError {
  return new EngineError(
    "RUNNER_ERR_ENGINE_BAD_REQUEST",
    `'${parameter}' is not supported by this engine: ${detail}`,
    false,
  );
}

export function protocolError(detail: string): EngineError {
  return new EngineError("RUNNER_ERR_ENGINE_PROTOCOL", `engine answer not in its documented format: ${detail}`, true);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The message and numeric code of an engine error body, in any of the shapes engines use:
 * `{"error":{"message","type","param","code"}}` (OpenAI, current vLLM), `{"object":"error",
 * "message",…}` (older vLLM), `{"error":"…"}` (Ollama), `{"detail":…}` (FastAPI itself).
 * Undefined when the value is not an error body.
 */
export function engineErrorBody(value: unknown): { message: string; code: number | undefined } | undefined {
  if (!isRecord(value)) return undefined;
  const numericCode = (code: unknown): number | undefined =>
    typeof code === "number" ? code : typeof code === "string" && /^\d{3}$/.test(code) ? Number(code) : undefined;
  const { error } = value;
  if (isRecord(error)) {
    const message = typeof error.message === "string" ? error.message : JSON.stringify(error);
    return { message, code: numericCode(error.code) };
  }
  if (typeof error === "string") return { message: error, code: undefined };
  if (value.object === "error") {
    return {
      message: typeof value.message === "string" ? value.message : JSON.stringify(value),
      code: numericCode(value.code),
    };
  }
  if ("detail" in value) {
    return { message: typeof value.detail === "string" ? value.detail : JSON.stringify(value.detail), code: undefined };
  }
  return undefined;
}

/** Error for an HTTP error answer whose body is raw text, JSON in any engine's error shape, or empty. */
export function mapStatusBody(status: number, bodyText: string): EngineError {
  let message = bodyText.trim();
  try {
    const body = engineErrorBody(JSON.parse(bodyText));
    if (body) message = body.message;
  } catch {
    // Not JSON (a proxy's HTML page, plain text): the text itself is the best message.
  }
  return mapStatusError(status, message.length > 2000 ? `${message.slice(0, 2000)}…` : message);
}
