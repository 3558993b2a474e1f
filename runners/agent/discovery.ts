/**
 * What the runner tells the gateway about itself: the catalog models its engine serves and its
 * GPUs. Both are asked for on every handshake and heartbeat, each bounded by a deadline so a
 * hung engine or `nvidia-smi` cannot stall the handshake past the challenge's expiry.
 */
import type { Logger } from "pino";
import type { ModelCatalog } from "../../models/catalog.ts";
import type { EngineAdapter } from "../engines/engine.ts";
import type { GpuInfo, ServedModel } from "../protocol.ts";

export interface ModelDiscoveryInput {
  engine: EngineAdapter;
  catalog: ModelCatalog;
  /** Catalog ids the operator allows; undefined allows every catalog model. */
  allowedModels: ReadonlySet<string> | undefined;
  logger: Logger;
  timeoutMs: number;
}

/** Engine model names → catalog entries; names outside the catalog or the allow-list are skipped. */
export async function discoverModels(input: ModelDiscoveryInput): Promise<ServedModel[]> {
  const engineModels = await input.engine.listModels({ signal: AbortSignal.timeout(input.timeoutMs) });
  const served: ServedModel[] = [];
  const seen = new Set<string>();
  for (const { name } of engineModels) {
    const entry = input.catalog.resolve(name);
    if (!entry) {
      input.logger.info({ engineModel: name }, "engine model is not in the catalog; not offered");
      continue;
    }
    if (input.allowedModels && !input.allowedModels.has(entry.id)) {
      input.logger.debug({ engineModel: name, model: entry.id }, "model not in --models; not offered");
      continue;
    }
    // Two engine names for one catalog model (e.g. an alias tag) would double-book it.
    if (seen.has(entry.id)) continue;
    seen.add(entry.id);
    served.push({ model: entry.id, engineModel: name, state: "ready" });
  }
  return served;
}

/** Runs `task` but gives up after `timeoutMs`; the timer never outlives the race. */
export async function withDeadline<T>(task: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([task, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export interface TelemetrySnapshot {
  models: ServedModel[];
  gpus: GpuInfo[];
}

/**
 * Fresh models and GPUs for each hello and heartbeat. A failed probe reports the last known
 * answer rather than nothing: a transient `nvidia-smi` or engine hiccup should not make the
 * gateway think the runner lost its GPUs or models.
 */
export class TelemetrySource {
  private lastModels: ServedModel[] = [];
  private lastGpus: GpuInfo[] = [];

  constructor(
    private readonly discovery: Omit<ModelDiscoveryInput, "timeoutMs">,
    private readonly detectGpus: () => Promise<GpuInfo[]>,
  ) {}

  async snapshot(timeoutMs: number): Promise<TelemetrySnapshot> {
    const [models, gpus] = await Promise.allSettled([
      withDeadline(discoverModels({ ...this.discovery, timeoutMs }), timeoutMs, "model discovery"),
      withDeadline(this.detectGpus(), timeoutMs, "GPU detection"),
    ]);
    if (models.status === "fulfilled") this.lastModels = models.value;
    else this.discovery.logger.warn({ err: models.reason }, "could not list the engine's models; reporting the last known list");
    if (gpus.status === "fulfilled") this.lastGpus = gpus.value;
    else this.discovery.logger.warn({ err: gpus.reason }, "GPU detection failed; reporting the last known GPUs");
    return { models: this.lastModels, gpus: this.lastGpus };
  }
}
