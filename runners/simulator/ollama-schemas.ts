/** Request bodies of Ollama's native API (`/api/*`). Unknown fields pass, as Ollama ignores them. */
import { z } from "zod";

const modelOptions = z.looseObject({
  num_predict: z.number().int().nullish(),
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  top_k: z.number().nullish(),
  seed: z.number().int().nullish(),
  stop: z.union([z.string(), z.array(z.string())]).nullish(),
  num_ctx: z.number().int().positive().nullish(),
});

/** `"json"`, or a JSON schema object. */
const format = z.union([z.literal("json"), z.literal(""), z.record(z.string(), z.unknown())]).nullish();
const keepAlive = z.union([z.string(), z.number()]).nullish();

const toolCall = z.looseObject({
  function: z.looseObject({ name: z.string(), arguments: z.record(z.string(), z.unknown()).nullish() }),
});

export const ollamaMessageSchema = z.looseObject({
  role: z.string(),
  content: z.string().nullish(),
  images: z.array(z.string()).nullish(),
  tool_calls: z.array(toolCall).nullish(),
  tool_name: z.string().nullish(),
});

const tool = z.looseObject({
  type: z.string().nullish(),
  function: z.looseObject({
    name: z.string().min(1),
    description: z.string().nullish(),
    parameters: z.unknown().optional(),
  }),
});

export const ollamaChatSchema = z.looseObject({
  model: z.string(),
  messages: z.array(ollamaMessageSchema).nullish(),
  stream: z.boolean().nullish(),
  format,
  options: modelOptions.nullish(),
  tools: z.array(tool).nullish(),
  keep_alive: keepAlive,
});

export const ollamaGenerateSchema = z.looseObject({
  model: z.string(),
  prompt: z.string().nullish(),
  system: z.string().nullish(),
  raw: z.boolean().nullish(),
  stream: z.boolean().nullish(),
  format,
  options: modelOptions.nullish(),
  keep_alive: keepAlive,
});

export const ollamaEmbedSchema = z.looseObject({
  model: z.string(),
  input: z.union([z.string(), z.array(z.string())]),
  truncate: z.boolean().nullish(),
  dimensions: z.number().int().positive().nullish(),
  keep_alive: keepAlive,
});

/** The legacy single-text endpoint `/api/embeddings`. */
export const ollamaLegacyEmbeddingSchema = z.looseObject({
  model: z.string(),
  prompt: z.string().nullish(),
  keep_alive: keepAlive,
});

/** Pull, show and delete name the model as `model` (current) or `name` (older clients). */
export const ollamaModelNameSchema = z.looseObject({
  model: z.string().nullish(),
  name: z.string().nullish(),
  stream: z.boolean().nullish(),
});

export type OllamaChatRequest = z.infer<typeof ollamaChatSchema>;
export type OllamaGenerateRequest = z.infer<typeof ollamaGenerateSchema>;
export type OllamaMessage = z.infer<typeof ollamaMessageSchema>;
export type OllamaModelOptions = z.infer<typeof modelOptions>;

/** Ollama answers shape errors in one short line. */
export function describeOllamaIssues(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return "invalid request";
  if (issue.path[0] === "model" && issue.code === "invalid_type") return "model is required";
  return `invalid request: ${issue.path.join(".") || "body"}: ${issue.message}`;
}
