/**
 * Every error the gateway shows a client, with a stable code and OpenAI's status, type and
 * code, so SDK retry logic works unchanged. One error handler renders them all.
 */

export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

interface GatewayErrorSpec {
  status: number;
  type: string;
  openAiCode: string | null;
  retryable: boolean;
}

const SPECS = {
  GW_ERR_INVALID_REQUEST: { status: 400, type: "invalid_request_error", openAiCode: null, retryable: false },
  GW_ERR_AUTHENTICATION: {
    status: 401,
    type: "invalid_request_error",
    openAiCode: "invalid_api_key",
    retryable: false,
  },
  GW_ERR_FORBIDDEN: { status: 403, type: "invalid_request_error", openAiCode: "forbidden", retryable: false },
  GW_ERR_INSUFFICIENT_FUNDS: {
    status: 402,
    type: "insufficient_quota",
    openAiCode: "insufficient_funds",
    retryable: false,
  },
  GW_ERR_MODEL_NOT_FOUND: {
    status: 404,
    type: "invalid_request_error",
    openAiCode: "model_not_found",
    retryable: false,
  },
  GW_ERR_NOT_FOUND: { status: 404, type: "invalid_request_error", openAiCode: "not_found", retryable: false },
  GW_ERR_CONFLICT: { status: 409, type: "invalid_request_error", openAiCode: "conflict", retryable: false },
  GW_ERR_REQUEST_TOO_LARGE: {
    status: 413,
    type: "invalid_request_error",
    openAiCode: "request_too_large",
    retryable: false,
  },
  GW_ERR_RATE_LIMITED: { status: 429, type: "requests", openAiCode: "rate_limit_exceeded", retryable: true },
  GW_ERR_INTERNAL: { status: 500, type: "server_error", openAiCode: "internal_error", retryable: true },
  GW_ERR_RUNNER_FAILED: { status: 502, type: "server_error", openAiCode: "runner_failed", retryable: true },
  GW_ERR_NO_CAPACITY: { status: 503, type: "server_error", openAiCode: "no_capacity", retryable: true },
  GW_ERR_UNAVAILABLE: { status: 503, type: "server_error", openAiCode: "service_unavailable", retryable: true },
  GW_ERR_TIMEOUT: { status: 504, type: "server_error", openAiCode: "timeout", retryable: true },
} as const satisfies Record<string, GatewayErrorSpec>;

export type GatewayErrorCode = keyof typeof SPECS;

export interface GatewayErrorOptions {
  param?: string | null;
  /** Overrides the OpenAI `code` field (e.g. `missing_required_parameter`). */
  openAiCode?: string | null;
  /** Seconds, sent as `retry-after`. */
  retryAfterSeconds?: number;
  cause?: unknown;
}

export class GatewayError extends Error {
  readonly status: number;
  readonly type: string;
  readonly openAiCode: string | null;
  readonly param: string | null;
  readonly retryable: boolean;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    readonly code: GatewayErrorCode,
    message: string,
    options: GatewayErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "GatewayError";
    const spec: GatewayErrorSpec = SPECS[code];
    this.status = spec.status;
    this.type = spec.type;
    this.openAiCode = options.openAiCode === undefined ? spec.openAiCode : options.openAiCode;
    this.param = options.param ?? null;
    this.retryable = spec.retryable;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  toBody(): OpenAiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.openAiCode } };
  }
}

export function invalidRequest(
  message: string,
  param: string | null = null,
  openAiCode: string | null = null,
): GatewayError {
  return new GatewayError("GW_ERR_INVALID_REQUEST", message, { param, openAiCode });
}

export function modelNotFound(model: string): GatewayError {
  return new GatewayError(
    "GW_ERR_MODEL_NOT_FOUND",
    `The model \`${model}\` does not exist or you do not have access to it.`,
    {
      param: "model",
    },
  );
}
