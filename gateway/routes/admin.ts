/**
 * Operator views behind the admin token: runners with their load and telemetry, job records.
 */
import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import fastifyPlugin from "fastify-plugin";
import { GatewayError } from "../errors.ts";
import type { JobService } from "../jobs/job-service.ts";
import type { RunnerRegistry, RunnerState } from "../runners/registry.ts";
import { jsonSafe } from "./json-safe.ts";

function runnerView(runner: RunnerState) {
  const { connection, ...view } = runner;
  return { ...view, connected: connection?.open ?? false };
}

const adminRoutes: FastifyPluginAsync<{ registry: RunnerRegistry; jobs: JobService }> = async (
  app: FastifyInstance,
  options,
) => {
  app.get("/admin/runners", { config: { auth: "admin" } }, async () => ({
    runners: options.registry.list().map(runnerView),
  }));
  app.get<{ Params: { id: string } }>("/admin/jobs/:id", { config: { auth: "admin" } }, async (request) => {
    const record = options.jobs.record(request.params.id);
    if (!record) throw new GatewayError("GW_ERR_NOT_FOUND", `No finished job ${request.params.id}.`);
    return jsonSafe(record);
  });
};

export default fastifyPlugin(adminRoutes, { name: "hypernode-admin-routes", dependencies: ["hypernode-auth"] });
