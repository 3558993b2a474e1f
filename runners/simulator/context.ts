/** Resolved options and the state every handler shares. */
import { ModelCatalog, type ModelTemplate } from "../../models/catalog.ts";
import { type KvCacheConfiguration, PrefixCache } from "./kv-cache.ts";
import { OllamaModelStore } from "./ollama-registry.ts";
import type { SimulatorFault, SimulatorOptions } from "./server.ts";
import { StatsRecorder } from "./stats.ts";

export interface ResolvedSimulatorOptions {
  host: string;
  port: number;
  timeToFirstTokenMs: number;
  prefillMsPerToken: number;
  perTokenLatencyMs: number;
  batchingSlowdown: number;
  kvCache: KvCacheConfiguration | false;
  defaultMaxTokens: number;
  embeddingDimensions: number;
}

export interface SimulatorContext {
  readonly options: ResolvedSimulatorOptions;
  readonly catalog: ModelCatalog;
  /** Models on the vLLM API, in listing order. */
  readonly vllmModels: readonly ModelTemplate[];
  /** vLLM serves each model under its repo id and its catalog id; exact, case-sensitive names. */
  readonly vllmModelsByName: ReadonlyMap<string, ModelTemplate>;
  readonly ollamaModels: OllamaModelStore;
  readonly stats: StatsRecorder;
  readonly prefixCache: PrefixCache;
  /** Unix seconds when the simulator started (vLLM's `created` for models). */
  readonly startedAtSeconds: number;
  /** Server-wide fault; a request's `x-simulator-fault` header overrides it. */
  fault: SimulatorFault | undefined;
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0)
    throw new RangeError(`simulator option ${name} must be a finite number >= 0, got ${value}`);
  return value;
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`simulator option ${name} must be an integer >= 1, got ${value}`);
  return value;
}

export function resolveOptions(options: SimulatorOptions): ResolvedSimulatorOptions {
  const kvCache = options.kvCache ?? { blockTokens: 16, capacityBlocks: 4096 };
  return {
    host: options.host ?? "127.0.0.1",
    port: nonNegative("port", options.port, 0),
    timeToFirstTokenMs: nonNegative("timeToFirstTokenMs", options.timeToFirstTokenMs, 20),
    prefillMsPerToken: nonNegative("prefillMsPerToken", options.prefillMsPerToken, 0.05),
    perTokenLatencyMs: nonNegative("perTokenLatencyMs", options.perTokenLatencyMs, 5),
    batchingSlowdown: nonNegative("batchingSlowdown", options.batchingSlowdown, 0.01),
    kvCache:
      kvCache === false
        ? false
        : {
            blockTokens: positiveInteger("kvCache.blockTokens", kvCache.blockTokens, 16),
            capacityBlocks: nonNegative("kvCache.capacityBlocks", kvCache.capacityBlocks, 4096),
          },
    defaultMaxTokens: positiveInteger("defaultMaxTokens", options.defaultMaxTokens, 256),
    embeddingDimensions: positiveInteger("embeddingDimensions", options.embeddingDimensions, 768),
  };
}

export function createContext(options: SimulatorOptions): SimulatorContext {
  const resolved = resolveOptions(options);
  const catalog = ModelCatalog.builtIn();
  const models = (options.models ?? catalog.list().map((model) => model.id)).map((name) => {
    const model = catalog.resolve(name);
    if (model === undefined) throw new RangeError(`simulator option models: "${name}" is not in the model catalog`);
    return model;
  });
  const uniqueModels = [...new Map(models.map((model) => [model.id, model])).values()];
  const vllmModelsByName = new Map<string, ModelTemplate>();
  for (const model of uniqueModels) {
    vllmModelsByName.set(model.vllmRepoId, model);
    vllmModelsByName.set(model.id, model);
  }
  return {
    options: resolved,
    catalog,
    vllmModels: uniqueModels,
    vllmModelsByName,
    ollamaModels: new OllamaModelStore(catalog, uniqueModels),
    stats: new StatsRecorder(),
    prefixCache: new PrefixCache(resolved.kvCache),
    startedAtSeconds: Math.floor(Date.now() / 1000),
    fault: undefined,
  };
}
