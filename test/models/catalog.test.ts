import { describe, expect, it } from "vitest";
import { ModelCatalog } from "../../models/catalog.ts";
import { CatalogFileError, extendCatalog } from "../../models/catalog-file.ts";

describe("ModelCatalog", () => {
  const catalog = ModelCatalog.builtIn();

  it("covers the model families the network serves, each complete", () => {
    const ids = catalog.list().map((model) => model.id);
    for (const id of [
      "qwen2.5-7b-instruct",
      "qwen2.5-14b-instruct",
      "qwen2.5-32b-instruct",
      "qwen2.5-72b-instruct",
      "deepseek-r1-distill-qwen-7b",
      "deepseek-r1-distill-qwen-14b",
      "deepseek-r1-distill-qwen-32b",
      "deepseek-r1-distill-llama-8b",
      "deepseek-r1-distill-llama-70b",
      "llama-3.1-8b-instruct",
      "llama-3.1-70b-instruct",
      "llama-3.2-3b-instruct",
      "mistral-7b-instruct",
      "mixtral-8x7b-instruct",
      "nomic-embed-text",
    ]) {
      expect(ids).toContain(id);
    }
    for (const model of catalog.list()) {
      expect(model.contextLength).toBeGreaterThan(0);
      expect(model.minVramGiB.q4).toBeLessThanOrEqual(model.minVramGiB.fp16);
      expect(typeof model.pricing.inputPerMillion).toBe("bigint");
    }
  });

  it("resolves ids, aliases, Ollama tags and vLLM repo ids, case-insensitively", () => {
    expect(catalog.resolve("qwen2.5:7b")?.id).toBe("qwen2.5-7b-instruct");
    expect(catalog.resolve("Qwen/Qwen2.5-7B-Instruct")?.id).toBe("qwen2.5-7b-instruct");
    expect(catalog.resolve("DEEPSEEK-R1:7B")?.id).toBe("deepseek-r1-distill-qwen-7b");
    expect(catalog.resolve("gpt-4")).toBeUndefined();
  });

  it("refuses two models claiming one name", () => {
    const [first] = catalog.list();
    if (!first) throw new Error("empty catalog");
    expect(() => new ModelCatalog([first, { ...first, id: "other", aliases: [first.id] }])).toThrow(/claimed by both/);
  });
});

describe("catalog file", () => {
  const base = ModelCatalog.builtIn();

  it("overrides fields of a built-in model and adds a new one", () => {
    const extended = extendCatalog(
      base,
      JSON.stringify({
        models: [
          { id: "qwen2.5-7b-instruct", pricing: { inputPerMillion: "5", outputPerMillion: "7" } },
          {
            id: "phi-4",
            family: "llama",
            kind: "chat",
            ollamaTag: "phi4",
            vllmRepoId: "microsoft/phi-4",
            contextLength: 16384,
            minVramGiB: { fp16: 30, q8: 16, q4: 9 },
            pricing: { inputPerMillion: "70000", outputPerMillion: 140000 },
          },
        ],
      }),
    );
    expect(extended.resolve("qwen2.5-7b-instruct")?.pricing).toEqual({ inputPerMillion: 5n, outputPerMillion: 7n });
    expect(extended.resolve("qwen2.5-7b-instruct")?.contextLength).toBe(32768);
    expect(extended.resolve("microsoft/phi-4")?.pricing.outputPerMillion).toBe(140000n);
    expect(base.resolve("phi-4")).toBeUndefined();
  });

  it.each([
    ["not json", "{", /not valid JSON/],
    [
      "a float price",
      JSON.stringify({
        models: [{ id: "qwen2.5-7b-instruct", pricing: { inputPerMillion: 0.5, outputPerMillion: "1" } }],
      }),
      /pricing/,
    ],
    [
      "an unknown field",
      JSON.stringify({ models: [{ id: "qwen2.5-7b-instruct", colour: "red" }] }),
      /colour|Unrecognized/,
    ],
    ["an incomplete new model", JSON.stringify({ models: [{ id: "new-model", kind: "chat" }] }), /needs family/],
    [
      "a stolen alias",
      JSON.stringify({ models: [{ id: "mistral-7b-instruct", aliases: ["qwen2.5:7b"] }] }),
      /claimed by both/,
    ],
  ])("refuses %s with a clear message", (_name, contents, message) => {
    expect(() => extendCatalog(base, contents)).toThrow(CatalogFileError);
    expect(() => extendCatalog(base, contents)).toThrow(message);
  });
});
