/**
 * Parsing of gateway → runner frames. The gateway is trusted but may be newer than this
 * runner, so unknown fields are tolerated; anything malformed comes back as a reason string for
 * the caller to log, never as a throw.
 */
import { z } from "zod";
import type { GatewayToRunnerMessage } from "../protocol.ts";

const nonEmptyString = z.string().min(1);
const chunkCount = z.number().int().nonnegative();

const challengeSchema = z.looseObject({
  type: z.literal("challenge"),
  nonce: nonEmptyString,
  gatewayId: nonEmptyString,
  expiresAt: z.number(),
});

const welcomeSchema = z.looseObject({
  type: z.literal("welcome"),
  runnerId: nonEmptyString,
  heartbeatIntervalMs: z.number().int().positive(),
});

const refusedSchema = z.looseObject({
  type: z.literal("refused"),
  code: z.string(),
  message: z.string(),
});

const jobSchema = z.looseObject({
  type: z.literal("job"),
  jobId: nonEmptyString,
  operation: z.enum(["chat", "completion", "embedding"]),
  model: nonEmptyString,
  engineModel: nonEmptyString,
  stream: z.boolean(),
  body: z.record(z.string(), z.unknown()),
  credit: chunkCount,
});

const creditSchema = z.looseObject({
  type: z.literal("credit"),
  jobId: nonEmptyString,
  chunks: chunkCount,
});

const cancelSchema = z.looseObject({
  type: z.literal("cancel"),
  jobId: nonEmptyString,
  reason: z.string(),
});

const gatewayMessageSchema = z.discriminatedUnion("type", [
  challengeSchema,
  welcomeSchema,
  refusedSchema,
  jobSchema,
  creditSchema,
  cancelSchema,
]);

export type ParsedFrame = { ok: true; message: GatewayToRunnerMessage } | { ok: false; reason: string };

export function parseGatewayFrame(data: string): ParsedFrame {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  const result = gatewayMessageSchema.safeParse(json);
  if (!result.success) {
    const type = typeof json === "object" && json !== null && "type" in json ? String(json.type) : "(none)";
    return {
      ok: false,
      reason: `invalid frame of type ${type}: ${result.error.issues[0]?.message ?? "unknown issue"}`,
    };
  }
  return { ok: true, message: result.data };
}
