/**
 * Small JSON values for structured output (response_format, Ollama `format`) and tool-call
 * arguments. Given a JSON schema it follows the common keywords (type, properties, required,
 * items, enum, const, anyOf/oneOf) so typical schemas are satisfied; anything else gets a plain
 * object. It never claims full JSON Schema support.
 */
import type { SeededRandom } from "./random.ts";
import { samplePhrase, sampleWord } from "./vocabulary.ts";

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

const MAXIMUM_DEPTH = 4;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A value shaped by `schema` when it is one, else a small object of words. */
export function sampleJsonValue(schema: unknown, random: SeededRandom, depth = 0): JsonValue {
  if (!isRecord(schema) || depth > MAXIMUM_DEPTH) return sampleFreeObject(random);
  if ("const" in schema) return toJsonValue(schema.const);
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return toJsonValue(random.pick(schema.enum));
  const alternatives = Array.isArray(schema.anyOf)
    ? schema.anyOf
    : Array.isArray(schema.oneOf)
      ? schema.oneOf
      : undefined;
  if (alternatives !== undefined && alternatives.length > 0) return sampleJsonValue(alternatives[0], random, depth + 1);
  const type = Array.isArray(schema.type) ? schema.type.find((entry) => entry !== "null") : schema.type;
  switch (type) {
    case "string":
      return samplePhrase(random, 1, 3);
    case "integer":
      return random.integer(
        typeof schema.minimum === "number" ? Math.ceil(schema.minimum) : 0,
        typeof schema.maximum === "number" ? Math.floor(schema.maximum) : 100,
      );
    case "number":
      return Math.round(random.next() * 10_000) / 100;
    case "boolean":
      return random.next() < 0.5;
    case "null":
      return null;
    case "array":
      return sampleArray(schema, random, depth);
    default:
      return isRecord(schema.properties)
        ? sampleObject(schema.properties, schema.required, random, depth)
        : sampleFreeObject(random);
  }
}

function sampleArray(schema: Record<string, unknown>, random: SeededRandom, depth: number): JsonValue[] {
  const minimum = typeof schema.minItems === "number" ? schema.minItems : 1;
  const maximum = typeof schema.maxItems === "number" ? schema.maxItems : Math.max(minimum, 3);
  const count = random.integer(Math.min(minimum, 8), Math.min(maximum, 8));
  const items: JsonValue[] = [];
  for (let index = 0; index < count; index++) items.push(sampleJsonValue(schema.items, random, depth + 1));
  return items;
}

function sampleObject(
  properties: Record<string, unknown>,
  required: unknown,
  random: SeededRandom,
  depth: number,
): { [key: string]: JsonValue } {
  const requiredNames = Array.isArray(required)
    ? required.filter((name): name is string => typeof name === "string")
    : [];
  const result: { [key: string]: JsonValue } = {};
  for (const [name, propertySchema] of Object.entries(properties)) {
    // Required properties always; optional ones usually, as a model would.
    if (requiredNames.includes(name) || random.next() < 0.8)
      result[name] = sampleJsonValue(propertySchema, random, depth + 1);
  }
  return result;
}

function sampleFreeObject(random: SeededRandom): { [key: string]: JsonValue } {
  const result: { [key: string]: JsonValue } = {};
  const count = random.integer(2, 4);
  for (let index = 0; index < count; index++) result[sampleWord(random)] = samplePhrase(random, 1, 4);
  return result;
}

function toJsonValue(value: unknown): JsonValue {
  return value === undefined ? null : (JSON.parse(JSON.stringify(value)) as JsonValue);
}
