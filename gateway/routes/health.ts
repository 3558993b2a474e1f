/**
 * `/healthz`: the process answers. `/readyz`: it can serve, i.e. some runner is online.
 */
import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import fastifyPlugin from "fastify-plugin";
import type { RunnerRegistry } from "../runners/registry.ts";

const healthRoutes: FastifyPluginAsync<{ registry: RunnerRegistry }> = async (app: FastifyInstance, options) => {
  app.get("/healthz", { config: { auth: "open" } }, async () => ({ status: "ok" }));
  app.get("/readyz", { config: { auth: "open" } }, async (_request, reply) => {
    const runnersOnline = options.registry.onlineCount();
    return reply
      .status(runnersOnline > 0 ? 200 : 503)
      .send({ status: runnersOnline > 0 ? "ready" : "no runners online", runnersOnline });
  });
};

export default fastifyPlugin(healthRoutes, { name: "hypernode-health-routes" });
