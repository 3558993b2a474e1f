/**
 * Validates values against OpenAI's published OpenAPI schemas (trimmed copy in
 * test/fixtures/openai-schemas.json), so tests can prove the gateway's bodies are drop-in
 * compatible rather than merely similar to hand-written expectations.
 */

import { readFileSync } from "node:fs";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";

export type OpenAiSchemaName =
  | "CreateChatCompletionResponse"
  | "CreateChatCompletionStreamResponse"
  | "CreateCompletionResponse"
  | "CreateEmbeddingResponse"
  | "ListModelsResponse"
  | "Model"
  | "ErrorResponse"
  | "CreateChatCompletionRequest"
  | "CreateCompletionRequest"
  | "CreateEmbeddingRequest";

type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
type JsonObject = { [key: string]: JsonValue };

/** `$id` the components document is registered under; refs to `#/components/schemas/…` resolve inside it. */
const DOCUMENT_ID = "https://hypernode.local/openai-schemas.json";
const FIXTURE_URL = new URL("../fixtures/openai-schemas.json", import.meta.url);

const COMBINATOR_KEYWORDS = ["$ref", "allOf", "anyOf", "oneOf", "not", "if", "const"];

// Keywords whose value maps names to schemas: the map itself is not a schema, so a property
// that happens to be called "nullable" must survive as a property.
const SCHEMA_MAP_KEYWORDS = new Set([
  "properties",
  "patternProperties",
  "dependentSchemas",
  "$defs",
  "definitions",
  "schemas",
]);

function convertSchemaMap(map: JsonObject): JsonObject {
  const converted: JsonObject = {};
  for (const [name, schema] of Object.entries(map)) {
    converted[name] = convertNullable(schema);
  }
  return converted;
}

function isJsonObject(value: JsonValue): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * OpenAPI's `nullable: true` is not JSON Schema: rewrite it as "or null". A plain typed schema
 * gets `null` added to its `type` (and to its `enum`, or `finish_reason: null` would fail); a
 * schema built from refs or combinators is wrapped as `anyOf: [schema, {type: "null"}]`, since
 * adding a type beside them would not make null pass them.
 */
export function convertNullable(value: JsonValue): JsonValue {
  if (Array.isArray(value)) {
    return value.map(convertNullable);
  }
  if (!isJsonObject(value)) {
    return value;
  }
  const converted: JsonObject = {};
  for (const [key, child] of Object.entries(value)) {
    if (key === "nullable") continue;
    converted[key] =
      SCHEMA_MAP_KEYWORDS.has(key) && isJsonObject(child) ? convertSchemaMap(child) : convertNullable(child);
  }
  if (value.nullable !== true) {
    return converted;
  }
  const type = converted.type;
  const hasCombinator = COMBINATOR_KEYWORDS.some((keyword) => keyword in converted);
  if (type === undefined || hasCombinator) {
    return { anyOf: [converted, { type: "null" }] };
  }
  const types = Array.isArray(type) ? type : [type];
  converted.type = types.includes("null") ? types : [...types, "null"];
  const allowed = converted.enum;
  if (Array.isArray(allowed) && !allowed.includes(null)) {
    converted.enum = [...allowed, null];
  }
  return converted;
}

let ajv: Ajv2020 | undefined;
const validators = new Map<OpenAiSchemaName, ValidateFunction>();

function loadAjv(): Ajv2020 {
  if (ajv === undefined) {
    const document = JSON.parse(readFileSync(FIXTURE_URL, "utf8")) as JsonObject;
    const components = document.components;
    if (components === undefined || !isJsonObject(components)) {
      throw new Error(`${FIXTURE_URL.pathname} has no components object`);
    }
    // strict: false tolerates OpenAI's extension keywords (discriminator, x-oai-*, example);
    // formats such as int64 and unixtime are annotations there, not checks.
    ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
    ajv.addSchema({ $id: DOCUMENT_ID, components: convertNullable(components) });
  }
  return ajv;
}

function validatorFor(schemaName: OpenAiSchemaName): ValidateFunction {
  let validate = validators.get(schemaName);
  if (validate === undefined) {
    validate = loadAjv().compile({ $ref: `${DOCUMENT_ID}#/components/schemas/${schemaName}` });
    validators.set(schemaName, validate);
  }
  return validate;
}

function describeError(error: ErrorObject): string {
  const where = error.instancePath === "" ? "(root)" : error.instancePath;
  const details = error.keyword === "enum" ? ` ${JSON.stringify(error.params.allowedValues)}` : "";
  return `${where} ${error.message ?? error.keyword}${details}`;
}

/** Messages for every way `value` breaks the named schema; an empty array means it is valid. */
export function validateOpenAi(schemaName: OpenAiSchemaName, value: unknown): string[] {
  const validate = validatorFor(schemaName);
  if (validate(value)) {
    return [];
  }
  return (validate.errors ?? []).map(describeError);
}

/** Throws, listing every message, unless `value` matches the named schema. */
export function expectOpenAiShape(schemaName: OpenAiSchemaName, value: unknown): void {
  const messages = validateOpenAi(schemaName, value);
  if (messages.length > 0) {
    throw new Error(`value does not match OpenAI ${schemaName}:\n${messages.join("\n")}`);
  }
}
