/**
 * `GET /v1/models` lists the catalog models some online runner has ready right now;
 * `GET /v1/models/{id}` answers one of them (ids may contain `/`, like vLLM repo ids).
 */
import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import fastifyPlugin from "fastify-plugin";
import type { Model, ModelsPage } from "openai/resources/models";
import type { ModelCatalog, ModelTemplate } from "../../models/catalog.ts";
import { modelNotFound } from "../errors.ts";
import type { RunnerRegistry } from "../runners/registry.ts";

/** Catalog entries have no creation date; a fixed one keeps responses stable. */
const CATALOG_CREATED = 1_735_689_600;

function toOpenAiModel(model: ModelTemplate): Model {
  return { id: model.id, object: "model", created: CATALOG_CREATED, owned_by: model.ownedBy };
}

const modelRoutes: FastifyPluginAsync<{ catalog: ModelCatalog; registry: RunnerRegistry }> = async (
  app: FastifyInstance,
  options,
) => {
  app.get("/v1/models", async () => {
    const served = options.registry.servedModels();
    const data = options.catalog
      .list()
      .filter((model) => served.has(model.id))
      .map(toOpenAiModel);
    return { object: "list", data } satisfies Pick<ModelsPage, "data"> & { object: "list" };
  });
  app.get<{ Params: { "*": string } }>("/v1/models/*", async (request) => {
    const name = request.params["*"];
    const model = options.catalog.resolve(name);
    if (!model || !options.registry.servedModels().has(model.id)) throw modelNotFound(name);
    return toOpenAiModel(model);
  });
};

export default fastifyPlugin(modelRoutes, { name: "hypernode-model-routes", dependencies: ["hypernode-auth"] });
