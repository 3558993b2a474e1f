/**
 * Authentication is on by default: every route needs an API key unless its config says
 * `auth: "open"` (health probes, the runner tunnel, which checks node tokens itself) or
 * `auth: "admin"` (admin token).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from "fastify";
import fastifyPlugin from "fastify-plugin";
import type { ApiKeyRecord, ApiKeyStore } from "../../billing/api-keys.ts";
import { GatewayError } from "../errors.ts";

export type RouteAuth = "apiKey" | "admin" | "open";

declare module "fastify" {
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
  interface FastifyRequest {
    apiKey: ApiKeyRecord | undefined;
  }
}

export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

export interface AuthOptions {
  apiKeys: ApiKeyStore;
  adminToken: string | undefined;
}

const digest = (value: string) => createHash("sha256").update(value).digest();

/** Resolves the caller's API key or throws the 401 OpenAI sends. */
export async function authenticateApiKey(apiKeys: ApiKeyStore, token: string | undefined): Promise<ApiKeyRecord> {
  if (!token) {
    throw new GatewayError(
      "GW_ERR_AUTHENTICATION",
      "You didn't provide an API key. Provide it in an Authorization header using Bearer auth (Authorization: Bearer YOUR_KEY).",
      { openAiCode: null },
    );
  }
  const record = await apiKeys.verify(token);
  if (!record) throw new GatewayError("GW_ERR_AUTHENTICATION", "Incorrect API key provided.");
  return record;
}

const authPlugin: FastifyPluginAsync<AuthOptions> = async (app: FastifyInstance, options) => {
  const adminDigest = options.adminToken ? digest(options.adminToken) : undefined;
  app.decorateRequest("apiKey", undefined);
  app.addHook("onRequest", async (request) => {
    // Unknown URLs have no route config: they fall through to the 404 handler.
    if (!request.routeOptions.url) return;
    const auth = request.routeOptions.config.auth ?? "apiKey";
    if (auth === "open") return;
    const token = bearerToken(request);
    if (auth === "admin") {
      if (!adminDigest)
        throw new GatewayError("GW_ERR_FORBIDDEN", "The admin API is disabled: set HYPERNODE_ADMIN_TOKEN.");
      if (!token || !timingSafeEqual(digest(token), adminDigest))
        throw new GatewayError("GW_ERR_AUTHENTICATION", "Invalid admin token.");
      return;
    }
    request.apiKey = await authenticateApiKey(options.apiKeys, token);
  });
};

export default fastifyPlugin(authPlugin, { name: "hypernode-auth", dependencies: ["hypernode-errors"] });
