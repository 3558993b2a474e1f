/**
 * What the simulated Ollama has on disk (`/api/tags`) and in memory (`/api/ps`), and how it
 * describes a model (`/api/show`). Models come from the catalog: a tag Ollama could pull is a
 * catalog model's `ollamaTag` (or any other catalog name).
 */
import { createHash } from "node:crypto";
import type { ModelCatalog, ModelTemplate } from "../../models/catalog.ts";

/** How long a used model stays loaded when the request names no keep_alive (Ollama's default). */
export const DEFAULT_KEEP_ALIVE_MS = 5 * 60_000;
const DEFAULT_CONTEXT_LENGTH = 4096;

export interface OllamaModelDetails {
  parent_model: string;
  format: string;
  family: string;
  families: string[];
  parameter_size: string;
  quantization_level: string;
}

interface PresentModel {
  model: ModelTemplate;
  modifiedAt: Date;
}

interface LoadedModel {
  model: ModelTemplate;
  /** ms since epoch; Infinity for keep_alive < 0. */
  expiresAt: number;
  contextLength: number;
}

export class OllamaModelStore {
  private readonly present = new Map<string, PresentModel>();
  private readonly loaded = new Map<string, LoadedModel>();

  constructor(
    private readonly catalog: ModelCatalog,
    initialModels: readonly ModelTemplate[],
  ) {
    for (const model of initialModels) this.add(model);
  }

  /** Any catalog name, with Ollama's implicit `:latest` tag accepted. */
  resolve(name: string): ModelTemplate | undefined {
    const trimmed = name.trim();
    return (
      this.catalog.resolve(trimmed) ??
      (trimmed.endsWith(":latest") ? this.catalog.resolve(trimmed.slice(0, -":latest".length)) : undefined)
    );
  }

  /** The model when it has been pulled; undefined otherwise. */
  findPresent(name: string): ModelTemplate | undefined {
    const model = this.resolve(name);
    return model !== undefined && this.present.has(model.id) ? model : undefined;
  }

  add(model: ModelTemplate): void {
    this.present.set(model.id, { model, modifiedAt: new Date() });
  }

  remove(model: ModelTemplate): boolean {
    this.loaded.delete(model.id);
    return this.present.delete(model.id);
  }

  listPresent(): PresentModel[] {
    return [...this.present.values()];
  }

  modifiedAt(model: ModelTemplate): Date {
    return this.present.get(model.id)?.modifiedAt ?? new Date();
  }

  /** Records a use: the model stays in memory for `keepAliveMs` (0 unloads, negative keeps forever). */
  markUsed(model: ModelTemplate, keepAliveMs: number, contextLength: number | undefined): void {
    if (keepAliveMs === 0) {
      this.loaded.delete(model.id);
      return;
    }
    this.loaded.set(model.id, {
      model,
      expiresAt: keepAliveMs < 0 ? Number.POSITIVE_INFINITY : Date.now() + keepAliveMs,
      contextLength: contextLength ?? DEFAULT_CONTEXT_LENGTH,
    });
  }

  listLoaded(): LoadedModel[] {
    const now = Date.now();
    for (const [id, entry] of this.loaded) if (entry.expiresAt <= now) this.loaded.delete(id);
    return [...this.loaded.values()];
  }
}

/** The name Ollama lists a model under: its tag, with `:latest` made explicit. */
export function ollamaListedName(model: ModelTemplate): string {
  return model.ollamaTag.includes(":") ? model.ollamaTag : `${model.ollamaTag}:latest`;
}

const digests = new Map<string, string>();

/** A stable sha256 hex standing in for a blob or manifest digest. */
export function stableDigest(text: string): string {
  let digest = digests.get(text);
  if (digest === undefined) {
    digest = createHash("sha256").update(text).digest("hex");
    digests.set(text, digest);
  }
  return digest;
}

function architecture(model: ModelTemplate): string {
  if (model.kind === "embedding") return "nomic-bert";
  if (model.family === "qwen" || (model.family === "deepseek" && model.id.includes("qwen"))) return "qwen2";
  return "llama";
}

/** Billions of parameters, read from the model id ("8x7b" → 56, "7b" → 7). */
function parameterBillions(model: ModelTemplate): number {
  const mixture = /(\d+)x(\d+(?:\.\d+)?)b/.exec(model.id);
  if (mixture) return Number(mixture[1]) * Number(mixture[2]) * 0.83;
  const dense = /(\d+(?:\.\d+)?)b(?:-|$)/.exec(model.id);
  return dense ? Number(dense[1]) : 0.137;
}

function quantizationLevel(model: ModelTemplate): string {
  const match = /(q\d(?:_[a-z0-9]+)*|fp16|f16)$/i.exec(model.ollamaTag);
  if (!match?.[1]) return model.kind === "embedding" ? "F16" : "Q4_K_M";
  const level = match[1].toUpperCase();
  return level === "FP16" ? "F16" : level;
}

function bytesPerParameter(quantization: string): number {
  if (quantization === "F16") return 2;
  if (quantization.startsWith("Q8")) return 1.07;
  return 0.6;
}

export function ollamaDetails(model: ModelTemplate): OllamaModelDetails {
  const family = architecture(model);
  const billions = parameterBillions(model);
  return {
    parent_model: "",
    format: "gguf",
    family,
    families: [family],
    parameter_size: billions < 1 ? `${Math.round(billions * 1000)}M` : `${Math.round(billions * 10) / 10}B`,
    quantization_level: quantizationLevel(model),
  };
}

export function ollamaModelSizeBytes(model: ModelTemplate): number {
  return Math.round(parameterBillions(model) * 1e9 * bytesPerParameter(quantizationLevel(model)));
}

export function ollamaCapabilities(model: ModelTemplate): string[] {
  if (model.kind === "embedding") return ["embedding"];
  return model.family === "deepseek" ? ["completion", "tools", "thinking"] : ["completion", "tools"];
}

/** `/api/show`'s `model_info`: GGUF metadata keys, prefixed by the architecture. */
export function ollamaModelInfo(model: ModelTemplate, embeddingDimensions: number): Record<string, string | number> {
  const family = architecture(model);
  return {
    "general.architecture": family,
    "general.basename": model.id,
    "general.parameter_count": Math.round(parameterBillions(model) * 1e9),
    "general.quantization_version": 2,
    [`${family}.context_length`]: model.contextLength,
    [`${family}.embedding_length`]: model.kind === "embedding" ? embeddingDimensions : 4096,
    [`${family}.block_count`]: 32,
  };
}

/** Parses Ollama's keep_alive: seconds as a number, or a Go duration such as "5m", "30s", "1h", "-1". */
export function parseKeepAlive(value: string | number | null | undefined): number {
  if (value === undefined || value === null || value === "") return DEFAULT_KEEP_ALIVE_MS;
  if (typeof value === "number") return value < 0 ? -1 : value * 1000;
  const match = /^(-?\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!match) return DEFAULT_KEEP_ALIVE_MS;
  const amount = Number(match[1]);
  if (amount < 0) return -1;
  const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? "s"] ?? 1000;
  return amount * unitMs;
}
