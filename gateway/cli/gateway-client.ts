/**
 * The CLI's way to a running gateway: its HTTP API with the admin token. Commands never open
 * the store themselves, so they work the same against the embedded stack and a remote fleet.
 */
import { request } from "undici";

export interface GatewayClientOptions {
  url: string;
  /** Admin token or API key, sent as a bearer token. */
  bearerToken: string | undefined;
}

export class GatewayRequestError extends Error {
  override name = "GatewayRequestError";
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export class GatewayClient {
  constructor(private readonly options: GatewayClientOptions) {}

  async call<Result>(method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<Result> {
    const text = await this.send(method, path, body);
    return (text === "" ? undefined : JSON.parse(text)) as Result;
  }

  async text(path: string): Promise<string> {
    return this.send("GET", path, undefined);
  }

  private async send(method: "GET" | "POST" | "DELETE", path: string, body: unknown): Promise<string> {
    const headers: Record<string, string> = {};
    if (this.options.bearerToken) headers.authorization = `Bearer ${this.options.bearerToken}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(new URL(path, this.options.url), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new GatewayRequestError(`cannot reach the gateway at ${this.options.url}: ${(error as Error).message}`, 0);
    }
    const text = await response.body.text();
    if (response.statusCode >= 400) {
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
      } catch {
        // Not JSON: show it as it came.
      }
      throw new GatewayRequestError(`${method} ${path} → ${response.statusCode}: ${message}`, response.statusCode);
    }
    return text;
  }
}
