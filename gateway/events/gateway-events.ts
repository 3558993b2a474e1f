/**
 * Connects the gateway's own sources to the event bus (finished jobs, runners coming and
 * going) and starts the webhook dispatcher when webhooks are configured. Settlement publishes
 * `paymentSettled` / `epochSettled` itself through `services.events`.
 */
import type { WebhookSettings } from "../config.ts";
import type { JobRecord, JobService } from "../jobs/job-service.ts";
import type { RunnerRegistry, RunnerState } from "../runners/registry.ts";
import type { EventBus } from "./event-bus.ts";
import type { JobCompletedData, RunnerStatusData } from "./types.ts";
import { WebhookDispatcher, type WebhookLogger } from "./webhooks.ts";

export function jobCompletedData(record: JobRecord): JobCompletedData {
  return {
    jobId: record.jobId,
    nodeId: record.nodeId,
    accountId: record.accountId,
    intentId: record.intentId,
    modelType: record.modelType,
    tokenUsage: {
      promptTokens: record.tokenUsage.promptTokens,
      completionTokens: record.tokenUsage.completionTokens,
      totalTokens: record.tokenUsage.totalTokens,
    },
    // JSON has no bigint: money travels as a decimal string of base units.
    charge: record.charge?.toString(),
    success: record.success,
    executionDuration: record.executionDuration,
    timestamp: record.timestamp,
  };
}

export function runnerStatusData(runner: RunnerState, reason?: string): RunnerStatusData {
  return {
    runnerId: runner.id,
    wallet: runner.wallet,
    engine: runner.engine,
    models: runner.models.map((served) => served.model),
    ...(reason === undefined ? {} : { reason }),
  };
}

export interface GatewayEventSources {
  events: EventBus;
  jobs: JobService;
  registry: RunnerRegistry;
}

/** Starts publishing (and webhook delivery when configured); the returned function stops it all. */
export function startGatewayEvents(
  sources: GatewayEventSources,
  webhooks: WebhookSettings | undefined,
  logger: WebhookLogger,
): () => void {
  const { events, jobs, registry } = sources;
  events.onListenerError = (error, event) =>
    logger.error({ err: error, eventId: event.id, eventType: event.type }, "event subscriber failed");
  const onJobCompleted = (record: JobRecord) => events.publish("jobCompleted", jobCompletedData(record));
  const onRunnerOnline = (runner: RunnerState) => events.publish("runnerOnline", runnerStatusData(runner));
  const onRunnerOffline = (runner: RunnerState, reason: string) =>
    events.publish("runnerOffline", runnerStatusData(runner, reason));
  jobs.on("jobCompleted", onJobCompleted);
  registry.on("runnerOnline", onRunnerOnline);
  registry.on("runnerOffline", onRunnerOffline);
  const dispatcher = webhooks
    ? new WebhookDispatcher({
        endpoints: webhooks.urls.map((url) => ({ url, secret: webhooks.secret })),
        maxAttempts: webhooks.maxAttempts,
        logger,
      }).attach(events)
    : undefined;
  return () => {
    jobs.off("jobCompleted", onJobCompleted);
    registry.off("runnerOnline", onRunnerOnline);
    registry.off("runnerOffline", onRunnerOffline);
    dispatcher?.close();
  };
}
