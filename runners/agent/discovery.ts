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
  /** Engine names already reported as outside the catalog: said once, not every heartbeat. */
  private readonly reportedUnknown = new Set<string>();

  constructor(
    private readonly discovery: ModelDiscoveryInput,
    private readonly detectGpus: () => Promise<GpuInfo[]>,
  ) {}

  /** Probes both within `timeoutMs`; `signal` (the session closing) cuts the wait short. */
  async snapshot(timeoutMs: number, signal: AbortSignal): Promise<TelemetrySnapshot> {
    const probe = new AbortController();
    const timer = setTimeout(() => probe.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const onSessionClosed = (): void => probe.abort(signal.reason);
    signal.addEventListener("abort", onSessionClosed, { once: true });
    try {
      const [models, gpus] = await Promise.allSettled([
        untilAborted(this.discoverModels(probe.signal), probe.signal, "model discovery"),
        untilAborted(this.detectGpus(), probe.signal, "GPU detection"),
      ]);
      const logger = this.discovery.logger;
      if (models.status === "fulfilled") this.lastModels = models.value;
      else if (!signal.aborted)
        logger.warn({ err: models.reason }, "could not list the engine's models; reporting the last known list");
      if (gpus.status === "fulfilled") this.lastGpus = gpus.value;
      else if (!signal.aborted)
        logger.warn({ err: gpus.reason }, "GPU detection failed; reporting the last known GPUs");
      return { models: this.lastModels, gpus: this.lastGpus };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onSessionClosed);
    }
  }

  /** Engine model names → catalog entries; names outside the catalog or the allow-list are skipped. */
  private async discoverModels(signal: AbortSignal): Promise<ServedModel[]> {
    const { engine, catalog, allowedModels, logger } = this.discovery;
    const engineModels = await engine.listModels({ signal });
    const served: ServedModel[] = [];
    const seen = new Set<string>();
    for (const { name } of engineModels) {
      const entry = catalog.resolve(name);
      if (!entry) {
        if (!this.reportedUnknown.has(name))
          logger.info({ engineModel: name }, "engine model is not in the catalog; not offered");
        this.reportedUnknown.add(name);
        continue;
      }
      if (allowedModels && !allowedModels.has(entry.id)) continue;
      // Two engine names for one catalog model (e.g. an alias tag) would double-book it.
      if (seen.has(entry.id)) continue;
      seen.add(entry.id);
      served.push({ model: entry.id, engineModel: name, state: "ready" });
    }
    return served;
  }
}

/** Settles with `task`, or rejects as soon as `signal` aborts (a probe that ignores its signal cannot hold us). */
function untilAborted<T>(task: Promise<T>, signal: AbortSignal, what: string): Promise<T> {
  if (signal.aborted) {
    task.catch(() => undefined);
    return Promise.reject(new Error(`${what} gave up: ${reasonText(signal.reason)}`));
  }
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(new Error(`${what} gave up: ${reasonText(signal.reason)}`));
    signal.addEventListener("abort", onAbort, { once: true });
    task.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

function reasonText(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}
