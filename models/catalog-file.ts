/**
 * A user's catalog file (JSON) extends or overrides the built-in models: an entry whose `id`
 * matches a built-in one replaces the fields it names; a new id adds a model. Validated at
 * boot; prices are integer strings of base units so no float ever touches money.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { ModelCatalog, type ModelTemplate } from "./catalog.ts";

const baseUnits = z
  .union([
    z.string().regex(/^\d+$/, "must be a non-negative integer string of base units"),
    z.number().int().nonnegative(),
  ])
  .transform((value) => BigInt(value));

const vram = z.object({ fp16: z.number().positive(), q8: z.number().positive(), q4: z.number().positive() });

const entrySchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9._:-]{0,127}$/, "lowercase letters, digits, . _ : - only"),
  aliases: z.array(z.string().min(1)).optional(),
  family: z.enum(["qwen", "deepseek", "llama", "mistral", "embedding"]).optional(),
  kind: z.enum(["chat", "embedding"]).optional(),
  ollamaTag: z.string().min(1).optional(),
  vllmRepoId: z.string().min(1).optional(),
  contextLength: z.number().int().positive().optional(),
  tokenizerEncoding: z.enum(["cl100k_base", "o200k_base"]).optional(),
  tokenCountTolerance: z.number().min(0).max(1).optional(),
  minVramGiB: vram.optional(),
  pricing: z.strictObject({ inputPerMillion: baseUnits, outputPerMillion: baseUnits }).optional(),
  defaultMaxTokens: z.number().int().nonnegative().optional(),
  ownedBy: z.string().min(1).optional(),
});

const fileSchema = z.strictObject({ models: z.array(entrySchema) });

const REQUIRED_FOR_NEW: readonly (keyof ModelTemplate)[] = [
  "family",
  "kind",
  "ollamaTag",
  "vllmRepoId",
  "contextLength",
  "minVramGiB",
  "pricing",
];

export class CatalogFileError extends Error {
  override name = "CatalogFileError";
}

/** Parses catalog file contents on top of `base`; throws CatalogFileError naming the problem. */
export function extendCatalog(base: ModelCatalog, contents: string, source = "catalog file"): ModelCatalog {
  let json: unknown;
  try {
    json = JSON.parse(contents);
  } catch (error) {
    throw new CatalogFileError(`${source} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CatalogFileError(`${source}: ${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`);
  }
  const models = new Map(base.list().map((model) => [model.id, model]));
  for (const entry of parsed.data.models) {
    const existing = models.get(entry.id);
    const defined = Object.fromEntries(
      Object.entries(entry).filter(([, value]) => value !== undefined),
    ) as Partial<ModelTemplate>;
    if (existing) {
      models.set(entry.id, { ...existing, ...defined });
      continue;
    }
    const missing = REQUIRED_FOR_NEW.filter((field) => defined[field] === undefined);
    if (missing.length > 0) throw new CatalogFileError(`${source}: new model ${entry.id} needs ${missing.join(", ")}`);
    models.set(entry.id, {
      aliases: [],
      tokenizerEncoding: "cl100k_base",
      tokenCountTolerance: 0.25,
      defaultMaxTokens: 1024,
      ownedBy: "custom",
      ...defined,
    } as ModelTemplate);
  }
  try {
    return new ModelCatalog([...models.values()]);
  } catch (error) {
    throw new CatalogFileError(`${source}: ${(error as Error).message}`);
  }
}

/** The built-in catalog, extended by the file at `path` when one is given. */
export function loadCatalog(path: string | undefined): ModelCatalog {
  const builtIn = ModelCatalog.builtIn();
  if (!path) return builtIn;
  let contents: string;
  try {
    contents = readFileSync(path, "utf8");
  } catch (error) {
    throw new CatalogFileError(`cannot read the catalog file ${path}: ${(error as Error).message}`);
  }
  return extendCatalog(builtIn, contents, path);
}
