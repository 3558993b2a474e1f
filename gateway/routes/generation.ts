/**
 * `POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings`. Headers are committed only
 * once output begins, so a failure before the first token still gets its proper status code.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import fastifyPlugin from "fastify-plugin";
import type { ModelCatalog } from "../../models/catalog.ts";
import type { JobService } from "../jobs/job-service.ts";
import { prepareGeneration } from "../jobs/start-generation.ts";
import { type GenerationPath, requestSchemaByPath } from "../schemas/validation.ts";
import { SseStream } from "../streaming/sse-stream.ts";
import { openAiUsage } from "../streaming/usage-chunk.ts";

export interface GenerationRoutesOptions {
  catalog: ModelCatalog;
  jobs: JobService;
}

const generationRoutes: FastifyPluginAsync<GenerationRoutesOptions> = async (app: FastifyInstance, options) => {
  const serve = (path: GenerationPath) => async (request: FastifyRequest, reply: FastifyReply) => {
    const apiKey = request.apiKey;
    if (!apiKey) throw new Error("auth hook did not run");
    const { job, stream, includeUsage } = prepareGeneration(options, {
      path,
      body: request.body as Record<string, unknown>,
      apiKey,
      jobId: request.id,
    });
    // A client that leaves before output begins still stops the engine.
    const cancelIfGone = () => {
      if (!reply.raw.writableEnded) job.cancel("client disconnected");
    };
    reply.raw.once("close", cancelIfGone);
    await job.start();
    if (stream) {
      return reply
        .header("content-type", "text/event-stream; charset=utf-8")
        .header("cache-control", "no-cache")
        .header("x-accel-buffering", "no")
        .send(new SseStream(job, includeUsage));
    }
    const event = await job.next();
    if (event.type === "error") throw event.error;
    if (event.type !== "end" || !event.response) throw new Error("a non-streaming job ended without a response");
    const response = event.response;
    response.usage = { ...response.usage, ...openAiUsage(event.usage) };
    return reply.type("application/json; charset=utf-8").send(response);
  };

  for (const path of Object.keys(requestSchemaByPath) as GenerationPath[]) {
    app.post(path, { schema: { body: requestSchemaByPath[path] } }, serve(path));
  }
};

export default fastifyPlugin(generationRoutes, {
  name: "hypernode-generation-routes",
  dependencies: ["hypernode-auth"],
});
