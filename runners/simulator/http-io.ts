/** Plain `node:http` plumbing shared by both APIs: bounded JSON bodies and small responses. */
import type { IncomingMessage, ServerResponse } from "node:http";

export const MAXIMUM_BODY_BYTES = 4 * 1024 * 1024;

export type JsonBodyResult = { ok: true; body: unknown } | { ok: false; status: 400 | 413 | 415; message: string };

/** True for `application/json` and `…+json`, or no content type at all (curl without -H). */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (contentType === undefined || contentType === "") return true;
  const mediaType = (contentType.split(";")[0] ?? "").trim().toLowerCase();
  return mediaType === "application/json" || mediaType.endsWith("+json");
}

/**
 * Reads and parses a JSON body of at most 4 MiB. An oversized body is refused without reading
 * it all, and the connection is marked to close so the unread rest cannot be taken for the
 * next request.
 */
export function readJsonBody(request: IncomingMessage, response: ServerResponse): Promise<JsonBodyResult> {
  const declaredLength = Number(request.headers["content-length"] ?? 0);
  if (declaredLength > MAXIMUM_BODY_BYTES) {
    response.shouldKeepAlive = false;
    request.resume();
    return Promise.resolve(tooLarge());
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let receivedBytes = 0;
    let settled = false;
    const settle = (result: JsonBodyResult): void => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    request.on("data", (chunk: Buffer) => {
      if (settled) return;
      receivedBytes += chunk.length;
      if (receivedBytes > MAXIMUM_BODY_BYTES) {
        response.shouldKeepAlive = false;
        settle(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => settle(parseJson(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks))));
    request.on("error", () => settle({ ok: false, status: 400, message: "the request body could not be read" }));
  });
}

function tooLarge(): JsonBodyResult {
  return { ok: false, status: 413, message: `request body exceeds ${MAXIMUM_BODY_BYTES} bytes` };
}

function parseJson(bytes: Buffer): JsonBodyResult {
  if (bytes.length === 0) return { ok: false, status: 400, message: "request body is empty; expected a JSON object" };
  try {
    return { ok: true, body: JSON.parse(bytes.toString("utf8")) as unknown };
  } catch (error) {
    return {
      ok: false,
      status: 400,
      message: `request body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}

/** False once the client has gone or the answer was sent: nothing may be written then. */
export function canWrite(response: ServerResponse): boolean {
  return !response.destroyed && !response.writableEnded;
}

export function sendBody(response: ServerResponse, status: number, contentType: string, body: string): void {
  if (!canWrite(response)) return;
  response.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body) });
  response.end(body);
}

export function sendJson(response: ServerResponse, status: number, json: string): void {
  sendBody(response, status, "application/json", json);
}

/** Header value as one string (the first when repeated). */
export function headerValue(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Resolves after `delayMs`, or as soon as the client goes away (check `canWrite` after). */
export function waitUnlessClosed(response: ServerResponse, delayMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (!canWrite(response) || delayMs <= 0) {
      resolve();
      return;
    }
    const finish = (): void => {
      clearTimeout(timer);
      response.off("close", finish);
      resolve();
    };
    const timer = setTimeout(finish, delayMs);
    response.on("close", finish);
  });
}
