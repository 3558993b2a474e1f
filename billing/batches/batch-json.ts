/**
 * A signed batch on the wire (the oracle's `POST /api/oracle/verify` body): bigint money as
 * decimal strings, everything validated on the way in so a malformed request is a clear 400,
 * never a crash deep in a check.
 */
import { z } from "zod";
import type { UsageRecord } from "../store/types.ts";
import type { SignedBatch } from "./batch.ts";

const baseUnits = z
  .string()
  .regex(/^\d{1,30}$/, "must be a decimal string of base units")
  .transform((value) => BigInt(value));
const count = z.number().int().nonnegative();
const optionalString = z
  .string()
  .optional()
  .nullable()
  .transform((value) => value ?? undefined);
const optionalCount = count
  .optional()
  .nullable()
  .transform((value) => value ?? undefined);

const recordSchema = z.object({
  jobId: z.string().min(1).max(200),
  nodeId: optionalString,
  intentId: optionalString,
  accountId: z.string(),
  apiKeyId: z.string(),
  modelType: z.string().min(1),
  tokenUsage: z.object({ promptTokens: count, completionTokens: count, totalTokens: count }),
  localUsage: z.object({ promptTokens: count, completionTokens: count }),
  engineUsage: z
    .object({ promptTokens: optionalCount, completionTokens: optionalCount })
    .optional()
    .nullable()
    .transform((value) => value ?? undefined),
  executionDuration: z.number().nonnegative(),
  executionHash: optionalString,
  logsHash: optionalString,
  timestamp: z.number().int().nonnegative(),
  success: z.boolean(),
  errorMessage: optionalString,
  receiptJson: optionalString,
  inputPricePerMillion: baseUnits,
  outputPricePerMillion: baseUnits,
  charge: baseUnits,
  chargeState: z.enum(["authorized", "escrowed", "verified", "settled"]),
  epoch: optionalCount,
});

const batchSchema = z.object({
  epoch: count,
  root: z.string().regex(/^[0-9a-f]{64}$/),
  records: z.array(recordSchema).min(1).max(200_000),
  createdAt: count,
  gatewaySignature: z.string().min(1).max(100),
  gatewayPublicKey: z.string().min(32).max(44),
});

export type BatchJson = z.input<typeof batchSchema>;

export function encodeBatchJson(batch: SignedBatch): BatchJson {
  return {
    ...batch,
    records: batch.records.map((record) => ({
      ...record,
      inputPricePerMillion: record.inputPricePerMillion.toString(),
      outputPricePerMillion: record.outputPricePerMillion.toString(),
      charge: record.charge.toString(),
    })),
  };
}

export type DecodedBatch = { ok: true; batch: SignedBatch } | { ok: false; error: string; path: string };

export function decodeBatchJson(input: unknown): DecodedBatch {
  const parsed = batchSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, error: issue?.message ?? "invalid batch", path: issue?.path.join(".") ?? "" };
  }
  return { ok: true, batch: { ...parsed.data, records: parsed.data.records as UsageRecord[] } };
}
