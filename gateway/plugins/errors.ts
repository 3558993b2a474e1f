/**
 * The one place errors become responses: every failure, ours or Fastify's, leaves as OpenAI's
 * envelope with OpenAI's status code, plus `retry-after` where waiting helps.
 */
import type { FastifyError, FastifyInstance, FastifyPluginAsync, FastifyReply } from "fastify";
import fastifyPlugin from "fastify-plugin";
import { GatewayError, invalidRequest } from "../errors.ts";
import { validationError } from "../schemas/validation.ts";

export function toGatewayError(error: unknown, bodyLimitBytes: number): GatewayError {
  if (error instanceof GatewayError) return error;
  const fastifyError = error as Partial<FastifyError> & { validation?: Parameters<typeof validationError>[0] };
  if (fastifyError.validation) return validationError(fastifyError.validation);
  switch (fastifyError.code) {
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new GatewayError("GW_ERR_INVALID_REQUEST", "Invalid Content-Type header: expected application/json.", {
        openAiCode: "invalid_content_type",
      });
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return invalidRequest(
        "We could not parse the JSON body of your request: the body is empty.",
        null,
        "invalid_json",
      );
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return invalidRequest(
        `We could not parse the JSON body of your request: ${fastifyError.message ?? "invalid JSON"}.`,
        null,
        "invalid_json",
      );
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new GatewayError(
        "GW_ERR_REQUEST_TOO_LARGE",
        `The request body is larger than the limit of ${bodyLimitBytes} bytes.`,
      );
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return invalidRequest("The Content-Length header does not match the body.", null, "invalid_content_length");
  }
  if (error instanceof SyntaxError || fastifyError.statusCode === 400) {
    return invalidRequest(
      `We could not parse the JSON body of your request: ${fastifyError.message ?? "invalid JSON"}.`,
      null,
      "invalid_json",
    );
  }
  if (fastifyError.statusCode === 413)
    return new GatewayError("GW_ERR_REQUEST_TOO_LARGE", "The request body is too large.");
  if (fastifyError.statusCode !== undefined && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return invalidRequest(fastifyError.message ?? "Invalid request.");
  }
  return new GatewayError("GW_ERR_INTERNAL", "The gateway had an internal error; the request was not billed.", {
    cause: error,
  });
}

export function sendGatewayError(reply: FastifyReply, error: GatewayError): FastifyReply {
  if (error.retryAfterSeconds !== undefined) reply.header("retry-after", String(error.retryAfterSeconds));
  return reply.status(error.status).type("application/json; charset=utf-8").send(error.toBody());
}

/**
 * A plain HTTP request to a WebSocket-only route: 426 Upgrade Required in OpenAI's envelope
 * (the websocket plugin's default is an empty 404, which reads like a typo in the URL).
 */
export function sendUpgradeRequired(reply: FastifyReply, path: string): FastifyReply {
  const error = invalidRequest(
    `${path} speaks WebSocket only: open it with an Upgrade: websocket request.`,
    null,
    "upgrade_required",
  );
  return reply.status(426).header("upgrade", "websocket").type("application/json; charset=utf-8").send(error.toBody());
}

const errorsPlugin: FastifyPluginAsync<{ bodyLimitBytes: number }> = async (app: FastifyInstance, options) => {
  app.setErrorHandler((error, request, reply) => {
    const gatewayError = toGatewayError(error, options.bodyLimitBytes);
    if (gatewayError.status >= 500) request.log.error({ err: error }, gatewayError.message);
    else request.log.info({ code: gatewayError.code, param: gatewayError.param }, gatewayError.message);
    if (reply.sent || reply.raw.headersSent) return;
    return sendGatewayError(reply, gatewayError);
  });
  app.setNotFoundHandler((request, reply) =>
    sendGatewayError(
      reply,
      new GatewayError(
        "GW_ERR_NOT_FOUND",
        `Unknown request URL: ${request.method} ${request.url.split("?")[0]}. Please check the URL for typos.`,
        {
          openAiCode: "unknown_url",
        },
      ),
    ),
  );
};

export default fastifyPlugin(errorsPlugin, { name: "hypernode-errors" });
