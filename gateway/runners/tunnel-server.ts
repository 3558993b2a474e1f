/**
 * `GET /v1/runners/connect`: runners dial in here. The node token is checked before the
 * upgrade; the wallet is proven by signing a fresh single-use challenge; then frames flow.
 */
import { randomBytes } from "node:crypto";
import type {} from "@fastify/websocket";
import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import fastifyPlugin from "fastify-plugin";
import type { RawData, WebSocket } from "ws";
import { z } from "zod";
import { verifySignature } from "../../billing/receipts/ed25519.ts";
import {
  type ChallengeMessage,
  challengeSigningBytes,
  type HelloMessage,
  type RefusedMessage,
  type RunnerToGatewayMessage,
  TUNNEL_PATH,
  TUNNEL_PROTOCOL_VERSION,
  TunnelCloseCode,
  type WelcomeMessage,
} from "../../runners/protocol.ts";
import { GatewayError } from "../errors.ts";
import { sendUpgradeRequired } from "../plugins/errors.ts";
import type { NodeTokenRecord, NodeTokenStore } from "./node-tokens.ts";
import type { RunnerRegistry } from "./registry.ts";
import { RunnerConnection } from "./runner-connection.ts";

const CHALLENGE_TTL_MS = 30_000;

const gpuSchema = z.object({
  index: z.number().int().min(0),
  name: z.string(),
  uuid: z.string().optional(),
  memoryTotalMiB: z.number().min(0),
  memoryFreeMiB: z.number().min(0),
  temperatureCelsius: z.number().optional(),
  utilizationPercent: z.number().optional(),
  driverVersion: z.string().optional(),
});
const servedModelSchema = z.object({
  model: z.string().min(1),
  engineModel: z.string().min(1),
  state: z.enum(["ready", "loading"]),
});
const helloSchema = z.object({
  type: z.literal("hello"),
  protocolVersion: z.number().int(),
  runnerId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/),
  wallet: z.string().min(32).max(44),
  signature: z.string().min(1).max(100),
  nonce: z.string().min(1),
  engine: z.enum(["vllm", "ollama", "sim"]),
  models: z.array(servedModelSchema).max(1000),
  gpus: z.array(gpuSchema).max(64),
  version: z.string().max(64),
  maxConcurrentJobs: z.number().int().min(1).max(100_000),
});
const heartbeatSchema = z.object({
  type: z.literal("heartbeat"),
  sentAt: z.number(),
  activeJobs: z.number().int().min(0),
  models: z.array(servedModelSchema).max(1000),
  gpus: z.array(gpuSchema).max(64),
});

export interface TunnelServerOptions {
  registry: RunnerRegistry;
  nodeTokens: NodeTokenStore;
  gatewayId: string;
  heartbeatIntervalMs: number;
}

declare module "fastify" {
  interface FastifyRequest {
    nodeToken?: NodeTokenRecord;
  }
}

function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return match?.[1];
}

