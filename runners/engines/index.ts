/** Picks the adapter for a runner's configured engine. */
import type { EngineKind } from "../protocol.ts";
import type { EngineAdapter } from "./engine.ts";
import { createOllamaAdapter } from "./ollama.ts";
import { createSimulatorAdapter } from "./simulator.ts";
import { createVllmAdapter } from "./vllm.ts";

export interface EngineAdapterSettings {
  /** Bearer token for vLLM's `--api-key`; ignored by the other engines. */
  apiKey?: string;
  /** Most pooled connections to the engine. */
  connections?: number;
}

export function createEngineAdapter(
  kind: EngineKind,
  engineUrl: string,
  settings: EngineAdapterSettings = {},
): EngineAdapter {
  switch (kind) {
    case "vllm":
      return createVllmAdapter({ engineUrl, apiKey: settings.apiKey, connections: settings.connections, kind: "vllm" });
    case "ollama":
      return createOllamaAdapter({ engineUrl, connections: settings.connections });
    case "sim":
      return createSimulatorAdapter({ engineUrl, connections: settings.connections });
    default: {
      const unknownKind: never = kind;
      throw new Error(`unknown engine kind: ${String(unknownKind)}`);
    }
  }
}

export type { EngineAdapter, EngineCallOptions, EngineErrorCode, EngineModelInfo } from "./engine.ts";
export { EngineError } from "./engine.ts";
export { type EngineStream, runningUsage } from "./engine-stream.ts";
