/**
 * One Ajv instance validates every request body — HTTP routes (as Fastify's validator
 * compiler) and WebSocket requests alike — and one function turns its errors into OpenAI's
 * wording, so both transports answer bad input identically.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { type GatewayError, invalidRequest } from "../errors.ts";
import { chatCompletionRequestSchema, completionRequestSchema, embeddingRequestSchema } from "./requests.ts";

// No coercion and no stripping: "12" is not a number and unknown fields reach the engine as sent.
export const requestAjv = new Ajv({
  allErrors: false,
  coerceTypes: false,
  removeAdditional: false,
  useDefaults: false,
  strict: false,
});

const compiled = new Map<object, ValidateFunction>();

export function compileSchema(schema: object): ValidateFunction {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = requestAjv.compile(schema);
    compiled.set(schema, validate);
  }
  return validate;
}

export const requestSchemaByPath = {
  "/v1/chat/completions": chatCompletionRequestSchema,
  "/v1/completions": completionRequestSchema,
  "/v1/embeddings": embeddingRequestSchema,
} as const;

export type GenerationPath = keyof typeof requestSchemaByPath;

/** Throws the OpenAI-style 400 for a body that does not match the path's schema. */
export function assertValidBody(path: GenerationPath, body: unknown): asserts body is Record<string, unknown> {
  const validate = compileSchema(requestSchemaByPath[path]);
  if (!validate(body)) throw validationError(validate.errors ?? []);
}

/** `/messages/0/role` → `messages[0].role`, OpenAI's way of naming a parameter. */
export function parameterName(instancePath: string, child?: string): string {
  const segments = instancePath.split("/").filter(Boolean);
  if (child !== undefined) segments.push(child);
  return segments.reduce(
    (name, segment) => (/^\d+$/.test(segment) ? `${name}[${segment}]` : name ? `${name}.${segment}` : segment),
    "",
  );
}

export function validationError(errors: readonly ErrorObject[]): GatewayError {
  const error = mostSpecificError(errors);
  if (!error) return invalidRequest("The request body is invalid.");
  const param = parameterName(error.instancePath);
  const where = param || "body";
  switch (error.keyword) {
    case "required": {
      const missing = parameterName(error.instancePath, String(error.params.missingProperty));
      return invalidRequest(`Missing required parameter: '${missing}'.`, missing, "missing_required_parameter");
    }
    case "type":
      if (!param) return invalidRequest("The request body must be a JSON object.", null, "invalid_type");
      return invalidRequest(
        `Invalid type for '${where}': expected ${describeType(String(error.params.type))}.`,
        param,
        "invalid_type",
      );
    case "enum":
      return invalidRequest(
        `Invalid value for '${where}': expected one of ${(error.params.allowedValues as unknown[]).map((value) => `'${String(value)}'`).join(", ")}.`,
        param,
        "invalid_value",
      );
    case "const":
      return invalidRequest(
        `Invalid value for '${where}': expected '${String(error.params.allowedValue)}'.`,
        param,
        "invalid_value",
      );
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum":
      return invalidRequest(`Invalid '${where}': ${error.message ?? "out of range"}.`, param, "invalid_value");
    case "minItems":
      return invalidRequest(
        `Invalid '${where}': empty array. Expected an array with minimum length ${String(error.params.limit)}.`,
        param,
        "empty_array",
      );
    case "maxItems":
      return invalidRequest(
        `Invalid '${where}': array too long. Expected an array with maximum length ${String(error.params.limit)}.`,
        param,
        "array_above_max_length",
      );
    case "minLength":
    case "maxLength":
    case "pattern":
      return invalidRequest(`Invalid '${where}': ${error.message ?? "invalid string"}.`, param, "invalid_value");
    default:
      return invalidRequest(`Invalid '${where}': ${error.message ?? "invalid value"}.`, param || null, "invalid_value");
  }
}

/**
 * anyOf reports every branch it tried. The branch that got deepest into the value, and past
 * the type check, names the real problem: `input: []` is an empty array, not "not a string";
 * `stop` with 20 items is too long. Ties keep the first (the schema's preferred branch).
 */
function mostSpecificError(errors: readonly ErrorObject[]): ErrorObject | undefined {
  const specificity = (error: ErrorObject) =>
    error.instancePath.split("/").length * 2 + (error.keyword === "type" ? 0 : 1);
  let best: ErrorObject | undefined;
  for (const candidate of errors) {
    if (candidate.keyword === "anyOf") continue;
    if (!best || specificity(candidate) > specificity(best)) best = candidate;
  }
  return best ?? errors[0];
}

function describeType(type: string): string {
  const names: Record<string, string> = {
    integer: "an integer",
    number: "a number",
    string: "a string",
    boolean: "a boolean",
    array: "an array",
    object: "an object",
    null: "null",
  };
  return type
    .split(",")
    .map((part) => names[part] ?? part)
    .join(" or ");
}
