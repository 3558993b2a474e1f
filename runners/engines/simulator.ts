/**
 * Adapter for the built-in engine simulator (runners/simulator). The simulator speaks vLLM's
 * OpenAI-compatible API, so this is the vLLM adapter reporting itself as kind "sim".
 */
import type { EngineAdapter } from "./engine.ts";
import { createVllmAdapter } from "./vllm.ts";

export interface SimulatorAdapterOptions {
  /** Simulator root, e.g. `http://127.0.0.1:8000`. */
  engineUrl: string;
  connections?: number;
}

export function createSimulatorAdapter(options: SimulatorAdapterOptions): EngineAdapter {
  return createVllmAdapter({ engineUrl: options.engineUrl, kind: "sim", connections: options.connections });
}
