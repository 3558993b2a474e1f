/**
 * The gateway as a Fastify app: a thin HTTP layer over the library core (registry, jobs,
 * billing). Each concern is a named plugin; `buildGateway` wires them in dependency order.
 */
import { randomUUID } from "node:crypto";
import fastifyWebsocket from "@fastify/websocket";
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from "fastify";
import type { ApiKeyStore } from "../billing/api-keys.ts";
import type { Metering } from "../billing/metering.ts";
import type { BillingStore } from "../billing/store/types.ts";
import { countTextTokens } from "../billing/tokens.ts";
import type { ModelCatalog } from "../models/catalog.ts";
import type { GatewayConfig } from "./config.ts";
import { EventBus } from "./events/event-bus.ts";
import eventsRoute from "./events/events-route.ts";
import { startGatewayEvents } from "./events/gateway-events.ts";
import { type JobRecord, JobService } from "./jobs/job-service.ts";
import authPlugin from "./plugins/auth.ts";
import errorsPlugin from "./plugins/errors.ts";
import adminRoutes from "./routes/admin.ts";
import billingRoutes from "./routes/billing.ts";
import generationRoutes from "./routes/generation.ts";
import healthRoutes from "./routes/health.ts";
import intentRoutes from "./routes/intents.ts";
import modelRoutes from "./routes/models.ts";
import oracleRoutes from "./routes/oracle.ts";
import settlementRoutes from "./routes/settlement.ts";
import webSocketApi from "./routes/websocket-api.ts";
import { NodeTokenStore } from "./runners/node-tokens.ts";
import { RunnerRegistry } from "./runners/registry.ts";
import tunnelServer from "./runners/tunnel-server.ts";
import { compileSchema } from "./schemas/validation.ts";
import type { Payments } from "./stack/payments.ts";
import type { SettlementService } from "./stack/settlement.ts";

export type GatewaySettings = Pick<
  GatewayConfig,
  | "bodyLimitBytes"
  | "firstTokenTimeoutMs"
  | "totalTimeoutMs"
  | "heartbeatIntervalMs"
  | "maxAttempts"
  | "adminToken"
  | "settlementIntervalMs"
> &
  // Optional: embedders and tests that build settings by hand run without webhooks.
  Partial<Pick<GatewayConfig, "webhooks">>;

export interface GatewayServices {
  catalog: ModelCatalog;
  /** Accounts, intents, holds and the usage ledger; absent when the gateway runs unbilled. */
  store: BillingStore | undefined;
  metering: Metering | undefined;
  /** Intents on the settlement chain; absent when the gateway runs unbilled. */
  payments: Payments | undefined;
  /** Oracle + payouts, on the leader; attached after creation (it needs the registry and events). */
  settlement: SettlementService | undefined;
  apiKeys: ApiKeyStore;
  nodeTokens: NodeTokenStore;
  registry: RunnerRegistry;
  jobs: JobService;
  gatewayId: string;
  /** `GET /v1/events` and webhooks; settlement publishes `paymentSettled` / `epochSettled` here. */
  events: EventBus;
}

export interface Gateway {
  app: FastifyInstance;
  services: GatewayServices;
}

export function createGatewayServices(
  settings: GatewaySettings,
  dependencies: {
    catalog: ModelCatalog;
    apiKeys: ApiKeyStore;
    store?: BillingStore;
    metering?: Metering;
    payments?: Payments;
    nodeTokens?: NodeTokenStore;
    gatewayId?: string;
  },
): GatewayServices {
  const registry = new RunnerRegistry(settings.heartbeatIntervalMs);
  // Loading a BPE table takes ~150 ms of blocked event loop: pay it at boot, not on a request.
  for (const encoding of new Set(dependencies.catalog.list().map((model) => model.tokenizerEncoding)))
    countTextTokens("", encoding);
  return {
    catalog: dependencies.catalog,
    store: dependencies.store,
    metering: dependencies.metering,
    payments: dependencies.payments,
    settlement: undefined,
    apiKeys: dependencies.apiKeys,
    nodeTokens: dependencies.nodeTokens ?? new NodeTokenStore(),
    registry,
    jobs: new JobService(registry, settings, dependencies.metering),
    gatewayId: dependencies.gatewayId ?? `gateway-${randomUUID()}`,
    events: new EventBus(),
  };
}

