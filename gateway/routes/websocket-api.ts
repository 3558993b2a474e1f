/**
 * `GET /v1/ws`: many generation requests over one socket (the key is checked at the upgrade).
 *
 *   client → {"type":"request","id","path":"/v1/chat/completions","body":{…}}
 *   client → {"type":"cancel","id"}
 *   server → {"type":"chunk","id","chunk":<the same chunk object SSE carries>}
 *   server → {"type":"response","id","response":<the whole JSON response>}   (non-streaming)
 *   server → {"type":"done","id","usage"?}            (a stream finished, or any request was cancelled)
 *   server → {"type":"error","id"|null,"status","error":{message,type,param,code}}
 *
 * Bad frames get an error frame and the socket stays open. Each send waits for the socket to
 * take the bytes, so a slow client holds back its runners, not the gateway's memory.
 */
import type {} from "@fastify/websocket";
import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import fastifyPlugin from "fastify-plugin";
import type { RawData, WebSocket } from "ws";
import type { ApiKeyRecord } from "../../billing/api-keys.ts";
import type { ModelCatalog } from "../../models/catalog.ts";
import { GatewayError, invalidRequest } from "../errors.ts";
import type { Job } from "../jobs/job.ts";
import type { JobService } from "../jobs/job-service.ts";
import { prepareGeneration } from "../jobs/start-generation.ts";
import { sendUpgradeRequired, toGatewayError } from "../plugins/errors.ts";
import { assertValidBody, type GenerationPath, requestSchemaByPath } from "../schemas/validation.ts";
import { openAiUsage, usageChunk } from "../streaming/usage-chunk.ts";

const MAX_REQUESTS_PER_SOCKET = 256;
const MAX_REQUEST_ID_LENGTH = 128;

export interface WebSocketApiOptions {
  catalog: ModelCatalog;
  jobs: JobService;
  bodyLimitBytes: number;
}

function isGenerationPath(path: unknown): path is GenerationPath {
  return typeof path === "string" && Object.hasOwn(requestSchemaByPath, path);
}

class ClientSession {
  private readonly jobs = new Map<string, Job>();

  constructor(
    private readonly socket: WebSocket,
    private readonly apiKey: ApiKeyRecord,
    private readonly options: WebSocketApiOptions,
  ) {}

  handleFrame(data: RawData, isBinary: boolean): void {
    let frame: Record<string, unknown>;
    try {
      if (isBinary) throw invalidRequest("Binary frames are not supported; send JSON text frames.");
      if (byteLength(data) > this.options.bodyLimitBytes)
        throw new GatewayError("GW_ERR_REQUEST_TOO_LARGE", "The frame is larger than the body limit.");
      const parsed: unknown = JSON.parse(data.toString());
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
        throw invalidRequest("Each frame must be a JSON object.");
      frame = parsed as Record<string, unknown>;
    } catch (error) {
      const gatewayError =
        error instanceof GatewayError ? error : invalidRequest("The frame is not valid JSON.", null, "invalid_json");
      this.sendError(null, gatewayError);
      return;
    }
    const id = frame.id;
    if (typeof id !== "string" || id.length === 0 || id.length > MAX_REQUEST_ID_LENGTH) {
      this.sendError(
        null,
        invalidRequest(`Every frame needs a string 'id' of 1 to ${MAX_REQUEST_ID_LENGTH} characters.`, "id"),
      );
      return;
    }
    if (frame.type === "cancel") {
      this.jobs.get(id)?.cancel("cancelled by the client");
      return;
    }
    if (frame.type !== "request") {
      this.sendError(id, invalidRequest("Frame 'type' must be 'request' or 'cancel'.", "type", "invalid_value"));
      return;
    }
    void this.serve(id, frame.path, frame.body);
  }

  close(): void {
    for (const job of this.jobs.values()) job.cancel("client disconnected");
    this.jobs.clear();
  }

  private async serve(id: string, path: unknown, body: unknown): Promise<void> {
    let job: Job | undefined;
    try {
      if (this.jobs.has(id)) throw invalidRequest(`A request with id '${id}' is already running on this socket.`, "id");
      if (this.jobs.size >= MAX_REQUESTS_PER_SOCKET) {
        throw new GatewayError(
          "GW_ERR_RATE_LIMITED",
          `At most ${MAX_REQUESTS_PER_SOCKET} requests may run at once on one socket.`,
          { retryAfterSeconds: 1 },
        );
      }
      if (!isGenerationPath(path)) {
        throw invalidRequest(
          `'path' must be one of ${Object.keys(requestSchemaByPath).join(", ")}.`,
          "path",
          "invalid_value",
        );
      }
      assertValidBody(path, body);
      const prepared = prepareGeneration(this.options, { path, body, apiKey: this.apiKey });
      job = prepared.job;
      this.jobs.set(id, job);
      await job.start();
      for (;;) {
        const event = await job.next();
        if (event.type === "chunk") {
          await this.send({ type: "chunk", id, chunk: event.chunk });
        } else if (event.type === "error") {
          throw event.error;
        } else if (event.response) {
          event.response.usage = { ...event.response.usage, ...openAiUsage(event.usage) };
          await this.send({ type: "response", id, response: event.response });
          return;
        } else {
          if (prepared.includeUsage) await this.send({ type: "chunk", id, chunk: usageChunk(job, event.usage) });
          await this.send({ type: "done", id, usage: prepared.includeUsage ? openAiUsage(event.usage) : undefined });
          return;
        }
      }
    } catch (error) {
      this.sendError(id, toGatewayError(error, this.options.bodyLimitBytes));
    } finally {
      if (job && this.jobs.get(id) === job) this.jobs.delete(id);
    }
  }

  private send(frame: object): Promise<void> {
    if (this.socket.readyState !== this.socket.OPEN) return Promise.resolve();
    return new Promise((resolve) => this.socket.send(JSON.stringify(frame), () => resolve()));
  }

  private sendError(id: string | null, error: GatewayError): void {
    void this.send({ type: "error", id, status: error.status, ...error.toBody() });
  }
}

function byteLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((total, part) => total + part.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}

const webSocketApi: FastifyPluginAsync<WebSocketApiOptions> = async (app: FastifyInstance, options) => {
  app.route({
    method: "GET",
    url: "/v1/ws",
    handler: (_request, reply) => sendUpgradeRequired(reply, "/v1/ws"),
    wsHandler: (socket, request) => {
      const apiKey = request.apiKey;
      if (!apiKey) {
        socket.close(1008, "unauthenticated");
        return;
      }
      const session = new ClientSession(socket, apiKey, options);
      socket.on("message", (data: RawData, isBinary: boolean) => session.handleFrame(data, isBinary));
      socket.on("close", () => session.close());
      socket.on("error", (error: Error) => request.log.info({ err: error }, "client websocket error"));
    },
  });
};

export default fastifyPlugin(webSocketApi, {
  name: "hypernode-websocket-api",
  dependencies: ["@fastify/websocket", "hypernode-auth"],
});
