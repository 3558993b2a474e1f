/**
 * The model catalog: every model the network can serve, how each engine names it, how to count
 * its tokens locally, what it needs to run and what it costs. Prices are integers in the
 * settlement mint's base units per 1M tokens (a 6-decimal mint: 1_000_000 = 1 token unit).
 */

export type ModelKind = "chat" | "embedding";
export type TokenizerEncoding = "cl100k_base" | "o200k_base";
export type Quantization = "fp16" | "q8" | "q4";

export interface ModelPricing {
  /** Base units per 1M prompt tokens. */
  inputPerMillion: bigint;
  /** Base units per 1M completion tokens. */
  outputPerMillion: bigint;
}

export interface ModelTemplate {
  /** Canonical id clients use, e.g. `qwen2.5-7b-instruct`. */
  id: string;
  aliases: readonly string[];
  family: "qwen" | "deepseek" | "llama" | "mistral" | "embedding";
  kind: ModelKind;
  /** Tag for `ollama pull`. */
  ollamaTag: string;
  /** Hugging Face repo id vLLM serves (`vllm serve <repo>`). */
  vllmRepoId: string;
  contextLength: number;
  /** Encoding used for the gateway's own token count (a check against the engine's count). */
  tokenizerEncoding: TokenizerEncoding;
  /** How far, as a fraction, engine counts may differ from the local count and still agree. */
  tokenCountTolerance: number;
  /** Minimum free VRAM in GiB to load the model at each quantization. */
  minVramGiB: Readonly<Record<Quantization, number>>;
  pricing: ModelPricing;
  /** Completion cap applied when a request names no max_tokens. */
  defaultMaxTokens: number;
  ownedBy: string;
}

function chatModel(
  template: Omit<ModelTemplate, "kind" | "tokenizerEncoding" | "tokenCountTolerance" | "defaultMaxTokens"> &
    Partial<ModelTemplate>,
): ModelTemplate {
  return {
    kind: "chat",
    // Open models use their own BPE vocabularies; cl100k is the closest public encoding, so the
    // tolerance absorbs the difference.
    tokenizerEncoding: "cl100k_base",
    tokenCountTolerance: 0.25,
    defaultMaxTokens: 1024,
    ...template,
  };
}