const tunnelServer: FastifyPluginAsync<TunnelServerOptions> = async (app: FastifyInstance, options) => {
  const { registry, nodeTokens, gatewayId, heartbeatIntervalMs } = options;
  const consumedNonces = new Map<string, number>();

  const sweepTimer = setInterval(
    () => {
      registry.sweep();
      const now = Date.now();
      for (const [nonce, expiresAt] of consumedNonces) if (expiresAt < now) consumedNonces.delete(nonce);
    },
    Math.min(heartbeatIntervalMs, 5_000),
  );
  sweepTimer.unref();
  app.addHook("onClose", async () => clearInterval(sweepTimer));

  app.route({
    method: "GET",
    url: TUNNEL_PATH,
    config: { auth: "open" },
    preValidation: async (request) => {
      const token = bearerToken(request.headers.authorization);
      const record = token ? nodeTokens.verify(token) : undefined;
      if (!record) throw new GatewayError("GW_ERR_AUTHENTICATION", "Invalid node token.");
      request.nodeToken = record;
    },
    handler: (_request, reply) => sendUpgradeRequired(reply, TUNNEL_PATH),
    wsHandler: (socket, request) => {
      const tokenRecord = request.nodeToken;
      const logger = request.log;
      const send = (message: ChallengeMessage | WelcomeMessage | RefusedMessage) =>
        socket.send(JSON.stringify(message));
      // Frames already on the wire behind a refused one still arrive while the socket closes;
      // none of them may get a second try at the handshake.
      let refused = false;
      const refuse = (code: string, message: string) => {
        if (refused) return;
        refused = true;
        logger.warn({ code, tokenId: tokenRecord?.id }, `runner refused: ${message}`);
        send({ type: "refused", code, message });
        socket.close(TunnelCloseCode.AuthenticationFailed, code);
      };

      const nonce = randomBytes(32).toString("base64url");
      const expiresAt = Date.now() + CHALLENGE_TTL_MS;
      send({ type: "challenge", nonce, gatewayId, expiresAt });
      const handshakeTimer = setTimeout(
        () => refuse("handshake_timeout", "no hello before the challenge expired"),
        CHALLENGE_TTL_MS,
      );

      let connection: RunnerConnection | undefined;

      const onHello = (frame: unknown) => {
        clearTimeout(handshakeTimer);
        const parsed = helloSchema.safeParse(frame);
        if (!parsed.success)
          return refuse("bad_hello", `malformed hello: ${parsed.error.issues[0]?.message ?? "invalid"}`);
        const hello = parsed.data as HelloMessage;
        if (hello.protocolVersion !== TUNNEL_PROTOCOL_VERSION) {
          return refuse(
            "protocol_version",
            `protocol version ${hello.protocolVersion} is not ${TUNNEL_PROTOCOL_VERSION}`,
          );
        }
        if (hello.nonce !== nonce || consumedNonces.has(hello.nonce))
          return refuse("stale_challenge", "the hello answers another challenge");
        if (Date.now() > expiresAt) return refuse("stale_challenge", "the challenge expired");
        consumedNonces.set(nonce, expiresAt);
        if (!verifySignature(challengeSigningBytes(nonce, gatewayId), hello.signature, hello.wallet)) {
          return refuse("bad_signature", "the challenge signature does not verify for that wallet");
        }
        if (tokenRecord?.wallet && tokenRecord.wallet !== hello.wallet) {
          return refuse("wallet_mismatch", "this node token is bound to another wallet");
        }
        // A runner id belongs to the wallet that registered it: another wallet may not replace
        // (and so disconnect) that runner. The same wallet reconnecting replaces its old tunnel.
        const existing = registry.get(hello.runnerId);
        if (existing && existing.wallet !== hello.wallet) {
          return refuse("runner_id_taken", `runner id ${hello.runnerId} belongs to another wallet`);
        }
        connection = new RunnerConnection(hello.runnerId, socket, logger);
        registry.register(hello, connection);
        send({ type: "welcome", runnerId: hello.runnerId, heartbeatIntervalMs });
        logger.info(
          {
            runnerId: hello.runnerId,
            wallet: hello.wallet,
            engine: hello.engine,
            models: hello.models.map((served) => served.model),
          },
          "runner online",
        );
      };

      const onFrame = (frame: RunnerToGatewayMessage) => {
        if (!connection) return;
        switch (frame.type) {
          case "chunk":
            if (typeof frame.jobId === "string" && typeof frame.chunk === "object" && frame.chunk !== null)
              connection.handleChunk(frame);
            return;
          case "end":
            if (typeof frame.jobId === "string") connection.handleEnd(frame);
            return;
          case "failed":
            if (typeof frame.jobId === "string" && typeof frame.error === "object" && frame.error !== null)
              connection.handleFailed(frame);
            return;
          case "heartbeat": {
            const heartbeat = heartbeatSchema.safeParse(frame);
            if (heartbeat.success) registry.heartbeat(connection.runnerId, frame);
            else logger.warn({ runnerId: connection.runnerId }, "malformed heartbeat ignored");
            return;
          }
          default:
            logger.warn({ runnerId: connection.runnerId }, "unknown runner frame ignored");
        }
      };

      socket.on("message", (data: RawData, isBinary: boolean) => {
        if (refused) return;
        let frame: unknown;
        try {
          if (isBinary) throw new Error("binary frame");
          frame = JSON.parse(data.toString());
        } catch {
          frame = undefined;
        }
        if (typeof frame !== "object" || frame === null) {
          // Before the handshake anything but a hello is a refusal, not a wait for the timeout.
          if (!connection) return refuse("expected_hello", "the first frame must be a JSON hello");
          logger.warn({ runnerId: connection.runnerId }, "unparseable runner frame ignored");
          return;
        }
        if (!connection) {
          if ((frame as { type?: unknown }).type === "hello") onHello(frame);
          else refuse("expected_hello", "the first frame must be hello");
          return;
        }
        onFrame(frame as RunnerToGatewayMessage);
      });

      socket.on("close", (code: number) => {
        clearTimeout(handshakeTimer);
        if (!connection) return;
        const reason = `tunnel closed (${code})`;
        connection.handleClose(reason);
        registry.disconnect(connection.runnerId, connection, reason);
        logger.info({ runnerId: connection.runnerId, code }, "runner offline");
      });
      socket.on("error", (error: Error) =>
        logger.warn({ err: error, runnerId: connection?.runnerId }, "runner tunnel error"),
      );
    },
  });
};

export type TunnelSocket = WebSocket;

export default fastifyPlugin(tunnelServer, {
  name: "hypernode-tunnel-server",
  dependencies: ["@fastify/websocket", "hypernode-errors"],
});