export async function buildGateway(
  settings: GatewaySettings,
  services: GatewayServices,
  logger: FastifyServerOptions["logger"] = false,
): Promise<Gateway> {
  const app = Fastify({
    logger,
    bodyLimit: settings.bodyLimitBytes,
    // The request id is the job id: always ours, never taken from a client header.
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    return503OnClosing: true,
    forceCloseConnections: true,
    // One line per job comes from the job service; two per HTTP request would be noise.
    logController: new LogController({ requestIdLogLabel: "jobId", disableRequestLogging: true }),
  });
  // Bodies are JSON only: a text/plain body is a client mistake, not a string prompt.
  app.removeContentTypeParser(["text/plain"]);
  app.setValidatorCompiler(({ schema }) => compileSchema(schema));
  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id);
  });

  await app.register(errorsPlugin, { bodyLimitBytes: settings.bodyLimitBytes });
  // One frame limit serves both sockets: runner frames carry whole responses (a large batch of
  // embeddings), so it sits well above the client body limit, which clients' frames are held
  // to one by one with a proper error frame.
  await app.register(fastifyWebsocket, {
    options: { maxPayload: Math.max(64 * 1024 * 1024, settings.bodyLimitBytes * 4) },
  });
  await app.register(authPlugin, { apiKeys: services.apiKeys, adminToken: settings.adminToken });
  await app.register(healthRoutes, { registry: services.registry });
  await app.register(tunnelServer, {
    registry: services.registry,
    nodeTokens: services.nodeTokens,
    gatewayId: services.gatewayId,
    heartbeatIntervalMs: settings.heartbeatIntervalMs,
  });
  await app.register(modelRoutes, { catalog: services.catalog, registry: services.registry });
  await app.register(generationRoutes, { catalog: services.catalog, jobs: services.jobs });
  await app.register(webSocketApi, {
    catalog: services.catalog,
    jobs: services.jobs,
    bodyLimitBytes: settings.bodyLimitBytes,
  });
  await app.register(adminRoutes, { registry: services.registry, jobs: services.jobs });
  await app.register(eventsRoute, {
    events: services.events,
    apiKeys: services.apiKeys,
    adminToken: settings.adminToken,
    store: services.store,
  });
  if (services.store) await app.register(billingRoutes, { store: services.store });
  if (services.payments) {
    await app.register(intentRoutes, { intents: services.payments.intents, localChain: services.payments.localChain });
  }
  const settlement = services.settlement;
  if (settlement && services.store) {
    await app.register(settlementRoutes, { settlement, store: services.store, registry: services.registry });
    await app.register(oracleRoutes, { oracle: settlement.oracle });
    // The leader settles on a timer; rounds never overlap (the pipeline shares a running round).
    const settleTimer =
      settings.settlementIntervalMs > 0
        ? setInterval(() => {
            settlement.settleNow().catch((error: unknown) => app.log.error({ err: error }, "settlement round failed"));
          }, settings.settlementIntervalMs)
        : undefined;
    settleTimer?.unref();
    app.addHook("onClose", async () => {
      if (settleTimer) clearInterval(settleTimer);
      await settlement.close();
    });
  }

  const logJob = (record: JobRecord) =>
    app.log.info(
      {
        jobId: record.jobId,
        runnerId: record.nodeId,
        model: record.modelType,
        operation: record.operation,
        outcome: record.outcome,
        promptTokens: record.tokenUsage.promptTokens,
        completionTokens: record.tokenUsage.completionTokens,
        timeToFirstTokenMs: record.timeToFirstTokenMs,
        durationMs: record.executionDuration,
        attempts: record.attempts,
        error: record.errorMessage,
      },
      "job finished",
    );
  services.jobs.on("jobCompleted", logJob);
  const stopEvents = startGatewayEvents(services, settings.webhooks, app.log);
  const metering = services.metering;
  const sweepTimer = metering
    ? setInterval(() => {
        metering
          .sweep()
          .then(async (swept) => ({ ...swept, closedIntents: (await services.payments?.intents.closeExpired()) ?? [] }))
          .then(
            ({ releasedHolds, expiredIntents }) => {
              if (releasedHolds.length + expiredIntents.length > 0)
                app.log.warn({ releasedHolds, expiredIntents }, "released stale holds");
            },
            (error: unknown) => app.log.error({ err: error }, "billing sweep failed"),
          );
      }, metering.sweepIntervalMs)
    : undefined;
  sweepTimer?.unref();
  app.addHook("onClose", async () => {
    services.jobs.off("jobCompleted", logJob);
    if (sweepTimer) clearInterval(sweepTimer);
    stopEvents();
  });
  return { app, services };
}