const BUILT_IN_MODELS: readonly ModelTemplate[] = [
  chatModel({
    id: "qwen2.5-7b-instruct",
    aliases: ["qwen2.5-7b", "qwen2.5:7b", "qwen2.5:7b-instruct"],
    family: "qwen",
    ollamaTag: "qwen2.5:7b-instruct",
    vllmRepoId: "Qwen/Qwen2.5-7B-Instruct",
    contextLength: 32768,
    minVramGiB: { fp16: 16, q8: 9, q4: 6 },
    pricing: { inputPerMillion: 100_000n, outputPerMillion: 200_000n },
    ownedBy: "qwen",
  }),
  chatModel({
    id: "qwen2.5-14b-instruct",
    aliases: ["qwen2.5-14b", "qwen2.5:14b", "qwen2.5:14b-instruct"],
    family: "qwen",
    ollamaTag: "qwen2.5:14b-instruct",
    vllmRepoId: "Qwen/Qwen2.5-14B-Instruct",
    contextLength: 32768,
    minVramGiB: { fp16: 30, q8: 16, q4: 10 },
    pricing: { inputPerMillion: 200_000n, outputPerMillion: 400_000n },
    ownedBy: "qwen",
  }),
  chatModel({
    id: "qwen2.5-32b-instruct",
    aliases: ["qwen2.5-32b", "qwen2.5:32b", "qwen2.5:32b-instruct"],
    family: "qwen",
    ollamaTag: "qwen2.5:32b-instruct",
    vllmRepoId: "Qwen/Qwen2.5-32B-Instruct",
    contextLength: 32768,
    minVramGiB: { fp16: 66, q8: 35, q4: 20 },
    pricing: { inputPerMillion: 400_000n, outputPerMillion: 800_000n },
    ownedBy: "qwen",
  }),
  chatModel({
    id: "qwen2.5-72b-instruct",
    aliases: ["qwen2.5-72b", "qwen2.5:72b", "qwen2.5:72b-instruct"],
    family: "qwen",
    ollamaTag: "qwen2.5:72b-instruct",
    vllmRepoId: "Qwen/Qwen2.5-72B-Instruct",
    contextLength: 32768,
    minVramGiB: { fp16: 145, q8: 77, q4: 47 },
    pricing: { inputPerMillion: 900_000n, outputPerMillion: 1_200_000n },
    ownedBy: "qwen",
  }),
  chatModel({
    id: "deepseek-r1-distill-qwen-7b",
    aliases: ["deepseek-r1:7b", "deepseek-r1-7b"],
    family: "deepseek",
    ollamaTag: "deepseek-r1:7b",
    vllmRepoId: "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
    contextLength: 131072,
    minVramGiB: { fp16: 16, q8: 9, q4: 6 },
    pricing: { inputPerMillion: 100_000n, outputPerMillion: 200_000n },
    defaultMaxTokens: 4096,
    ownedBy: "deepseek-ai",
  }),
  chatModel({
    id: "deepseek-r1-distill-qwen-14b",
    aliases: ["deepseek-r1:14b", "deepseek-r1-14b"],
    family: "deepseek",
    ollamaTag: "deepseek-r1:14b",
    vllmRepoId: "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B",
    contextLength: 131072,
    minVramGiB: { fp16: 30, q8: 16, q4: 10 },
    pricing: { inputPerMillion: 200_000n, outputPerMillion: 400_000n },
    defaultMaxTokens: 4096,
    ownedBy: "deepseek-ai",
  }),
  chatModel({
    id: "deepseek-r1-distill-qwen-32b",
    aliases: ["deepseek-r1:32b", "deepseek-r1-32b"],
    family: "deepseek",
    ollamaTag: "deepseek-r1:32b",
    vllmRepoId: "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
    contextLength: 131072,
    minVramGiB: { fp16: 66, q8: 35, q4: 20 },
    pricing: { inputPerMillion: 400_000n, outputPerMillion: 800_000n },
    defaultMaxTokens: 4096,
    ownedBy: "deepseek-ai",
  }),
  chatModel({
    id: "deepseek-r1-distill-llama-8b",
    aliases: ["deepseek-r1:8b", "deepseek-r1-8b"],
    family: "deepseek",
    ollamaTag: "deepseek-r1:8b",
    vllmRepoId: "deepseek-ai/DeepSeek-R1-Distill-Llama-8B",
    contextLength: 131072,
    minVramGiB: { fp16: 18, q8: 10, q4: 6 },
    pricing: { inputPerMillion: 100_000n, outputPerMillion: 200_000n },
    defaultMaxTokens: 4096,
    ownedBy: "deepseek-ai",
  }),
  chatModel({
    id: "deepseek-r1-distill-llama-70b",
    aliases: ["deepseek-r1:70b", "deepseek-r1-70b"],
    family: "deepseek",
    ollamaTag: "deepseek-r1:70b",
    vllmRepoId: "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
    contextLength: 131072,
    minVramGiB: { fp16: 141, q8: 75, q4: 43 },
    pricing: { inputPerMillion: 900_000n, outputPerMillion: 1_200_000n },
    defaultMaxTokens: 4096,
    ownedBy: "deepseek-ai",
  }),
  chatModel({
    id: "llama-3.1-8b-instruct",
    aliases: ["llama3.1:8b", "llama3.1-8b", "llama-3.1-8b"],
    family: "llama",
    ollamaTag: "llama3.1:8b-instruct-q8_0",
    vllmRepoId: "meta-llama/Llama-3.1-8B-Instruct",
    contextLength: 131072,
    minVramGiB: { fp16: 18, q8: 10, q4: 6 },
    pricing: { inputPerMillion: 100_000n, outputPerMillion: 200_000n },
    ownedBy: "meta",
  }),
  chatModel({
    id: "llama-3.1-70b-instruct",
    aliases: ["llama3.1:70b", "llama3.1-70b", "llama-3.1-70b"],
    family: "llama",
    ollamaTag: "llama3.1:70b-instruct-q4_K_M",
    vllmRepoId: "meta-llama/Llama-3.1-70B-Instruct",
    contextLength: 131072,
    minVramGiB: { fp16: 141, q8: 75, q4: 43 },
    pricing: { inputPerMillion: 880_000n, outputPerMillion: 880_000n },
    ownedBy: "meta",
  }),
  chatModel({
    id: "llama-3.2-3b-instruct",
    aliases: ["llama3.2:3b", "llama3.2-3b", "llama-3.2-3b"],
    family: "llama",
    ollamaTag: "llama3.2:3b-instruct-fp16",
    vllmRepoId: "meta-llama/Llama-3.2-3B-Instruct",
    contextLength: 131072,
    minVramGiB: { fp16: 8, q8: 4, q4: 3 },
    pricing: { inputPerMillion: 60_000n, outputPerMillion: 60_000n },
    ownedBy: "meta",
  }),
  chatModel({
    id: "mistral-7b-instruct",
    aliases: ["mistral:7b", "mistral-7b", "mistral-7b-instruct-v0.3"],
    family: "mistral",
    ollamaTag: "mistral:7b-instruct",
    vllmRepoId: "mistralai/Mistral-7B-Instruct-v0.3",
    contextLength: 32768,
    minVramGiB: { fp16: 16, q8: 9, q4: 5 },
    pricing: { inputPerMillion: 100_000n, outputPerMillion: 200_000n },
    ownedBy: "mistralai",
  }),
  chatModel({
    id: "mixtral-8x7b-instruct",
    aliases: ["mixtral:8x7b", "mixtral-8x7b"],
    family: "mistral",
    ollamaTag: "mixtral:8x7b-instruct-v0.1-q4_K_M",
    vllmRepoId: "mistralai/Mixtral-8x7B-Instruct-v0.1",
    contextLength: 32768,
    minVramGiB: { fp16: 94, q8: 50, q4: 28 },
    pricing: { inputPerMillion: 450_000n, outputPerMillion: 700_000n },
    ownedBy: "mistralai",
  }),
  {
    id: "nomic-embed-text",
    aliases: ["nomic-embed-text-v1.5", "nomic-embed"],
    family: "embedding",
    kind: "embedding",
    ollamaTag: "nomic-embed-text",
    vllmRepoId: "nomic-ai/nomic-embed-text-v1.5",
    contextLength: 8192,
    tokenizerEncoding: "cl100k_base",
    tokenCountTolerance: 0.25,
    minVramGiB: { fp16: 1, q8: 1, q4: 1 },
    pricing: { inputPerMillion: 10_000n, outputPerMillion: 0n },
    defaultMaxTokens: 0,
    ownedBy: "nomic-ai",
  },
];

export class ModelCatalog {
  private readonly byName = new Map<string, ModelTemplate>();

  constructor(readonly models: readonly ModelTemplate[]) {
    for (const model of models) {
      for (const name of [model.id, ...model.aliases]) {
        const key = name.toLowerCase();
        const existing = this.byName.get(key);
        if (existing && existing.id !== model.id) {
          throw new Error(`model name "${name}" is claimed by both ${existing.id} and ${model.id}`);
        }
        this.byName.set(key, model);
      }
    }
  }

  static builtIn(): ModelCatalog {
    return new ModelCatalog(BUILT_IN_MODELS);
  }

  /** Catalog id, alias, Ollama tag or vLLM repo id → template; case-insensitive. */
  resolve(name: string): ModelTemplate | undefined {
    const key = name.toLowerCase();
    return (
      this.byName.get(key) ??
      this.models.find((model) => model.ollamaTag.toLowerCase() === key || model.vllmRepoId.toLowerCase() === key)
    );
  }

  list(): readonly ModelTemplate[] {
    return this.models;
  }
}
